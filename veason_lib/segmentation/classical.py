"""A weight-free segmenter: GrabCut from the keyframe box, then carried frame to frame both ways.

At the keyframe GrabCut separates the object from its surroundings inside the prompted box. Each next
frame (forward, then backward from the keyframe) is cut inside the previous mask's bounding box expanded
by the expected motion, starting from the previous mask and the previous colour models. An object stops
when its mask vanishes (it left the scene or is fully hidden). It needs no weights, so the whole pipeline
runs on machines without SAM2 checkpoints; on the built-in benchmark it is a strong segmenter, on real
videos a weak one.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from veason_lib.segmentation.base import check_frames, check_prompt, no_masks

MIN_BOX_SIDE = 4  # px: GrabCut's colour models need a few pixels per side; smaller boxes give no mask


@dataclass
class ClassicalState:
    """One clip: the frames, which is all GrabCut needs."""

    frames: np.ndarray  # (T, H, W, 3) uint8


@dataclass
class ColourModels:
    """GrabCut's background and foreground Gaussian mixtures (OpenCV's 1 x 65 float64 layout)."""

    background: np.ndarray  # (1, 65) float64
    foreground: np.ndarray  # (1, 65) float64


@dataclass
class Cut:
    """The result of one frame: the object's mask and the colour models that produced it."""

    mask: np.ndarray  # (H, W) bool
    models: ColourModels


def clip_box(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """xyxy float box -> integer (x1, y1, x2, y2) inside the frame, x2/y2 exclusive, corners ordered."""
    x1, x2 = sorted((float(box[0]), float(box[2])))
    y1, y2 = sorted((float(box[1]), float(box[3])))
    x1, y1 = int(np.clip(np.floor(x1), 0, width)), int(np.clip(np.floor(y1), 0, height))
    x2, y2 = int(np.clip(np.ceil(x2), 0, width)), int(np.clip(np.ceil(y2), 0, height))
    return x1, y1, x2, y2


def expand_box(box: tuple[int, int, int, int], ratio: float, margin: int, height: int, width: int):
    """Grow a box by ``ratio`` of its size plus ``margin`` px on every side, clipped to the frame."""
    x1, y1, x2, y2 = box
    dx, dy = int(ratio * (x2 - x1)) + margin, int(ratio * (y2 - y1)) + margin
    return max(x1 - dx, 0), max(y1 - dy, 0), min(x2 + dx, width), min(y2 + dy, height)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x1, y1, x2, y2), x2/y2 exclusive, of a non-empty (H, W) mask."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def is_too_small(box: tuple[int, int, int, int]) -> bool:
    return box[2] - box[0] < MIN_BOX_SIDE or box[3] - box[1] < MIN_BOX_SIDE


def learn_models(frame: np.ndarray, labels: np.ndarray) -> ColourModels:
    """Colour models learned from ``labels`` alone (GrabCut's initialisation, no cut)."""
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(frame, labels.copy(), None, background, foreground, 0, cv2.GC_INIT_WITH_MASK)
    return ColourModels(background, foreground)


def run_grabcut(frame: np.ndarray, labels: np.ndarray, models: ColourModels | None, options) -> Cut:
    """GrabCut on a region: ``labels`` (h, w) uint8 of cv2.GC_* values.

    Without ``models`` (the keyframe) both colour models are learned from ``labels`` over a few
    iterations. With them (a carried frame) the object's model stays the keyframe's, so its colours cannot
    drift towards the background frame after frame, while the background model is learned afresh from this
    frame's surroundings, which change as the object moves and others pass by; then one graph cut. On
    moving-shape videos this beat both re-learning both models per frame and freezing both.
    """
    if models is None:
        background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        mode, iterations = cv2.GC_INIT_WITH_MASK, options.iterations
    else:
        background, foreground = learn_models(frame, labels).background, models.foreground.copy()
        mode, iterations = cv2.GC_EVAL_FREEZE_MODEL, 1
    labels = labels.copy()  # cv2 writes the result into it
    cv2.grabCut(frame, labels, None, background, foreground, iterations, mode)
    mask = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)  # (h, w)
    return Cut(close_gaps(mask, options.closing), ColourModels(background, foreground))


