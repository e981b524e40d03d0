"""Segmentation backends: keyframe boxes -> masks on every frame, propagated forward and backward.

``build_segmenter("sam2", ...)`` is the method's frozen SAM2 video predictor; ``build_segmenter(
"classical")`` is a weight-free GrabCut tracker for machines without SAM2 weights. SAM2 (and torch) are
imported only when a SAM2 segmenter is asked for.
"""

from __future__ import annotations

from typing import Any

from veason_lib.segmentation.base import Segmenter
from veason_lib.segmentation.classical import ClassicalSegmenter

SEGMENTER_KINDS = ("sam2", "classical")

__all__ = ["SEGMENTER_KINDS", "ClassicalSegmenter", "Sam2Segmenter", "Segmenter", "build_segmenter"]


def build_segmenter(kind: str, **options: Any) -> Segmenter:
    """A segmenter by name: ``sam2`` (options of :class:`Sam2Segmenter`) or ``classical``.

    >>> build_segmenter("classical").__class__.__name__
    'ClassicalSegmenter'
    """
    if kind == "sam2":
        from veason_lib.segmentation.sam2_backend import Sam2Segmenter

        return Sam2Segmenter(**options)
    if kind == "classical":
        return ClassicalSegmenter(**options)
    raise ValueError(f"segmenter: unknown kind {kind!r}; known: {', '.join(SEGMENTER_KINDS)}")


def __getattr__(name: str) -> Any:
    # Sam2Segmenter is importable from here without making every user of the package import torch
    if name == "Sam2Segmenter":
        from veason_lib.segmentation.sam2_backend import Sam2Segmenter

        return Sam2Segmenter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
