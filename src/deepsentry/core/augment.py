"""Training-set augmentation for imbalanced detection data, applied inside ``fit`` to the training
rows only (after the validation split, and inside each CV fold), never before splitting.

Methods: ``smote``, ``borderline-smote``, ``adasyn`` and ``random`` (imbalanced-learn
oversamplers), ``noise`` (Gaussian noise on the standardised numeric features of oversampled
minority rows) and ``mixup`` (convex combinations of two rows of the same minority class, so labels
stay hard). Each minority class is raised to ``ratio`` times the largest class (never lowered).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(110, 3)).astype(np.float32); y = np.array([0] * 100 + [1] * 10)
>>> Xa, ya, added = augment(X, y, "smote", ratio=0.5, seed=0)
>>> added
{1: 40}
"""

from __future__ import annotations

import numpy as np

from ..core.base import validate_choice, validate_range

METHODS = ("none", "smote", "borderline-smote", "adasyn", "random", "noise", "mixup")


def _targets(y: np.ndarray, ratio: float) -> dict[int, int]:
    classes, counts = np.unique(y, return_counts=True)
    goal = int(counts.max() * ratio)
    return {int(c): max(int(n), goal) for c, n in zip(classes, counts)}


def augment(X: np.ndarray, y: np.ndarray, method: str, *, ratio: float = 0.2, seed: int = 0,
            numeric_columns: int | None = None, noise_scale: float = 0.05,
            ) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Return (X, y) with synthetic minority rows appended, and the rows added per class.

    ``y`` holds integer class indices. ``numeric_columns``: how many leading columns are numeric
    (the rest, one-hot blocks, are never perturbed by ``noise``).
    """
    validate_choice("augment", method, METHODS)
    validate_range("augment_ratio", ratio, 0.0, 1.0, low_open=True)
    y = np.asarray(y).astype(np.int64)
    if method == "none":
        return X, y, {}
    targets = _targets(y, ratio)
    counts = {c: int((y == c).sum()) for c in targets}
    wanted = {c: t for c, t in targets.items() if t > counts[c]}
    if not wanted:
        return X, y, {}
    rng = np.random.default_rng(seed)
    if method in ("noise", "mixup"):
        parts_x, parts_y = [X], [y]
        for c, goal in wanted.items():
            rows = np.flatnonzero(y == c)
            n_new = goal - len(rows)
            first = X[rng.choice(rows, n_new)]
            if method == "noise":
                k = X.shape[1] if numeric_columns is None else numeric_columns
                first = first.copy()
                first[:, :k] += rng.normal(0.0, noise_scale, size=(n_new, k)).astype(X.dtype)
            else:
                second = X[rng.choice(rows, n_new)]
                lam = rng.beta(0.4, 0.4, size=(n_new, 1)).astype(X.dtype)
                first = lam * first + (1 - lam) * second
            parts_x.append(first.astype(X.dtype))
            parts_y.append(np.full(n_new, c, dtype=np.int64))
        return np.concatenate(parts_x), np.concatenate(parts_y), {c: t - counts[c] for c, t in wanted.items()}
    return _imblearn(X, y, method, wanted, counts, seed)


def _imblearn(X: np.ndarray, y: np.ndarray, method: str, wanted: dict[int, int], counts: dict[int, int],
              seed: int) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE, RandomOverSampler

    smallest = min(counts[c] for c in wanted)
    neighbours = max(1, min(5, smallest - 1))
    # SMOTE-style methods need two rows of a class; such classes are copied at random instead
    if method == "random" or smallest < 2:
        sampler = RandomOverSampler(sampling_strategy=wanted, random_state=seed)
    elif method == "smote":
        sampler = SMOTE(sampling_strategy=wanted, k_neighbors=neighbours, random_state=seed)
    elif method == "borderline-smote":
        sampler = BorderlineSMOTE(sampling_strategy=wanted, k_neighbors=neighbours, random_state=seed)
    else:
        sampler = ADASYN(sampling_strategy=wanted, n_neighbors=neighbours, random_state=seed)
    try:
        Xa, ya = sampler.fit_resample(X, y)
    except (ValueError, RuntimeError):
        # ADASYN/borderline find no "hard" rows on some data: fall back to random copies
        Xa, ya = RandomOverSampler(sampling_strategy=wanted, random_state=seed).fit_resample(X, y)
    added = {c: int((ya == c).sum()) - counts[c] for c in wanted}
    return Xa.astype(X.dtype, copy=False), ya.astype(np.int64), added
