"""Segmentation backends: keyframe boxes -> masks on every frame, propagated forward and backward.

``build_segmenter("sam2", ...)`` is the method's frozen SAM2 video predictor; ``build_segmenter(
"classical")`` is a weight-free GrabCut tracker for machines without SAM2 weights. SAM2 (and torch) are
imported only when a SAM2 segmenter is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from veason_lib.segmentation.base import Segmenter
from veason_lib.segmentation.classical import ClassicalSegmenter

if TYPE_CHECKING:
    from veason_lib.config import CommonConfig

SEGMENTER_KINDS = ("sam2", "classical")

__all__ = [
    "SEGMENTER_KINDS",
    "ClassicalSegmenter",
    "Sam2Segmenter",
    "Segmenter",
    "build_segmenter",
    "segmenter_for",
]


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


def segmenter_for(cfg: CommonConfig) -> Segmenter:
    """The segmenter a profile asks for: the GRPO consistency reward and evaluation build it the same way."""
    if cfg.segmenter == "sam2":
        return build_segmenter(
            "sam2",
            config=cfg.sam2_config,
            checkpoint=cfg.sam2_checkpoint,
            image_size=cfg.sam2_image_size,
            device=cfg.device,
        )
    return build_segmenter(cfg.segmenter)


def __getattr__(name: str) -> Any:
    # Sam2Segmenter is importable from here without making every user of the package import torch
    if name == "Sam2Segmenter":
        from veason_lib.segmentation.sam2_backend import Sam2Segmenter

        return Sam2Segmenter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
