"""Synthetic label noise on the training labels, as the robust-loss reference code makes it
(HanxunH/Active-Passive-Losses dataset.py, after Patrini et al. 2017 and Han et al. 2018).

  symmetric   each class c loses k_c = int(rate * n_c) images, chosen without replacement, and each
              chosen label becomes a uniformly random *other* class. On a balanced set k_c is the
              reference's int(int(rate * N) / C); the draws happen in the reference's order (class
              0..C-1 choose, then one draw per chosen image), from numpy RandomState(seed).
  asymmetric  class-dependent flips that mimic real confusions:
              CIFAR-10: int(rate * n_c) images of each source class, chosen without replacement,
                get the target label: truck->automobile, bird->airplane, deer->horse, cat<->dog;
              CIFAR-100: each label moves to the next class of its group of five, circularly, with
                probability `rate` (per image, multinomial draws as the reference's
                multiclass_noisify). The reference code's groups are blocks of five consecutive
                class indices (0-4, 5-9, ...), which are NOT the CIFAR-100 superclasses the paper
                names: `superclasses: index_blocks` (default) follows the code, `coarse_labels`
                uses the real superclasses from the dataset file;
              MNIST / digits: 2->7, 3->8, 5<->6, 7->1 with probability `rate` per image.
  pairflip    every class c moves to c+1 (mod C) with probability `rate` per image (Han et al.).
The realised noise rate is the fraction of labels that changed; the transition matrix T[i][j] is
the fraction of images of true class i that carry label j (rows of empty classes are zeros).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

NOISE_TYPES = ("none", "symmetric", "asymmetric", "pairflip")
ASYMMETRIC_SCHEMES = ("cifar10", "cifar100", "mnist")
SUPERCLASS_MODES = ("index_blocks", "coarse_labels")

# source class -> target class, as in the reference code
CIFAR10_FLIPS = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}  # truck->automobile, bird->airplane, deer->horse, cat<->dog
MNIST_FLIPS = {7: 1, 2: 7, 5: 6, 6: 5, 3: 8}


def check_noise_config(cfg: Mapping | None, asymmetric_scheme: str | None) -> dict:
    """Validate `data.label_noise` and return it as a plain dict with defaults filled in."""
    cfg = dict(cfg or {})
    unknown = set(cfg) - {"type", "rate", "seed", "superclasses"}
    if unknown:
        raise ValueError(f"data.label_noise has unknown keys {sorted(unknown)}: the keys are type, rate, seed "
                         f"(and superclasses for CIFAR-100 asymmetric noise).")
    out = {"type": str(cfg.get("type", "none")), "rate": float(cfg.get("rate", 0.0)), "seed": int(cfg.get("seed", 0)),
           "superclasses": str(cfg.get("superclasses", "index_blocks"))}
    if out["type"] not in NOISE_TYPES:
        raise ValueError(f"data.label_noise.type={out['type']!r} is not one of {', '.join(NOISE_TYPES)}.")
    if not 0.0 <= out["rate"] <= 1.0:
        raise ValueError(f"data.label_noise.rate={out['rate']!r} is out of range: it must be in [0, 1] "
                         f"(the fraction of training labels to corrupt).")
    if out["superclasses"] not in SUPERCLASS_MODES:
        raise ValueError(f"data.label_noise.superclasses={out['superclasses']!r} is not one of "
                         f"{', '.join(SUPERCLASS_MODES)}.")
    if out["type"] == "asymmetric" and asymmetric_scheme is None:
        raise ValueError("data.label_noise.type=asymmetric has no standard class map for this dataset (there are "
                         "maps for CIFAR-10, CIFAR-100 and MNIST/digits); use type=pairflip or symmetric.")
    return out


def symmetric_noise(labels: np.ndarray, num_classes: int, rate: float, seed: int) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.RandomState(seed)
    counts = np.bincount(labels, minlength=num_classes)
    present = counts[counts > 0]
    balanced = len(present) == num_classes and (present == present[0]).all()
    chosen = []
    for c in range(num_classes):
        idx = np.where(labels == c)[0]
        k = int(int(rate * len(labels)) / num_classes) if balanced else int(rate * len(idx))
        if len(idx) and k:
            chosen.extend(rng.choice(idx, k, replace=False))
    noisy = labels.copy()
    for i in chosen:
        others = [c for c in range(num_classes) if c != labels[i]]
        noisy[i] = rng.choice(others)
    return noisy


def fixed_flips(labels: np.ndarray, flips: Mapping[int, int], rate: float, seed: int) -> np.ndarray:
    """int(rate * n_s) images of each source class s, without replacement, get label flips[s]."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.RandomState(seed)
    noisy = labels.copy()
    for source, target in flips.items():
        idx = np.where(labels == source)[0]
        k = int(rate * len(idx))
        if k:
            noisy[rng.choice(idx, k, replace=False)] = target
    return noisy


