"""Per-frame region similarity J, contour accuracy F and the ReVOS robustness R (spec: METRICS.md).

The values equal those of the standard DAVIS/MeViS/ReVOS evaluation code bit for bit, so published numbers
stay comparable. Each function takes masks of shape (H, W) or (T, H, W) and returns a (T,) float64 array;
a 2-D input is one frame and gives a (1,) array.

How they stay fast (``benchmarks/metrics_speed.py``): the inner loops are compiled with numba, and each
pass reads its pixels once.

- J: one pass over both frames adds P, G and P & G into per-column byte counters; the three areas are
  their sums. No mask is written.
- F does not dilate whole frames. Every boundary pixel lies in the bounding box of the two masks, grown by
  one pixel towards the origin, so both boundary maps are written for that box only, each framed by a zero
  margin of r pixels. "A boundary pixel of the other map within the disk of radius r" is then answered by
  the integral image of the other framed map, the disk being a union of a few centred rectangles: the largest
  rectangle settles most pixels (matched), the square around the disk most others (too far), and only the
  rest try the other rectangles. The count is the one the full-frame dilation gives.
- R: one pass counts the predicted pixels where G = 0 and sums G - 1 where G >= 2; the published uint8
  arithmetic is 255 times the first plus the second, R_bin the first alone.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numba
import numpy as np

BOUNDARY_TOLERANCE = 0.008  # fraction of the image diagonal (METRICS.md)
FOREGROUND_EPS = 1e-6  # the standard code's guard against an empty foreground
PUBLISHED_FP_WEIGHT = 255  # predictions saved as 0/255 PNGs were scored without binarising (METRICS.md)

Box = tuple[int, int, int, int]  # top, bottom, left, right: rows [top, bottom), columns [left, right)

# Compiled loops: numba caches them on disk, so only the first process on a machine compiles (a few
# seconds). Loops over unsigned indices of 1-D rows are the ones LLVM vectorises.
_compiled = numba.njit(cache=True, nogil=True)
_inlined = numba.njit(cache=True, nogil=True, inline="always")
_u64 = numba.uint64


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """J per frame: |P ∩ G| / |P ∪ G| of the masks binarised with ``!= 0``; 1 where both are empty."""
    pred, gt = _binary_frames(pred, "pred"), _binary_frames(gt, "gt")
    _check_same_shape(pred=pred, gt=gt)
    scores = np.ones(len(pred))  # (T,) float64
    for t, (p, g) in enumerate(zip(pred, gt, strict=True)):
        pred_area, gt_area, intersection = _areas(p, g)
        union = pred_area + gt_area - intersection
        if union > 0:
            scores[t] = intersection / union
    return scores


def contour_accuracy(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """F per frame: boundary F-measure at tolerance ``boundary_tolerance(H, W)`` (METRICS.md rules)."""
    pred, gt = _binary_frames(pred, "pred"), _binary_frames(gt, "gt")
    _check_same_shape(pred=pred, gt=gt)
    disk = Disk.of_radius(boundary_tolerance(*pred.shape[1:]))
    scores = np.empty(len(pred))  # (T,) float64
    for t, (p, g) in enumerate(zip(pred, gt, strict=True)):
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
    pred = _binary_frames(pred, "pred")
    if gt.dtype not in (np.bool_, np.uint8):
        # published: the instance-count map wrapped to uint8, as the standard code sums it; R_bin: G != 0
        gt = gt.astype(np.uint8) if fp_weight == PUBLISHED_FP_WEIGHT else gt != 0
    target = np.ascontiguousarray(gt).view(np.uint8)  # only G = 0 counts for R_bin, so counts may stay
    foreground = np.ascontiguousarray(
        foreground if foreground.dtype in (np.bool_, np.uint8) else foreground != 0
    )
    scores = np.empty(len(pred))  # (T,) float64
    for t, (p, g, f) in enumerate(zip(pred, target, foreground.view(np.uint8), strict=True)):
        outside, excess, area = _robustness_counts(p, g, f)
        # the published (1 - G) * 255 in uint8 is 255 where G = 0 and G - 1 where G >= 1 (mod 256)
        false_positives = outside if fp_weight == 1 else PUBLISHED_FP_WEIGHT * outside + excess
        scores[t] = max(1 - false_positives / (area + FOREGROUND_EPS), 0.0)
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
        """(4 (k + 1),) int64 flat offsets of the corners of the disk's bounding square, then of each
        rectangle, in an integral image I with rows ``row_step`` apart: the sum over rectangle j centred at
        flat index p is I[p + c[4j]] - I[p + c[4j+1]] - I[p + c[4j+2]] + I[p + c[4j+3]]."""
        return _rectangle_corners(((self.radius, self.radius), *self.rectangles), row_step)


@functools.cache  # one entry per framed width: a few hundred small arrays at most
def _rectangle_corners(rectangles: tuple[tuple[int, int], ...], row_step: int) -> np.ndarray:
    """(4 k,) int64 corner offsets of k centred (half_height, half_width) rectangles, see :meth:`Disk.corners`."""
    half_heights, half_widths = np.array(rectangles, dtype=np.int64).T  # (k,) each
    below, above = (half_heights + 1) * row_step, -half_heights * row_step  # (k,) each
    corners = [below + half_widths + 1, above + half_widths + 1, below - half_widths, above - half_widths]
    return np.stack(corners, axis=1).reshape(-1)  # (k, 4) -> (4 k,)


# Input checks ---------------------------------------------------------------------------------------------


def _frames(mask: np.ndarray, name: str) -> np.ndarray:
    """(H, W) or (T, H, W) -> (T, H, W) view."""
    mask = np.asarray(mask)
    if mask.ndim == 2:
        return mask[None]  # (1, H, W)
    if mask.ndim != 3:
        raise ValueError(f"{name}: expected an (H, W) or (T, H, W) mask, got shape {mask.shape}")
    return mask


def _binary_frames(mask: np.ndarray, name: str) -> np.ndarray:
    """(T, H, W) C-contiguous uint8 0/1, binarised with ``!= 0``; a contiguous bool stack is viewed, not copied."""
    mask = _frames(mask, name)
    binary = mask if mask.dtype == bool else mask != 0
    return np.ascontiguousarray(binary).view(np.uint8)


def _check_same_shape(**masks: np.ndarray) -> None:
    shapes = {name: mask.shape for name, mask in masks.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"masks differ in shape: {shapes}")


# J ----------------------------------------------------------------------------------------------------------


@_compiled
def _areas(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int]:
    """|P|, |G| and |P ∩ G| of two (H, W) uint8 0/1 masks, in one pass (:func:`_column_totals`)."""
    counters = np.zeros((3, pred.shape[1]), np.uint8)  # a pixel adds at most 1: bytes, emptied every 255 rows
    return _column_totals(pred, gt, gt, _AREA_COUNTS, counters, 255)


@_inlined
def _add_area_row(p: np.ndarray, g: np.ndarray, counters: np.ndarray, width: int) -> None:  # P, G, P & G
    pred_column, gt_column, both_column = counters[0], counters[1], counters[2]
    for x in range(_u64(0), _u64(width)):
        pred_column[x] += p[x]
        gt_column[x] += g[x]
        both_column[x] += p[x] & g[x]


_AREA_COUNTS, _ROBUSTNESS_COUNTS = 0, 1  # which row function :func:`_column_totals` adds


@_compiled
def _column_totals(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, counts: int, counters: np.ndarray, rows_per_flush: int
) -> tuple[int, int, int]:
    """Totals of three per-pixel counts over (H, W) uint8 frames ``a``, ``b``, ``c``, in one pass.

    Each row is added into the (3, W) per-column ``counters`` (one vector add per 16 or 32 pixels) by
    :func:`_add_area_row` or :func:`_add_robustness_row`; they are emptied into the totals every
    ``rows_per_flush`` rows, before one could overflow. No mask is written.
    """
    height, width = a.shape
    totals = np.zeros(3, np.int64)
    for first in range(0, height, rows_per_flush):
        counters[:] = 0
        for y in range(first, min(first + rows_per_flush, height)):
            if counts == _AREA_COUNTS:
                _add_area_row(a[y], b[y], counters, width)
            else:
                _add_robustness_row(a[y], b[y], c[y], counters, width)
        for k in range(3):
            for x in range(width):
                totals[k] += counters[k, x]
    return totals[0], totals[1], totals[2]


# F ----------------------------------------------------------------------------------------------------------


def _frame_contour_accuracy(pred: np.ndarray, gt: np.ndarray, disk: Disk) -> float:
    """F of one frame, (H, W) uint8 0/1 masks; the empty cases as the standard code scores them."""
    box = _boundary_box(pred, gt)
    if box is None:
        return 1.0  # both masks empty, so both boundaries are
    pred_map, gt_map = _boundary_maps(pred, gt, box, disk.radius)  # (h', w') each
    corners = disk.corners(row_step=pred_map.shape[1] + 1)
    # each map's pixels are looked up in the other map's integral image, made just before (still cached)
    pred_count, pred_matched = _count_matched(pred_map, _integral(gt_map), corners)
    gt_count, gt_matched = _count_matched(gt_map, _integral(pred_map), corners)
    if pred_count == 0 or gt_count == 0:
        # both empty: 1; exactly one empty: precision and recall are 0 and 1 (or 1 and 0), so F = 0
        return float(pred_count == gt_count)
    precision = pred_matched / float(pred_count)
    recall = gt_matched / float(gt_count)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _integral(boundary: np.ndarray) -> np.ndarray:
    """((h + 1) (w + 1),) int32 flat integral image of an (h, w) map: I[y, x] = boundary[:y, :x].sum()."""
    return cv2.integral(boundary).reshape(-1)


def _boundary_box(pred: np.ndarray, gt: np.ndarray) -> Box | None:
    """A box holding every boundary pixel of two (H, W) uint8 0/1 masks; None if both are empty.

    A boundary pixel differs from its E, S or SE neighbour, so it lies in the masks' bounding box or one
    row above / one column left of it.
    """
    top, bottom, columns = _occupied_rows_and_columns(pred, gt)
    if top < 0:
        return None
    cols = np.flatnonzero(columns)  # (n_cols,)
    return max(top - 1, 0), bottom, max(int(cols[0]) - 1, 0), int(cols[-1]) + 1


@_compiled
def _occupied_rows_and_columns(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, np.ndarray]:
    """First and last + 1 row holding a pixel of either (H, W) uint8 0/1 mask (-1, -1 if none), and the
    (W,) uint8 columns that hold one, in one pass: each row's union goes to a scratch row, OR-ed into the
    columns and tested 8 pixels at a time."""
    height, width = pred.shape
    union = np.zeros(-(-width // 8) * 8, np.uint8)  # one row's union, in whole 8-pixel words
    words = union.view(np.uint64)
    columns = np.zeros(width, np.uint8)
    top, bottom = -1, -1
    for y in range(height):
        _union_row(pred[y], gt[y], union, columns, width)
        occupied = _u64(0)
        for word in words:
            occupied |= word
        if occupied:
            bottom = y + 1
            if top < 0:
                top = y
    return top, bottom, columns


@_inlined
def _union_row(p: np.ndarray, g: np.ndarray, union: np.ndarray, columns: np.ndarray, width: int) -> None:
    for x in range(_u64(0), _u64(width)):
        union[x] = p[x] | g[x]
        columns[x] |= union[x]


def _boundary_maps(pred: np.ndarray, gt: np.ndarray, box: Box, margin: int) -> np.ndarray:
    """The full-frame boundary maps of two (H, W) uint8 0/1 masks (METRICS.md) inside ``box``, each with
    a zero margin around it: (2, h + 2 margin, w') uint8 0/1, w' = w + 2 margin rounded up to whole 8-pixel
    words (for :func:`_count_matched`). The margin holds no boundary pixel (all are in the box) and keeps
    every disk lookup inside the map's integral image.
    """
    top, bottom, left, right = box
    framed_width = -(-(right - left + 2 * margin) // 8) * 8
    framed = np.empty((2, bottom - top + 2 * margin, framed_width), dtype=np.uint8)
    for mask, plane in zip((pred, gt), framed, strict=True):
        _write_boundary(mask, top, bottom, left, right, plane, margin)
    return framed


@_compiled
def _write_boundary(
    mask: np.ndarray, top: int, bottom: int, left: int, right: int, plane: np.ndarray, margin: int
) -> None:
    """Write the boundary map of the (H, W) ``mask`` inside the box into ``plane``, ``margin`` in, and
    zeros around it (the interior is written once, not zeroed first).

    A pixel is boundary iff the 2x2 block it opens (a = itself, b = E, c = S, d = SE) is not uniform:
    (a ^ b) | (a ^ c) | (a ^ d). Where the frame ends the last row and column are repeated: then c = a and
    d = b in the last row (only E is compared), b = a and d = c in the last column (only S), and the corner
    is uniform, as METRICS.md says.
    """
    height, width = mask.shape
    inner = min(right, width - 1)  # the box's columns that have an east neighbour
    plane[:margin] = 0
    plane[margin + bottom - top :] = 0
    for y in range(top, bottom):
        below = min(y + 1, height - 1)
        row = plane[margin + y - top]
        row[:margin] = 0
        row[margin + right - left :] = 0
        out = row[margin:]
        _write_boundary_row(mask[y, left:], mask[below, left:], out, inner - left)
        if right == width:  # the last column: b = a, d = c
            out[width - 1 - left] = mask[y, width - 1] ^ mask[below, width - 1]


@_inlined
def _write_boundary_row(a: np.ndarray, c: np.ndarray, out: np.ndarray, count: int) -> None:
    for x in range(_u64(0), _u64(count)):
        out[x] = (a[x] ^ a[x + _u64(1)]) | (a[x] ^ c[x]) | (a[x] ^ c[x + _u64(1)])


def _set_bytes_table() -> tuple[np.ndarray, np.ndarray]:
    """For each 8-bit flag set: how many bits are set, and at which positions (padded with 0)."""
    flags = np.arange(256)[:, None] >> np.arange(8) & 1  # (256, 8) bit j of each value
    positions = np.zeros((256, 8), dtype=np.int64)
    for value, bits in enumerate(flags):
        set_bits = np.flatnonzero(bits)
        positions[value, : len(set_bits)] = set_bits
    return flags.sum(axis=1), positions  # (256,), (256, 8)


_SET_COUNT, _SET_POSITIONS = _set_bytes_table()
_GATHER_FLAGS = np.uint64(0x0102040810204080)  # (word * this) >> 56: bit j = byte j of a 0/1 word


@_compiled
def _count_matched(boundary: np.ndarray, other: np.ndarray, corners: np.ndarray) -> tuple[int, int]:
    """(pixels, matched pixels) of the framed (h, w) ``boundary`` map, w a multiple of 8.

    A pixel is matched if the other map has a pixel in its disk: some rectangle of the disk, summed in
    ``other``, that map's flat integral image (rows w + 1 apart; ``corners`` from :meth:`Disk.corners`),
    is positive. Boundary pixels are sparse: the all-zero 8-pixel words are skipped, and the set bytes of
    the others are found by a table lookup rather than one unpredictable branch per byte.
    """
    height, width = boundary.shape
    words = boundary.reshape(-1).view(np.uint64)
    words_per_row = width // 8
    count, matched = 0, 0
    for y in range(height):
        for k in range(words_per_row):
            word = words[y * words_per_row + k]
            if word == 0:
                continue
            flags = (word * _GATHER_FLAGS) >> _u64(56)
            count += _SET_COUNT[flags]
            at = y * (width + 1) + 8 * k  # the word's first pixel in the integral image
            for j in range(_SET_COUNT[flags]):
                matched += _in_disk(other, at + _SET_POSITIONS[flags, j], corners)
    return count, matched


@_inlined
def _in_disk(integral: np.ndarray, at: int, corners: np.ndarray) -> int:
    """1 if the disk centred at flat index ``at`` holds a pixel: the largest rectangle (index 1), else
    nothing if the bounding square (index 0) is empty, else any other rectangle."""
    if _rectangle_sum(integral, at, corners, 1) > 0:
        return 1
    if _rectangle_sum(integral, at, corners, 0) == 0:
        return 0
    for rectangle in range(2, corners.size // 4):
        if _rectangle_sum(integral, at, corners, rectangle) > 0:
            return 1
    return 0


@_inlined
def _rectangle_sum(integral: np.ndarray, at: int, corners: np.ndarray, rectangle: int) -> int:
    c = 4 * rectangle
    return (
        integral[at + corners[c]]
        - integral[at + corners[c + 1]]
        - integral[at + corners[c + 2]]
        + integral[at + corners[c + 3]]
    )


# R ----------------------------------------------------------------------------------------------------------


@_compiled
def _robustness_counts(pred: np.ndarray, target: np.ndarray, foreground: np.ndarray) -> tuple[int, int, int]:
    """(predicted pixels where target = 0, sum of target - 1 over predicted pixels where target >= 2,
    foreground pixels) of (H, W) uint8 frames, the prediction 0/1, in one pass (:func:`_column_totals`)."""
    counters = np.zeros((3, pred.shape[1]), np.uint16)  # a pixel adds at most 254: emptied every 257 rows
    return _column_totals(pred, target, foreground, _ROBUSTNESS_COUNTS, counters, 257)


@_inlined
def _add_robustness_row(
    p: np.ndarray, g: np.ndarray, f: np.ndarray, counters: np.ndarray, width: int
) -> None:
    outside, excess, area = counters[0], counters[1], counters[2]
    for x in range(_u64(0), _u64(width)):
        predicted, target = np.uint16(p[x]), np.uint16(g[x])
        outside[x] += predicted * (target == 0)
        excess[x] += predicted * (max(target, 1) - 1)
        area[x] += f[x] != 0
