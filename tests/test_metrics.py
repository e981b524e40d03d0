"""J, F and R against hand-checked cases (every edge case of METRICS.md) and a plain reference."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from veason_lib.metrics import (
    Disk,
    _areas,
    _boundary_box,
    _boundary_maps,
    _count_matched,
    _robustness_counts,
    boundary_tolerance,
    contour_accuracy,
    region_similarity,
    robustness,
)

# Reference: the definitions of METRICS.md written out literally (scipy dilation, no cropping) ---------------


def reference_boundary(mask: np.ndarray) -> np.ndarray:
    """A pixel differs from whichever of its E, S, SE neighbours exist; (H, W) bool."""
    mask = mask != 0
    boundary = np.zeros_like(mask)
    boundary[:, :-1] |= mask[:, :-1] != mask[:, 1:]  # east
    boundary[:-1, :] |= mask[:-1, :] != mask[1:, :]  # south
    boundary[:-1, :-1] |= mask[:-1, :-1] != mask[1:, 1:]  # south-east
    return boundary


def reference_f(pred: np.ndarray, gt: np.ndarray) -> float:
    radius = int(np.ceil(0.008 * np.linalg.norm(pred.shape)))
    axis = np.arange(-radius, radius + 1)
    disk = axis[:, None] ** 2 + axis[None, :] ** 2 <= radius**2  # (2r+1, 2r+1)
    pred_b, gt_b = reference_boundary(pred), reference_boundary(gt)
    n_pred, n_gt = pred_b.sum(), gt_b.sum()
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    precision = (pred_b & ndimage.binary_dilation(gt_b, disk)).sum() / n_pred
    recall = (gt_b & ndimage.binary_dilation(pred_b, disk)).sum() / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def reference_j(pred: np.ndarray, gt: np.ndarray) -> float:
    pred, gt = pred != 0, gt != 0
    union = (pred | gt).sum()
    return 1.0 if union == 0 else (pred & gt).sum() / union


def square(shape: tuple[int, int], top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


# Tolerance and boundary map ---------------------------------------------------------------------------------


def test_tolerance_radius_follows_the_diagonal() -> None:
    assert boundary_tolerance(48, 64) == 1
    assert boundary_tolerance(480, 854) == 8
    assert boundary_tolerance(720, 1280) == 12


def test_disk_rectangles_cover_exactly_the_disk() -> None:
    for radius in range(0, 13):
        covered = np.zeros((2 * radius + 1, 2 * radius + 1), dtype=bool)
        for half_height, half_width in Disk.of_radius(radius).rectangles:
            rows = slice(radius - half_height, radius + half_height + 1)
            covered[rows, radius - half_width : radius + half_width + 1] = True
        axis = np.arange(-radius, radius + 1)
        assert np.array_equal(covered, axis[:, None] ** 2 + axis[None, :] ** 2 <= radius**2), radius


def test_boundary_of_a_square_is_the_ring_one_pixel_up_and_left() -> None:
    mask = square((8, 8), 2, 3, 3)  # rows 2-4, cols 3-5
    expected = np.zeros((8, 8), dtype=bool)
    expected[1:5, 2:6] = True
    expected[2:4, 3:5] = False  # ring of the box rows 1-4, cols 2-5
    assert np.array_equal(_full_boundary(mask), expected)
    assert np.array_equal(reference_boundary(mask), expected)


def test_image_border_is_never_a_boundary() -> None:
    mask = np.zeros((4, 5), dtype=bool)
    mask[:, 4] = True  # the last column: compared only southwards, where it never changes
    mask[3, :] = True  # the last row: compared only eastwards
    expected = np.zeros((4, 5), dtype=bool)
    expected[0:3, 3] = True  # differs from its east neighbour
    expected[2, 0:3] = True  # differs from its south neighbour
    assert np.array_equal(_full_boundary(mask), expected)
    assert not _full_boundary(np.ones((6, 7), dtype=bool)).any()  # all-ones: empty boundary


def _full_boundary(mask: np.ndarray) -> np.ndarray:
    """The module's boundary map of ``mask`` over the whole frame (its box, placed back)."""
    binary = (mask != 0).view(np.uint8)  # (H, W) 0/1, as the module takes it
    box = _boundary_box(binary, binary)
    full = np.zeros(mask.shape, dtype=bool)
    if box is not None:
        top, bottom, left, right = box
        full[top:bottom, left:right] = _boundary_maps(binary, binary, box, margin=0)[
            0, :, : right - left
        ]  # words
    return full