def noisify_with_matrix(labels: np.ndarray, transition: np.ndarray, seed: int) -> np.ndarray:
    """Each label i is redrawn from row i of the (row-stochastic) transition matrix, one
    multinomial draw per image in order, as the reference's multiclass_noisify."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.RandomState(seed)
    noisy = labels.copy()
    for n, y in enumerate(labels):
        noisy[n] = np.flatnonzero(rng.multinomial(1, transition[y], 1)[0])[0]
    return noisy


def cyclic_matrix(num_classes: int, groups: Sequence[Sequence[int]], rate: float) -> np.ndarray:
    """1 - rate on the diagonal, `rate` from each class to the next one of its group (circularly)."""
    matrix = np.eye(num_classes)
    for group in groups:
        if len(group) < 2:
            continue
        for a, b in zip(group, list(group[1:]) + [group[0]]):
            matrix[a, a], matrix[a, b] = 1.0 - rate, rate
    return matrix


def map_matrix(num_classes: int, flips: Mapping[int, int], rate: float) -> np.ndarray:
    matrix = np.eye(num_classes)
    for source, target in flips.items():
        matrix[source, source], matrix[source, target] = 1.0 - rate, rate
    return matrix


def superclass_groups(num_classes: int, mode: str, fine_to_coarse: Sequence[int] | None) -> list[list[int]]:
    if mode == "index_blocks":
        return [list(range(s, min(s + 5, num_classes))) for s in range(0, num_classes, 5)]
    if fine_to_coarse is None:
        raise ValueError("data.label_noise.superclasses=coarse_labels needs the dataset's coarse labels "
                         "(CIFAR-100 only); use superclasses=index_blocks.")
    groups: dict[int, list[int]] = {}
    for fine, coarse in enumerate(fine_to_coarse):
        groups.setdefault(int(coarse), []).append(fine)
    return [sorted(g) for _, g in sorted(groups.items())]


def apply_label_noise(labels: np.ndarray, num_classes: int, cfg: Mapping, asymmetric_scheme: str | None = None,
                      fine_to_coarse: Sequence[int] | None = None) -> tuple[np.ndarray, dict]:
    """Return (noisy labels, the results.json `label_noise` record): {"type": "none"} for clean labels,
    else type, rate, seed and the realised statistics."""
    cfg = check_noise_config(cfg, asymmetric_scheme)
    labels = np.asarray(labels, dtype=np.int64)
    kind, rate, seed = cfg["type"], cfg["rate"], cfg["seed"]
    if kind == "none" or rate == 0.0:
        noisy = labels.copy()
    elif kind == "symmetric":
        noisy = symmetric_noise(labels, num_classes, rate, seed)
    elif kind == "pairflip":
        noisy = noisify_with_matrix(labels, cyclic_matrix(num_classes, [list(range(num_classes))], rate), seed)
    elif asymmetric_scheme == "cifar10":
        noisy = fixed_flips(labels, CIFAR10_FLIPS, rate, seed)
    elif asymmetric_scheme == "mnist":
        noisy = noisify_with_matrix(labels, map_matrix(num_classes, MNIST_FLIPS, rate), seed)
    else:  # cifar100
        groups = superclass_groups(num_classes, cfg["superclasses"], fine_to_coarse)
        noisy = noisify_with_matrix(labels, cyclic_matrix(num_classes, groups, rate), seed)
    if kind == "none" or rate == 0.0:  # a clean run records no rate: the YAML's default rate was not applied
        return noisy, {"type": "none"}
    record = {"type": kind, "rate": rate, "seed": seed}
    if kind == "asymmetric" and asymmetric_scheme == "cifar100":
        record["superclasses"] = cfg["superclasses"]
    record.update(noise_statistics(labels, noisy, num_classes))
    return noisy, record


def noise_statistics(clean: np.ndarray, noisy: np.ndarray, num_classes: int) -> dict:
    """Realised noise rate and the empirical transition matrix (true class -> given label)."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (clean, noisy), 1)
    rows = counts.sum(axis=1, keepdims=True)
    matrix = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    changed = int((clean != noisy).sum())
    return {"num_labels": int(len(clean)), "num_noisy": changed,
            "realised_rate": changed / len(clean) if len(clean) else 0.0,
            "transition_matrix": np.round(matrix, 6).tolist()}
