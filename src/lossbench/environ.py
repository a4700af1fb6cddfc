"""Changing environment variables for the length of a block: the way a command hands settings to
the child processes it starts (DDP ranks, sweep workers) without leaking them into the next job."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator


@contextlib.contextmanager
def environ_restored(keys: Iterable[str], **updates: str) -> Iterator[None]:
    """Set `updates`; on leaving, put `keys` (and the updated ones) back as they were, absent ones
    removed, whatever the block did to them."""
    saved = {k: os.environ.get(k) for k in {*keys, *updates}}
    os.environ.update(updates)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