def close_gaps(mask: np.ndarray, size: int) -> np.ndarray:
    """Morphological closing with a ``size`` px disk: dark stripes or dots of a textured object that the
    cut gave to the background rejoin the object. (h, w) bool -> (h, w) bool; ``size`` 0 is a no-op."""
    if size <= 0:
        return mask
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, disk).astype(bool)


def cut_in_box(frame: np.ndarray, box, prior: np.ndarray, models: ColourModels | None, options) -> Cut:
    """Cut one frame (H, W, 3) inside ``box``: outside it is background, ``prior`` (H, W) is the
    likely object, the rest of the box likely background. Returns a full-frame mask."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = expand_box(box, 0.0, options.context, height, width)  # the region GrabCut sees
    labels = np.full((y2 - y1, x2 - x1), cv2.GC_BGD, np.uint8)  # (h, w)
    bx1, by1, bx2, by2 = box
    labels[by1 - y1 : by2 - y1, bx1 - x1 : bx2 - x1] = cv2.GC_PR_BGD
    labels[prior[y1:y2, x1:x2] & (labels == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
    if not (labels == cv2.GC_BGD).any():  # the box fills the frame: the frame border must be background
        labels[[0, -1], :] = cv2.GC_PR_BGD
        labels[:, [0, -1]] = cv2.GC_PR_BGD
    cut = run_grabcut(np.ascontiguousarray(frame[y1:y2, x1:x2]), labels, models, options)
    mask = np.zeros((height, width), bool)  # (H, W)
    mask[y1:y2, x1:x2] = cut.mask
    return Cut(mask, cut.models)


@dataclass(frozen=True)
class ClassicalOptions:
    """Tuning of the classical tracker (defaults checked on the built-in valid split)."""

    iterations: int = 4  # GrabCut iterations at the keyframe (a carried frame gets one cut)
    motion: float = 0.3  # expected motion between frames, as a fraction of the object's size
    margin: int = 4  # px added to the search box on every side
    context: int = 8  # px of certain background around the search box
    closing: int = 5  # px: disk that closes gaps in a mask (0: off)
    min_area: int = 8  # px: a smaller mask counts as vanished and stops the object (and colour models
    # need a few pixels of each kind)


class ClassicalSegmenter:
    """GrabCut initialised with the keyframe box and carried frame to frame, forward and backward."""

    def __init__(self, **options) -> None:
        self.options = ClassicalOptions(**options)

    def prepare(self, frames: np.ndarray) -> ClassicalState:
        return ClassicalState(check_frames(frames))

    def segment(self, state: ClassicalState, keyframe: int, boxes: np.ndarray) -> np.ndarray:
        """Boxes (K, 4) xyxy px at ``keyframe`` -> masks (K, T, H, W) bool."""
        num_frames, height, width = state.frames.shape[:3]
        boxes = check_prompt(keyframe, boxes, num_frames)  # (K, 4)
        masks = no_masks(len(boxes), num_frames, height, width)  # (K, T, H, W)
        for k, box in enumerate(boxes):
            self.track(state.frames, int(keyframe), clip_box(box, height, width), masks[k])
        return masks

    def track(self, frames: np.ndarray, keyframe: int, box, masks: np.ndarray) -> None:
        """Fill ``masks`` (T, H, W) for one object prompted with ``box`` at ``keyframe``."""
        if is_too_small(box):
            return
        height, width = frames.shape[1:3]
        inside = np.zeros((height, width), bool)  # (H, W)
        inside[box[1] : box[3], box[0] : box[2]] = True
        start = cut_in_box(frames[keyframe], box, inside, None, self.options)
        masks[keyframe] = start.mask
        for step in (1, -1):
            cut, t = start, keyframe + step
            while 0 <= t < len(frames) and cut.mask.sum() >= self.options.min_area:
                cut = self.carry(frames[t], cut)
                masks[t] = cut.mask
                t += step

    def carry(self, frame: np.ndarray, previous: Cut) -> Cut:
        """Cut the next frame inside the previous mask's box grown by the expected motion."""
        height, width = frame.shape[:2]
        options = self.options
        search = expand_box(mask_box(previous.mask), options.motion, options.margin, height, width)
        return cut_in_box(frame, search, previous.mask, previous.models, options)
