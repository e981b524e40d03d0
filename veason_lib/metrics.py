"""Per-frame region similarity J, contour accuracy F and the ReVOS robustness R (spec: METRICS.md).

The values equal those of the standard DAVIS/MeViS/ReVOS evaluation code bit for bit, so published numbers
stay comparable. Each function takes masks of shape (H, W) or (T, H, W) and returns a (T,) float64 array;
a 2-D input is one frame and gives a (1,) array.

F is computed without dilating whole frames: every boundary pixel lies in the bounding box of the two
masks (grown by one pixel towards the origin), and "a GT boundary pixel within the disk of radius r" is
answered with an integral image of that box, the disk being a union of a few centred rectangles: one
lookup of the largest rectangle and one of the square around the disk settle almost every pixel (inside,
or too far), and only the rest try the other rectangles. Both boundary maps share one buffer, so one
listing of their pixels and one integral image serve precision and recall. The result is the same count
the full-frame dilation gives, at a fraction of the cost. J needs no mask written:
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
        """(4 (k + 1), 1) flat offsets of the corners of the disk's bounding square, then of each rectangle,
        in an integral image I with rows ``row_step`` apart: the sum over rectangle j centred at flat index
        p is I[p + c[4j]] - I[p + c[4j+1]] - I[p + c[4j+2]] + I[p + c[4j+3]]."""
        return _rectangle_corners(((self.radius, self.radius), *self.rectangles), row_step)


@functools.cache  # one entry per box width: a few hundred small arrays at most
def _rectangle_corners(rectangles: tuple[tuple[int, int], ...], row_step: int) -> np.ndarray:
    """(4 k, 1) corner offsets of k centred (half_height, half_width) rectangles, see :meth:`Disk.corners`."""
    half_heights, half_widths = np.array(rectangles).T[:, :, None]  # (k, 1) each
    below, above = (half_heights + 1) * row_step, -half_heights * row_step  # (k, 1) each
    corners = np.hstack(
        [below + half_widths + 1, above + half_widths + 1, below - half_widths, above - half_widths]
    )  # (k, 4)
    return corners.reshape(-1, 1)  # (4 k, 1)


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
    boundaries = _boundary_maps((pred, gt), box, disk.radius)  # (2, h', w') pred's map, then GT's
    pixels = _boundary_pixels(boundaries)  # (n,) ascending: the prediction's come first
    plane = boundaries[0].size
    pred_count = int(np.searchsorted(pixels, plane))
    gt_count = len(pixels) - pred_count
    if pred_count == 0 or gt_count == 0:
        # both empty: 1; exactly one empty: precision and recall are 0 and 1 (or 1 and 0), so F = 0
        return float(pred_count == gt_count)
    # each pixel is looked up in the other map, one plane further (mod 2)
    matched = _matched(
        np.remainder(pixels + plane, 2 * plane), boundaries.reshape(-1, boundaries.shape[2]), disk
    )
    precision = np.count_nonzero(matched[:pred_count]) / float(pred_count)
    recall = np.count_nonzero(matched[pred_count:]) / float(gt_count)
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


def _boundary_maps(masks: tuple[np.ndarray, ...], box: Box, margin: int) -> np.ndarray:
    """The full-frame boundary maps of the (H, W) uint8 0/1 ``masks`` (METRICS.md) inside ``box``, each
    with a zero margin around it: (k, h + 2 margin, w') uint8 0/1, w' = w + 2 margin rounded up to whole
    8-pixel words (for :func:`_boundary_pixels`). The margin holds no boundary pixel (all are in the box)
    and keeps every disk lookup inside its own map, so the maps can share one integral image.
    """
    top, bottom, left, right = box
    height, width = bottom - top, right - left
    framed_width = -(-(width + 2 * margin) // 8) * 8
    framed = np.zeros((len(masks), height + 2 * margin, framed_width), dtype=np.uint8)
    for mask, plane in zip(masks, framed, strict=True):
        _write_boundary(mask, box, plane[margin : margin + height, margin : margin + width])
    return framed


def _write_boundary(mask: np.ndarray, box: Box, boundary: np.ndarray) -> None:
    """Write the boundary map of ``mask`` inside ``box`` into the (h, w) view ``boundary``.

    A pixel is boundary iff the 2x2 block it opens (a = itself, b = E, c = S, d = SE) is not uniform:
    (a ^ b) | (c ^ d) | (a ^ c). Inside the frame the window keeps the row and column after the box. Where
    the frame ends, the last row and column are repeated: then d = b and c = a in the last row (only E is
    compared), d = c and b = a in the last column (only S), and the corner is uniform, as METRICS.md says.
    """
    top, bottom, left, right = box
    height, width = bottom - top, right - left
    window = mask[top : bottom + 1, left : right + 1]  # (h + 1, w + 1) unless the frame ends
    if window.shape != (height + 1, width + 1):
        extra_rows, extra_cols = height + 1 - window.shape[0], width + 1 - window.shape[1]
        window = cv2.copyMakeBorder(window, 0, extra_rows, 0, extra_cols, cv2.BORDER_REPLICATE)
    east = cv2.bitwise_xor(window[:, :-1], window[:, 1:])  # (h + 1, w) a ^ b per row
    cv2.bitwise_xor(window[:-1, :-1], window[1:, :-1], dst=boundary)  # a ^ c
    cv2.bitwise_or(boundary, east[:-1], dst=boundary)  # | a ^ b
    cv2.bitwise_or(boundary, east[1:], dst=boundary)  # | c ^ d


def _boundary_pixels(boundary: np.ndarray) -> np.ndarray:
    """Ascending flat indices of the set pixels of a C-contiguous (h, w) uint8 0/1 map, w a multiple of 8.

    Boundary pixels are sparse: the all-zero 8-pixel words are skipped first, 8 times fewer elements to
    scan than the pixels (``np.flatnonzero`` on a bool view, twice as fast as on the map itself)."""
    words = boundary.reshape(-1).view(np.uint64)  # (h w / 8,)
    occupied = np.flatnonzero(words != 0)  # (k,)
    within = np.flatnonzero(words[occupied].view(bool))  # (n,) index into the k occupied words' bytes
    return occupied[within >> 3] * 8 + (within & 7)


def _matched(pixels: np.ndarray, other: np.ndarray, disk: Disk) -> np.ndarray:
    """(n,) bool: which ``pixels`` (flat indices into the (h, w) uint8 0/1 map ``other``) have a set pixel
    of ``other`` in their disk, i.e. ``dilate(other, disk)`` at ``pixels``.

    A rectangle holds a pixel of ``other`` iff its sum in the integral image is positive. All pixels look up
    the disk's bounding square (empty: too far) and its largest rectangle (matched); only the few left
    between the two try the other rectangles, all at once.
    """
    width = other.shape[1]
    integral = cv2.integral(other).ravel()  # ((h + 1) * (w + 1),) int32, integral[y, x] = other[:y, :x].sum()
    at = pixels + pixels // width  # (n,) the same pixels in the integral image, one column wider
    corners = disk.corners(row_step=width + 1)  # (4 (k + 1), 1): the hull square, then the disk's rectangles
    first = _rectangle_sums(integral, at, corners[:8])  # (2, n): bounding square, largest rectangle
    matched = first[1] > 0  # (n,)
    undecided = np.flatnonzero((first[0] > 0) & ~matched)  # (m,) near, but not in the largest rectangle
    if len(undecided) and len(corners) > 8:
        matched[undecided] = _rectangle_sums(integral, at[undecided], corners[8:]).any(axis=0)
    return matched


def _rectangle_sums(integral: np.ndarray, at: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """(k, n) sums of ``integral`` over the k rectangles ``corners`` (4 k, 1) centred at ``at`` (n,)."""
    # corner-major (4 k, n) indices: the inner loops run over n, numpy's fast case
    values = integral.take(corners + at).reshape(len(corners) // 4, 4, len(at))  # (k, 4, n)
    return values[:, 0] + values[:, 3] - values[:, 1] - values[:, 2]
