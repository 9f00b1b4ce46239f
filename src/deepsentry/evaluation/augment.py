"""Data augmentation for evaluation and tuning; the implementation lives in
:mod:`deepsentry.core.augment` because ``fit`` applies it inside each training split."""

from ..core.augment import METHODS, augment

__all__ = ["METHODS", "augment"]
