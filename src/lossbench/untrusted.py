"""Reading files that came from elsewhere as data, never as code.

A pickle can name any importable callable and have the reader call it: a CIFAR batch from an
untrusted mirror, or a `last.ckpt` planted in a run directory on a shared filesystem, would run
arbitrary code under a plain `pickle.load` or `torch.load(weights_only=False)`. So:

  - dataset pickles (the CIFAR batches) go through `load_data_pickle`, an unpickler that admits
    only what the official files hold: numpy arrays, lists, dicts, strings, bytes and numbers;
  - checkpoints go through `load_checkpoint` (and Lightning through `checkpoint_globals` +
    `weights_only=True`): torch's weights-only unpickler, which admits tensors and plain values.
Either refuses anything else with a one-paragraph UsageError naming the file, before any of it runs.
Configs are different: a `_target_` names code by design, and configs are the user's own.
"""
from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterator
from pathlib import Path

from lossbench.errors import UsageError

# The globals an official CIFAR batch (a Python 2 pickle of numpy arrays) or a copy written by
# numpy 1.x/2.x and Python 3 needs: array reconstruction (protocols 0-4, and 5's _frombuffer), and
# bytes written under protocol 2.
DATA_PICKLE_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class UnsafeFile(pickle.UnpicklingError):
    """A pickle that asks for a global outside the admitted set."""


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in DATA_PICKLE_GLOBALS or (module == "numpy.dtypes" and name.endswith("DType")):
            return super().find_class(module, name)
        raise UnsafeFile(f"{module}.{name}")


def refused(path: Path | str, what: str, wanted: str, remedy: str) -> UsageError:
    """The one-paragraph error for a file that would run code if it were read the usual way."""
    return UsageError(f"{path} was not read: it is a pickle that asks to import {wanted}, which a {what} never "
                      f"needs, so reading it would run code. lossbench reads {what}s as data only. {remedy}")


def load_data_pickle(path: Path | str, *, encoding: str = "latin1"):
    """Unpickle a dataset file that holds only arrays, containers, strings and numbers; anything
    else raises UsageError (nothing in the file is called)."""
    with open(path, "rb") as f:
        try:
            return _DataUnpickler(f, encoding=encoding).load()
        except UnsafeFile as err:
            raise refused(path, "dataset file", str(err),
                          "Replace it with the official file (or the copy ../shared/tools/cifar10_batches.py "
                          "writes); do not use copies from sources you do not trust.") from None


def _legacy_checkpoint_globals() -> list:
    """numpy's array reconstruction: checkpoints written before RandomState kept numpy's generator as
    a tensor hold one numpy array. Reconstruction admits only the globals listed here."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    return [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


@contextlib.contextmanager
def checkpoint_globals() -> Iterator[None]:
    """While Lightning loads a checkpoint with weights_only=True: the few non-tensor globals
    lossbench's own checkpoints may hold."""
    import torch

    with torch.serialization.safe_globals(_legacy_checkpoint_globals()):
        yield


def load_checkpoint(path: Path | str) -> dict:
    """torch.load with weights_only=True; a checkpoint that needs anything more raises UsageError."""
    import torch

    try:
        with checkpoint_globals():
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        wanted = _unsafe_global(str(err))
        raise refused(path, "checkpoint", wanted,
                      "If it is not from a lossbench run, remove it; `resume=never` starts the job over and "
                      "deletes the run directory's checkpoints.") from None


def _unsafe_global(message: str) -> str:
    """The global torch's weights-only unpickler refused, from its message ("... Unsupported global:
    GLOBAL builtins.open was not an allowed global by default ...")."""
    import re

    found = re.search(r"GLOBAL ([\w.]+)", message)
    return found.group(1) if found else "an object that is neither a tensor nor a plain value"