def test_boundary_maps_rows_are_whole_words_with_a_zero_margin() -> None:
    mask = square((30, 40), 5, 7, 9).view(np.uint8)  # (30, 40) 0/1
    box = _boundary_box(mask, mask)
    framed = _boundary_maps(mask, np.zeros_like(mask), box, margin=3)  # (2, h + 6, 16)
    top, bottom, left, right = box
    assert framed.shape == (2, bottom - top + 6, 16) and framed.flags.c_contiguous  # 10 + 6 -> 16 columns
    inner = framed[0, 3:-3, 3 : 3 + right - left]
    assert inner.sum() == framed.sum() == 36  # the ring of the 10x10 box, nothing in the margins
    assert not framed[1].any()


def test_matching_counts_every_boundary_pixel_and_its_disk_hits() -> None:
    # random sparse maps of many widths (words fully set, empty, partial): counts equal a brute force
    rng = np.random.default_rng(3)
    for width in (8, 16, 48):
        for density in (0.0, 0.01, 0.3, 1.0):
            radius = int(rng.integers(1, 4))
            disk = Disk.of_radius(radius)
            maps = (rng.random((2, 13, width)) < density).astype(np.uint8)  # (2, 13, width)
            maps[:, :radius], maps[:, -radius:], maps[:, :, :radius], maps[:, :, width - radius :] = (
                0,
                0,
                0,
                0,
            )
            boundary, other = maps
            integral = cv2.integral(other).reshape(-1)
            matched = boundary & ndimage.binary_dilation(other, disk_mask(radius))
            expected = (boundary.sum(), matched.sum())
            assert _count_matched(boundary, integral, disk.corners(width + 1)) == expected, (width, density)


def test_counts_go_beyond_what_the_column_counters_hold() -> None:
    # 600 rows: the per-column counters are emptied twice (J: bytes every 255 rows; R: uint16 every 257 rows,
    # which 254 a pixel would overflow by row 259)
    rng = np.random.default_rng(5)
    pred, gt = rng.random((600, 37)) < 0.9, rng.random((600, 37)) < 0.9
    expected = (pred.sum(), gt.sum(), (pred & gt).sum())
    assert _areas(pred.view(np.uint8), gt.view(np.uint8)) == expected
    ones = np.ones((600, 37), dtype=np.uint8)
    assert _areas(ones, ones) == (600 * 37,) * 3
    instances = np.full((600, 37), 255, dtype=np.uint8)  # 255 overlapping instances: G - 1 = 254
    assert _robustness_counts(ones, instances, ones) == (0, 254 * 600 * 37, 600 * 37)


def disk_mask(radius: int) -> np.ndarray:
    axis = np.arange(-radius, radius + 1)
    return axis[:, None] ** 2 + axis[None, :] ** 2 <= radius**2  # (2r+1, 2r+1)


# J and F edge cases -----------------------------------------------------------------------------------------


def test_both_empty_score_one() -> None:
    empty = np.zeros((48, 64), dtype=np.uint8)
    assert region_similarity(empty, empty).tolist() == [1.0]
    assert contour_accuracy(empty, empty).tolist() == [1.0]


def test_one_empty_scores_zero() -> None:
    gt = square((48, 64), 10, 10, 10)
    empty = np.zeros_like(gt)
    assert region_similarity(empty, gt).tolist() == [0.0]
    assert contour_accuracy(empty, gt).tolist() == [0.0]
    assert contour_accuracy(gt, empty).tolist() == [0.0]


