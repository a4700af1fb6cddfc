"""Dataset files on disk: find them, verify their checksums, download what is missing.

A checksum mismatch is a warning naming the file, not an error: legitimate re-encoded or
re-compressed copies exist (e.g. a JPEG-re-encoded CIFAR-10); the dataset's results.json note says
so. Missing files are downloaded with torchvision's downloader; when that fails (no network), the
job stops with one paragraph naming the dataset, the files, data.root and the download URL.
"""
from __future__ import annotations

import gzip
import hashlib
import warnings
from collections.abc import Sequence
from pathlib import Path


class ChecksumWarning(UserWarning):
    """A dataset file's MD5 differs from the official one."""


def resolve_root(root: str | None) -> Path:
    return Path(root if root else "./data").expanduser()


def md5_of(path: Path, decompress: bool = False) -> str:
    digest = hashlib.md5()
    opener = gzip.open if decompress else open
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(dataset: str, files: Sequence[tuple[Path, str, bool]]) -> list[str]:
    """files: (path, official md5, decompress first). Warns once per dataset, naming each file that
    differs; returns their names."""
    bad = [path.name for path, expected, decompress in files if md5_of(path, decompress) != expected]
    if bad:
        warnings.warn(f"{dataset}: the MD5 checksum of {', '.join(bad)} differs from the official file "
                      f"({Path(files[0][0]).parent}); a re-encoded or modified copy? Using it anyway; "
                      f"results.json records it in dataset.note.", ChecksumWarning, stacklevel=2)
    return bad


def checksum_note(dataset: str, bad: Sequence[str]) -> str | None:
    if not bad:
        return None
    return (f"{dataset}: checksums differ from the official files ({', '.join(bad)}): not the official "
            f"pixels (e.g. a re-encoded copy); numbers may not compare with published ones")


def dataset_unavailable(dataset: str, expected: Sequence[str], root: Path, url: str, reason: str) -> Exception:
    """The one-paragraph error for missing files (a UsageError: the CLI prints it without a traceback)."""
    from lossbench.errors import UsageError

    return UsageError(
        f"dataset {dataset!r} is not on disk and could not be downloaded ({reason}). Expected "
        f"{', '.join(expected)} under data.root={str(root)!r} (absolute: {root.resolve()}). Download {url} "
        f"and unpack it there, or point data.root (or the LOSSBENCH_DATA environment variable) at a folder "
        f"that holds the files.")


def corrupt_file(path: Path, reason: str) -> Exception:
    """The one-paragraph error for a dataset file that exists but cannot be read."""
    from lossbench.errors import UsageError

    reason = reason if len(reason) <= 160 else reason[:160] + "..."
    return UsageError(f"the dataset file {path} cannot be read ({reason}): the copy is corrupt or truncated. "
                      f"Delete it and download the dataset again (or copy it from a good source).")


def download(dataset: str, url: str, root: Path, filename: str, md5: str | None, expected: Sequence[str],
             extract: bool = True) -> None:
    """torchvision's downloader (verifies md5); any failure becomes `dataset_unavailable`."""
    import socket

    from torchvision.datasets.utils import download_and_extract_archive, download_url

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        if extract:
            download_and_extract_archive(url, download_root=str(root), filename=filename, md5=md5)
        else:
            download_url(url, root=str(root), filename=filename, md5=md5)
    except Exception as err:  # noqa: BLE001 -- no network, HTTP error, bad archive: all the same to the user
        raise dataset_unavailable(dataset, expected, root, url, f"download failed: {type(err).__name__}: {err}") \
            from None
    finally:
        socket.setdefaulttimeout(previous)
