"""Read a W&B offline run file (run-*.wandb) back, for tests: the records the run wrote.

The file is a 7-byte header (":W&B", magic 0xBEE1, version 0) followed by LevelDB's log format:
32 KiB blocks of chunks, each with a 7-byte header (crc32, length, type: 1 full, 2 first,
3 middle, 4 last); a record is one full chunk or first + middles + last. Each record is a
serialised `wandb_internal_pb2.Record`. (wandb 0.17+ has no reader of its own in Python.)
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32768
FILE_HEADER, CHUNK_HEADER = 7, 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    out, pending, pos = [], b"", FILE_HEADER
    while pos + CHUNK_HEADER <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < CHUNK_HEADER:  # the rest of a block too short for a header is padding
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + CHUNK_HEADER])
        chunk = data[pos + CHUNK_HEADER:pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind == 0 and length == 0:  # zero padding at the end of the file
            break
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
    return out


def history(path: Path) -> list[dict]:
    """The logged rows (one per `log` call): {key: value}."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                         for item in record.history.item})
    return rows


def run_info(path: Path, timeout_s: float = 60.0):
    """The run record: project, group, run_id, config ... wandb's service process writes the file.
    Once in 8 full test runs (2026-12-06) no run record was found right after wandb.finish()
    returned, not reproduced in reruns; a late write by that process is the likeliest cause, so
    this reads until the record is there (up to timeout_s) rather than once."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        found = records(path)
        run = next((r.run for r in found if r.WhichOneof("record_type") == "run"), None)
        if run is not None:
            return run
        if time.monotonic() > deadline:
            kinds = sorted({r.WhichOneof("record_type") for r in found})
            raise AssertionError(f"{path} holds no run record after {timeout_s:.0f} s (records: {kinds})")
        time.sleep(0.2)