def test_full_frame_gt_against_empty_prediction_is_j0_f1() -> None:
    full, empty = np.ones((48, 64), dtype=bool), np.zeros((48, 64), dtype=bool)
    assert region_similarity(empty, full).tolist() == [0.0]
    assert contour_accuracy(empty, full).tolist() == [1.0]  # both boundaries empty: the standard behaviour
    assert contour_accuracy(full, square((48, 64), 5, 5, 5)).tolist() == [0.0]  # one boundary empty


def test_masks_are_binarised_with_not_equal_zero() -> None:
    gt = square((48, 64), 10, 10, 10)
    pred = gt.astype(np.uint8) * 255
    pred[0, 0] = 7  # any non-zero value is foreground
    assert region_similarity(pred, gt)[0] == pytest.approx(100 / 101)
    assert region_similarity(gt.astype(np.int32) * 2, gt).tolist() == [1.0]


def test_tolerance_decides_what_matches() -> None:
    # GT ring: the box rows 9-19, cols 9-19 (40 pixels); the prediction is shifted 2 pixels east.
    gt, pred = square((48, 64), 10, 10, 10), square((48, 64), 10, 12, 10)
    # r = 1: rows 9 and 19 match 10 of 11, the west column 2 of 9 (its ends), the east column none
    assert contour_accuracy(pred, gt)[0] == pytest.approx(22 / 40)
    assert contour_accuracy(square((48, 64), 10, 11, 10), gt).tolist() == [1.0]  # within 1 pixel
    # the same shapes in a 480x854 frame: r = 8 covers the shift
    big_gt, big_pred = square((480, 854), 10, 10, 10), square((480, 854), 10, 12, 10)
    assert contour_accuracy(big_pred, big_gt).tolist() == [1.0]


def test_disk_is_euclidean_not_square() -> None:
    # single pixels at (20, 20) and (21, 21): boundary blocks rows/cols 19-20 and 20-21; at r = 1 the
    # diagonal neighbour (distance sqrt 2) does not match, so 3 of 4 match each way
    gt, pred = square((48, 64), 20, 20, 1), square((48, 64), 21, 21, 1)
    assert contour_accuracy(pred, gt)[0] == pytest.approx(0.75)


