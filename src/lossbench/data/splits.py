"""Seeded, stratified splits: the validation set used for model selection is carved from the
training set, so the test set is never looked at before the final evaluation."""
from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, held_out): about `fraction` of each class is held out, rounding to
    the nearest image, but every class keeps at least one image on the kept side."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"split fraction {fraction!r} is out of range: it must be in [0, 1).")
    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    kept, held = [], []
    for cls in np.unique(labels):
        idx = np.where(labels == cls)[0]
        rng.shuffle(idx)
        n_held = min(int(np.floor(fraction * len(idx) + 0.5)), len(idx) - 1)
        held.append(idx[:n_held])
        kept.append(idx[n_held:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def balanced_heldout(labels: np.ndarray, used: np.ndarray, per_class: int, num_classes: int,
                     seed: int) -> np.ndarray:
    """Indices of a class-balanced held-out set drawn from the images NOT in `used`: per class (0, 1,
    ...), one RandomState(seed) shuffles that class's unused indices and the first `per_class` are
    taken (all of them where fewer are unused). Returned sorted."""
    labels = np.asarray(labels)
    unused = np.ones(len(labels), dtype=bool)
    unused[np.asarray(used, dtype=np.int64)] = False
    rng = np.random.RandomState(seed)
    held = []
    for cls in range(num_classes):
        idx = np.where(unused & (labels == cls))[0]
        rng.shuffle(idx)
        held.append(idx[:per_class])
    return np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
