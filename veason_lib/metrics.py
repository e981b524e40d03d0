"""Per-frame region similarity J, contour accuracy F and the ReVOS robustness R (spec: METRICS.md).

The values equal those of the standard DAVIS/MeViS/ReVOS evaluation code bit for bit, so published numbers
stay comparable. Each function takes masks of shape (H, W) or (T, H, W) and returns a (T,) float64 array;
a 2-D input is one frame and gives a (1,) array.

F is computed without dilating whole frames: every boundary pixel lies in the bounding box of the two
masks (grown by one pixel towards the origin), and "a GT boundary pixel within the disk of radius r" is
answered with an integral image of that box, the disk being a union of a few centred rectangles. The result
is the same count the full-frame dilation gives, at a fraction of the cost. J needs no mask written:
|P| + |G| and |P xor G| are three SIMD reductions, and the intersection and union follow from them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

BOUNDARY_TOLERANCE = 0.008  # fraction of the image diagonal (METRICS.md)
FOREGROUND_EPS = 1e-6  # the standard code's guard against an empty foreground
PUBLISHED_FP_WEIGHT = 255  # predictions saved as 0/255 PNGs were scored without binarising (METRICS.md)

Box = tuple[int, int, int, int]  # top, bottom, left, right: rows [top, bottom), columns [left, right)


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """J per frame: |P ∩ G| / |P ∪ G| of the masks binarised with ``!= 0``; 1 where both are empty."""
    pred, gt = _binary(_frames(pred, "pred")), _binary(_frames(gt, "gt"))
    _check_same_shape(pred=pred, gt=gt)
    scores = np.ones(len(pred))  # (T,) float64
    for t, (p, g) in enumerate(zip(pred.view(np.uint8), gt.view(np.uint8), strict=True)):
        # three SIMD reductions that write nothing: |P| + |G| and |P xor G| (the L1 distance of 0/1 masks)
        areas = cv2.countNonZero(p) + cv2.countNonZero(g)
        differing = round(cv2.norm(p, g, cv2.NORM_L1))  # a float sum of integers, exact below 2^53
        union = (areas + differing) // 2
        if union > 0:
            scores[t] = ((areas - differing) // 2) / union
    return scores


def contour_accuracy(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """F per frame: boundary F-measure at tolerance ``boundary_tolerance(H, W)`` (METRICS.md rules)."""
    pred, gt = _binary(_frames(pred, "pred")), _binary(_frames(gt, "gt"))
    _check_same_shape(pred=pred, gt=gt)
    disk = Disk.of_radius(boundary_tolerance(*pred.shape[1:]))
    scores = np.empty(len(pred))  # (T,) float64
    for t, (p, g) in enumerate(zip(pred.view(np.uint8), gt.view(np.uint8), strict=True)):
        scores[t] = _frame_contour_accuracy(p, g, disk)
    return scores


def robustness(
    pred: np.ndarray, gt: np.ndarray, foreground: np.ndarray, fp_weight: int = PUBLISHED_FP_WEIGHT
) -> np.ndarray:
    """R per frame: max(0, 1 - FP / (FG + 1e-6)), FG = area of the video's annotated foreground.

    ``fp_weight=255`` is the published convention, reproduced exactly: ``gt`` is the uint8 **sum** of the
    target's instance masks (pass it unreduced), P = 255 where ``pred != 0``, and FP sums (1 - G) * P in
    uint8 arithmetic, so where two instances overlap 1 - G wraps to 255 and 255 * 255 wraps to 1.
    ``fp_weight=1`` is R_bin: G = ``gt != 0`` (the union), P binary, FP = |P \\ G|.
    ``foreground`` is the union of all annotated objects (its non-zero pixels are counted).
    """
    pred, gt, foreground = _frames(pred, "pred"), _frames(gt, "gt"), _frames(foreground, "foreground")
    _check_same_shape(pred=pred, gt=gt, foreground=foreground)
    if fp_weight not in (PUBLISHED_FP_WEIGHT, 1):
        raise ValueError(
            f"fp_weight: expected {PUBLISHED_FP_WEIGHT} (published R) or 1 (R_bin), got {fp_weight}"
        )
    scores = np.empty(len(pred))  # (T,) float64
    for t, (p, g, f) in enumerate(zip(pred, gt, foreground, strict=True)):
        false_positives = _false_positives(p, g, fp_weight)
        scores[t] = max(1 - false_positives / (np.count_nonzero(f) + FOREGROUND_EPS), 0.0)
    return scores


def boundary_tolerance(height: int, width: int) -> int:
    """r = ceil(0.008 * sqrt(H^2 + W^2)) pixels: 8 at 480x854, 1 at 48x64."""
    return math.ceil(BOUNDARY_TOLERANCE * math.sqrt(height * height + width * width))


@dataclass(frozen=True)
class Disk:
    """The closed disk {dx^2 + dy^2 <= r^2} as a union of centred rectangles, for integral-image lookups.

    Row dy of the disk spans |dx| <= isqrt(r^2 - dy^2), which shrinks as |dy| grows, so one rectangle per
    distinct half-width, as tall as the rows that reach it, covers exactly the disk.
    """

    radius: int
    rectangles: tuple[tuple[int, int], ...]  # (half_height, half_width) each, largest area first

    @classmethod
    def of_radius(cls, radius: int) -> Disk:
        reach = [math.isqrt(radius * radius - dy * dy) for dy in range(radius + 1)]  # half-width of row dy
        rectangles = [
            (max(dy for dy, half_width in enumerate(reach) if half_width >= width), width)
            for width in set(reach)
        ]
        # largest first: most boundary pixels match there, with one lookup
        rectangles.sort(key=lambda rectangle: (2 * rectangle[0] + 1) * (2 * rectangle[1] + 1), reverse=True)
        return cls(radius, tuple(rectangles))

    def corners(self, row_step: int) -> np.ndarray:
        """(k, 4) flat offsets c of each rectangle's corners in an integral image I with rows ``row_step``
        apart: the sum over the rectangle centred at flat index p is I[p+c0] - I[p+c1] - I[p+c2] + I[p+c3]."""
        return _rectangle_corners(self.rectangles, row_step)


@functools.cache  # one entry per box width: a few hundred small arrays at most
def _rectangle_corners(rectangles: tuple[tuple[int, int], ...], row_step: int) -> np.ndarray:
    half_heights, half_widths = np.array(rectangles).T[:, :, None]  # (k, 1) each
    below, above = (half_heights + 1) * row_step, -half_heights * row_step  # (k, 1) each
    return np.hstack(
        [below + half_widths + 1, above + half_widths + 1, below - half_widths, above - half_widths]
    )


def _frames(mask: np.ndarray, name: str) -> np.ndarray:
    """(H, W) or (T, H, W) -> (T, H, W) view."""
    mask = np.asarray(mask)
    if mask.ndim == 2:
        return mask[None]  # (1, H, W)
    if mask.ndim != 3:
        raise ValueError(f"{name}: expected an (H, W) or (T, H, W) mask, got shape {mask.shape}")
    return mask


def _binary(mask: np.ndarray) -> np.ndarray:
    """Binarise with ``!= 0``; bool input is used as is (no copy)."""
    return mask if mask.dtype == bool else mask != 0


def _check_same_shape(**masks: np.ndarray) -> None:
    shapes = {name: mask.shape for name, mask in masks.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"masks differ in shape: {shapes}")


def _false_positives(pred: np.ndarray, gt: np.ndarray, fp_weight: int) -> int:
    """FP of one (H, W) frame in the arithmetic of the chosen convention (see :func:`robustness`)."""
    if fp_weight == 1:
        return int(np.count_nonzero((pred != 0) & (gt == 0)))
    target = gt.astype(np.uint8, copy=False)  # (H, W) instance-count map, as the standard code sums it
    saved = np.where(pred != 0, np.uint8(PUBLISHED_FP_WEIGHT), np.uint8(0))  # (H, W) the 0/255 PNG
    wrapped = (np.uint8(1) - target) * saved  # (H, W) uint8: wraps exactly like the standard code
    return int(wrapped.sum(dtype=np.int64))


def _frame_contour_accuracy(pred: np.ndarray, gt: np.ndarray, disk: Disk) -> float:
    """F of one frame, (H, W) uint8 0/1 masks; the empty cases as the standard code scores them."""
    box = _boundary_box(pred, gt)
    if box is None:
        return 1.0  # both masks empty, so both boundaries are
    pred_boundary, gt_boundary = _boundary_map(pred, box, disk.radius), _boundary_map(gt, box, disk.radius)
    pred_pixels, gt_pixels = np.flatnonzero(pred_boundary.view(bool)), np.flatnonzero(gt_boundary.view(bool))
    if len(pred_pixels) == 0 or len(gt_pixels) == 0:
        # both empty: 1; exactly one empty: precision and recall are 0 and 1 (or 1 and 0), so F = 0
        return float(len(pred_pixels) == len(gt_pixels))
    precision = _matched_count(pred_pixels, gt_boundary, disk) / float(len(pred_pixels))
    recall = _matched_count(gt_pixels, pred_boundary, disk) / float(len(gt_pixels))
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _boundary_box(pred: np.ndarray, gt: np.ndarray) -> Box | None:
    """A box holding every boundary pixel of two (H, W) uint8 masks; None if both are empty.

    A boundary pixel differs from its E, S or SE neighbour, so it lies in the masks' bounding box or one
    row above / one column left of it. Rows come from per-row sums (one read of each frame, nothing
    written); columns are searched in the occupied rows only.
    """
    rows = np.flatnonzero(_row_sums(pred) + _row_sums(gt))  # (n_rows,)
    if len(rows) == 0:
        return None
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    band = cv2.bitwise_or(pred[top:bottom], gt[top:bottom])  # (bottom - top, W) the union's rows
    cols = np.flatnonzero(band.view(bool).any(axis=0))  # (n_cols,)
    return max(top - 1, 0), bottom, max(int(cols[0]) - 1, 0), int(cols[-1]) + 1


def _row_sums(mask: np.ndarray) -> np.ndarray:
    """(H,) int32 foreground pixels per row of an (H, W) uint8 0/1 mask."""
    return cv2.reduce(mask, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()


def _boundary_map(mask: np.ndarray, box: Box, margin: int) -> np.ndarray:
    """The full-frame boundary map of ``mask`` (uint8 0/1, METRICS.md) inside ``box``, with a zero margin
    around it: (h + 2 margin, w + 2 margin) uint8 0/1.

    A pixel is boundary iff the 2x2 block it opens (a = itself, b = E, c = S, d = SE) is not uniform:
    (a ^ b) | (c ^ d) | (a ^ c). Inside the frame the window keeps the row and column after the box. Where
    the frame ends, the last row and column are repeated: then d = b and c = a in the last row (only E is
    compared), d = c and b = a in the last column (only S), and the corner is uniform, as METRICS.md says.
    The margin holds no boundary pixel (all are in the box) and keeps every disk lookup inside the map.
    """
    top, bottom, left, right = box
    height, width = bottom - top, right - left
    window = mask[top : bottom + 1, left : right + 1]  # (h + 1, w + 1) unless the frame ends
    if window.shape != (height + 1, width + 1):
        extra_rows, extra_cols = height + 1 - window.shape[0], width + 1 - window.shape[1]
        window = cv2.copyMakeBorder(window, 0, extra_rows, 0, extra_cols, cv2.BORDER_REPLICATE)
    east = cv2.bitwise_xor(window[:, :-1], window[:, 1:])  # (h + 1, w) a ^ b per row
    framed = np.zeros((height + 2 * margin, width + 2 * margin), dtype=np.uint8)
    boundary = framed[margin : margin + height, margin : margin + width]  # (h, w) view: cv2 writes into it
    cv2.bitwise_xor(window[:-1, :-1], window[1:, :-1], dst=boundary)  # a ^ c
    cv2.bitwise_or(boundary, east[:-1], dst=boundary)  # | a ^ b
    cv2.bitwise_or(boundary, east[1:], dst=boundary)  # | c ^ d
    return framed


def _matched_count(pixels: np.ndarray, other: np.ndarray, disk: Disk) -> int:
    """How many ``pixels`` (flat indices into a boundary map shaped like ``other``) have a pixel of the
    boundary map ``other`` in their disk: ``(boundary & dilate(other, disk)).sum()``.

    A rectangle holds a pixel of ``other`` iff its sum in the integral image is positive. The rectangles
    are tried largest first, each on the pixels no earlier one matched, so most pixels cost one lookup.
    """
    width = other.shape[1]
    integral = cv2.integral(other).ravel()  # ((h + 1) * (w + 1),) int32, integral[y, x] = other[:y, :x].sum()
    unmatched = pixels + pixels // width  # (n,) the same pixels in the integral image, one column wider
    for corners in disk.corners(row_step=width + 1):  # (4,) per rectangle
        if len(unmatched) == 0:
            break
        values = integral[unmatched[:, None] + corners]  # (n, 4)
        unmatched = unmatched[values[:, 0] + values[:, 3] <= values[:, 1] + values[:, 2]]  # empty rectangle
    return len(pixels) - len(unmatched)