def test_frames_are_scored_separately() -> None:
    gt = np.stack([square((48, 64), 10, 10, 10), np.zeros((48, 64), dtype=bool)])  # (2, 48, 64)
    pred = np.stack([square((48, 64), 10, 10, 5), np.zeros((48, 64), dtype=bool)])
    assert region_similarity(pred, gt).tolist() == [0.25, 1.0]
    assert contour_accuracy(pred, gt).shape == (2,)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="shape"):
        region_similarity(np.zeros((4, 5)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="expected an"):
        contour_accuracy(np.zeros((1, 2, 3, 4)), np.zeros((1, 2, 3, 4)))


# Randomized equality with the reference ---------------------------------------------------------------------


def random_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Noise, blobs, rectangles touching the border, full and empty frames."""
    kind = rng.integers(6)
    if kind == 0:
        return rng.random(shape) < rng.uniform(0.05, 0.95)
    if kind == 1:
        noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=rng.uniform(0.5, 4))
        return noise > rng.uniform(-0.2, 0.3) * noise.std()
    if kind == 2:
        top, left = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        mask = np.zeros(shape, dtype=bool)
        mask[top : top + rng.integers(1, shape[0] + 1), left:] = True  # reaches the last column
        return mask
    if kind == 3:
        return np.ones(shape, dtype=bool)
    if kind == 4:
        return np.zeros(shape, dtype=bool)
    mask = np.zeros(shape, dtype=bool)
    mask[rng.integers(shape[0]), rng.integers(shape[1])] = True  # one pixel, maybe in a corner
    return mask


def test_fast_j_and_f_equal_the_reference_on_random_masks() -> None:
    rng = np.random.default_rng(0)
    shapes = [(1, 1), (1, 7), (6, 1), (2, 2), (5, 9), (48, 64), (37, 23), (120, 150)]
    for trial in range(300):
        shape = shapes[trial % len(shapes)]
        pred, gt = random_mask(rng, shape), random_mask(rng, shape)
        if trial % 3 == 0:  # a perturbed copy: the common case of a good prediction
            pred = gt ^ (rng.random(shape) < 0.02)
        case = f"trial {trial}, shape {shape}"
        assert region_similarity(pred, gt)[0] == pytest.approx(reference_j(pred, gt), abs=1e-9), case
        assert contour_accuracy(pred, gt)[0] == pytest.approx(reference_f(pred, gt), abs=1e-9), case


def test_fast_f_equals_the_reference_at_480x854() -> None:
    rng = np.random.default_rng(1)
    noise = ndimage.gaussian_filter(rng.standard_normal((480, 854)), sigma=12)  # blobs, r = 8
    gt = noise > 0.3 * noise.std()
    pred = ndimage.binary_dilation(gt, iterations=3) ^ (rng.random(gt.shape) < 0.001)
    assert contour_accuracy(pred, gt)[0] == pytest.approx(reference_f(pred, gt), abs=1e-9)
    assert 0.0 < contour_accuracy(pred, gt)[0] < 1.0  # a case where the tolerance matters


def test_small_objects_at_the_frame_border_with_a_large_tolerance() -> None:
    # r = 8 at 480x854 exceeds these crops; objects touch the border, one side may be empty
    rng = np.random.default_rng(4)
    anchors = [(0, 0), (0, 850), (476, 0), (476, 850), (200, 400), (479, 853)]
    for trial, (top, left) in enumerate(anchors):
        gt = square((480, 854), top, left, int(rng.integers(1, 5)))
        pred = square((480, 854), max(top - 3, 0), max(left - 6, 0), int(rng.integers(1, 7)))
        if trial == 5:
            pred[:] = False
        case = f"anchor {(top, left)}"
        assert contour_accuracy(pred, gt)[0] == pytest.approx(reference_f(pred, gt), abs=1e-9), case
        assert contour_accuracy(gt, pred)[0] == pytest.approx(reference_f(gt, pred), abs=1e-9), case


def test_strided_and_transposed_masks_score_exactly_like_the_reference() -> None:
    # views that are not C-contiguous reach OpenCV with row strides; the values must not change
    rng = np.random.default_rng(2)
    for trial in range(40):
        pred, gt = random_mask(rng, (40, 30)).T, random_mask(rng, (40, 30)).T  # (30, 40) transposed
        saved = (pred.astype(np.uint8) * 255)[:, ::2]  # (30, 20) a 0/255 PNG, every other column
        case = f"trial {trial}"
        assert contour_accuracy(pred, gt)[0] == reference_f(pred, gt), case
        assert region_similarity(pred, gt)[0] == reference_j(pred, gt), case
        assert contour_accuracy(saved, gt[:, ::2])[0] == reference_f(saved, gt[:, ::2]), case
        assert region_similarity(saved, gt[:, ::2])[0] == reference_j(saved, gt[:, ::2]), case


# Robustness R -----------------------------------------------------------------------------------------------


def test_empty_prediction_has_robustness_one() -> None:
    gt = square((10, 10), 2, 2, 3)
    empty = np.zeros_like(gt)
    assert robustness(empty, gt, gt).tolist() == [1.0]
    assert robustness(empty, gt, gt, fp_weight=1).tolist() == [1.0]


def test_published_r_counts_each_false_positive_255_times() -> None:
    gt = square((10, 10), 0, 0, 2)  # 4 pixels
    foreground = square((10, 10), 0, 0, 4)  # 16 pixels
    pred = gt.copy()
    pred[9, 9] = True  # one false positive
    assert robustness(pred, gt, foreground).tolist() == [0.0]  # 255 >= 16
    assert robustness(pred, gt, foreground, fp_weight=1)[0] == pytest.approx(1 - 1 / 16)
    big = np.ones((40, 40), dtype=bool)  # FG 1600: 255 / 1600
    assert robustness(np.pad(pred, 15), np.pad(gt, 15), big)[0] == pytest.approx(1 - 255 / 1600)


def test_published_r_keeps_the_uint8_wrapping_of_overlapping_instances() -> None:
    first, second = square((40, 40), 0, 0, 4), square((40, 40), 2, 2, 4)  # overlap: rows/cols 2-3
    third = square((40, 40), 3, 3, 1)  # a third instance on (3, 3): G = 3 there
    instances = np.stack([first, second, third]).sum(axis=0, dtype=np.uint8)  # (40, 40) uint8 sum
    foreground = np.ones((40, 40), dtype=bool)  # 1600
    pred = np.zeros((40, 40), dtype=bool)
    pred[2, 2] = True  # G = 2: (1 - 2) wraps to 255, 255 * 255 wraps to 1
    pred[3, 3] = True  # G = 3: 254 * 255 wraps to 2
    assert robustness(pred, instances, foreground)[0] == pytest.approx(1 - 3 / (1600 + 1e-6), abs=1e-12)
    assert robustness(pred, instances != 0, foreground, fp_weight=1).tolist() == [1.0]  # union: no FP


def test_robustness_with_empty_foreground_and_a_false_positive_is_zero() -> None:
    pred = square((10, 10), 0, 0, 1)
    empty = np.zeros_like(pred)
    assert robustness(pred, empty, empty).tolist() == [0.0]
    assert robustness(pred, empty, empty, fp_weight=1).tolist() == [0.0]


def test_robustness_takes_a_foreground_already_reduced_by_the_reader() -> None:
    # a decoded RLE of shape (H, W, k) must be reduced to one (H, W) mask before scoring
    layers = np.stack([square((10, 10), 0, 0, 2), square((10, 10), 1, 1, 2)], axis=-1)  # (10, 10, 2)
    pred = square((10, 10), 8, 8, 1)  # one false positive
    with pytest.raises(ValueError, match="shape"):
        robustness(pred, np.zeros_like(pred), layers)
    reduced = layers.any(axis=-1)  # union: 7 pixels
    assert robustness(pred, np.zeros_like(pred), reduced, fp_weight=1)[0] == pytest.approx(1 - 1 / 7)


def test_unknown_fp_weight_is_an_error() -> None:
    mask = np.zeros((3, 3), dtype=bool)
    with pytest.raises(ValueError, match="fp_weight"):
        robustness(mask, mask, mask, fp_weight=2)


def reference_r(pred: np.ndarray, gt: np.ndarray, foreground: np.ndarray, fp_weight: int) -> float:
    """METRICS.md's R written out literally: uint8 arithmetic for the published one, sets for R_bin."""
    if fp_weight == 1:
        false_positives = ((pred != 0) & (gt == 0)).sum()
    else:
        saved = np.where(pred != 0, 255, 0).astype(np.uint8)  # the 0/255 PNG
        false_positives = ((np.uint8(1) - gt.astype(np.uint8)) * saved).sum(dtype=np.int64)  # wraps
    return max(1 - false_positives / ((foreground != 0).sum() + 1e-6), 0.0)


def test_robustness_equals_the_literal_arithmetic_on_random_instance_maps() -> None:
    rng = np.random.default_rng(6)
    for trial in range(200):
        shape = (int(rng.integers(1, 30)), int(rng.integers(1, 30)))
        counts = rng.integers(0, 5, size=shape) * (rng.random(shape) < rng.uniform(0, 1))  # 0-4 instances
        pred = rng.random(shape) < rng.uniform(0, 1)
        foreground = (counts > 0) | (rng.random(shape) < 0.3)
        if trial % 4 == 0:
            foreground[:] = False  # an empty foreground: R is 0 as soon as there is a false positive
        for gt in (counts.astype(np.uint8), counts.astype(np.int32), counts > 0):
            for fp_weight in (255, 1):
                saved = pred.astype(np.uint8) * 255  # predictions as 0/255 PNGs
                expected = reference_r(saved, gt, foreground, fp_weight)
                case = f"trial {trial}, gt {gt.dtype}, fp_weight {fp_weight}"
                assert robustness(saved, gt, foreground, fp_weight)[0] == expected, case
                assert robustness(pred, gt, foreground.astype(np.uint8), fp_weight)[0] == expected, case
