"""Speed of J + F: veason_lib.metrics against a straightforward full-frame implementation.

The baseline works like the standard DAVIS/ReVOS code: a whole-image boundary map per mask and one
cv2.dilate by the disk per map and frame. Both run on the same 480x854 masks (blobby random objects
covering 2-30 % of the frame, the prediction a perturbed copy of the GT), on one OpenCV thread; the values
must be identical, and the script prints the speed-up.

    python benchmarks/metrics_speed.py --frames 200 --seed 0
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from veason_lib.metrics import boundary_tolerance, contour_accuracy, region_similarity

HEIGHT, WIDTH = 480, 854
COVERAGE = (0.02, 0.30)


# Masks ----------------------------------------------------------------------------------------------


def star_blob(shape: tuple[float, ...], centre: np.ndarray, radius: float) -> np.ndarray:
    """A star-shaped blob, (H, W) bool: its outline is radius * (1 + sum_k a_k cos(k theta + phi_k))."""
    ys, xs = np.ogrid[:HEIGHT, :WIDTH]
    theta = np.arctan2(ys - centre[0], xs - centre[1])  # (H, W)
    wobble = sum(a * np.cos(k * theta + phi) for k, (a, phi) in enumerate(shape, start=2))  # (H, W)
    return np.hypot(ys - centre[0], xs - centre[1]) <= radius * (1 + wobble)  # (H, W)


def mask_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A GT object covering 2-30 % of the frame and a prediction that perturbs its shape; (H, W) bool each."""
    harmonics = 5  # k = 2..6
    amplitudes = rng.uniform(0, 0.25, harmonics) / np.arange(2, 2 + harmonics)  # (5,) smooth outlines
    phases = rng.uniform(0, 2 * np.pi, harmonics)  # (5,)
    # area of the star = pi r^2 (1 + sum a_k^2 / 2): solve for r at the wanted coverage
    area = rng.uniform(*COVERAGE) * HEIGHT * WIDTH
    radius = np.sqrt(area / (np.pi * (1 + 0.5 * np.sum(amplitudes**2))))
    centre = rng.uniform([0.25 * HEIGHT, 0.2 * WIDTH], [0.75 * HEIGHT, 0.8 * WIDTH])  # (2,) y, x
    gt = star_blob(tuple(zip(amplitudes, phases, strict=True)), centre, radius)
    # the prediction: a slightly shifted, rescaled and reshaped copy, as a decent model would give
    pred_amplitudes = amplitudes + rng.normal(0, 0.01, harmonics)  # (5,)
    pred_phases = phases + rng.normal(0, 0.05, harmonics)  # (5,)
    pred_centre = centre + rng.normal(0, 0.03 * radius, 2)  # (2,)
    pred_shape = tuple(zip(pred_amplitudes, pred_phases, strict=True))
    pred = star_blob(pred_shape, pred_centre, radius * rng.uniform(0.93, 1.07))
    return pred, gt


def mask_stacks(frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W) bool prediction and GT stacks."""
    rng = np.random.default_rng(seed)
    pairs = [mask_pair(rng) for _ in range(frames)]
    return np.stack([p for p, _ in pairs]), np.stack([g for _, g in pairs])


# Baseline: whole frames ---------------------------------------------------------------------------------


def full_frame_boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary map over the whole (H, W) frame: differs from E, S or SE (METRICS.md edge rules)."""
    east, south, south_east = (np.zeros_like(mask) for _ in range(3))
    east[:, :-1], south[:-1, :], south_east[:-1, :-1] = mask[:, 1:], mask[1:, :], mask[1:, 1:]
    boundary = (mask ^ east) | (mask ^ south) | (mask ^ south_east)  # (H, W)
    boundary[-1, :] = mask[-1, :] ^ east[-1, :]
    boundary[:, -1] = mask[:, -1] ^ south[:, -1]
    boundary[-1, -1] = False
    return boundary


def full_frame_scores(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """J and F per frame of (T, H, W) bool stacks, dilating whole frames."""
    radius = boundary_tolerance(HEIGHT, WIDTH)
    axis = np.arange(-radius, radius + 1)
    disk = (axis[:, None] ** 2 + axis[None, :] ** 2 <= radius**2).astype(np.uint8)  # (2r+1, 2r+1)
    j_scores, f_scores = np.ones(len(pred)), np.empty(len(pred))  # (T,) each
    for t, (p, g) in enumerate(zip(pred, gt, strict=True)):
        union = np.count_nonzero(p | g)
        if union:
            j_scores[t] = np.count_nonzero(p & g) / union
        f_scores[t] = full_frame_f(full_frame_boundary(p), full_frame_boundary(g), disk)
    return j_scores, f_scores


def full_frame_f(pred_boundary: np.ndarray, gt_boundary: np.ndarray, disk: np.ndarray) -> float:
    """F from two (H, W) boundary maps by whole-frame dilation."""
    pred_count, gt_count = np.count_nonzero(pred_boundary), np.count_nonzero(gt_boundary)
    if pred_count == 0 or gt_count == 0:
        return float(pred_count == gt_count)
    pred_dilated = cv2.dilate(pred_boundary.view(np.uint8), disk).view(bool)  # (H, W)
    gt_dilated = cv2.dilate(gt_boundary.view(np.uint8), disk).view(bool)  # (H, W)
    precision = np.count_nonzero(pred_boundary & gt_dilated) / float(pred_count)
    recall = np.count_nonzero(gt_boundary & pred_dilated) / float(gt_count)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


# Timing -----------------------------------------------------------------------------------------------


def best_time(fn: Callable[..., Any], *args: Any, repeats: int) -> tuple[Any, float]:
    """Result and the best CPU time of ``repeats`` runs: the least disturbed by other jobs on the machine."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        result = fn(*args)
        times.append(time.process_time() - start)
    return result, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="frames of 480x854")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each; the best counts")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core for both, as the standard code runs per worker process
    pred, gt = mask_stacks(args.frames, args.seed)
    coverage = gt.mean(axis=(1, 2))  # (T,)
    (base_j, base_f), base_s = best_time(full_frame_scores, pred, gt, repeats=args.repeats)
    fast_j, fast_j_s = best_time(region_similarity, pred, gt, repeats=args.repeats)
    fast_f, fast_f_s = best_time(contour_accuracy, pred, gt, repeats=args.repeats)
    if not (np.array_equal(base_j, fast_j) and np.array_equal(base_f, fast_f)):
        raise SystemExit("values differ between the full-frame and the fast implementation")
    fast_s = fast_j_s + fast_f_s
    print(f"{args.frames} frames {HEIGHT}x{WIDTH}, GT coverage {coverage.min():.1%}-{coverage.max():.1%}")
    print(f"mean J {fast_j.mean():.4f}  mean F {fast_f.mean():.4f}  (identical in both)")
    print(f"CPU seconds, best of {args.repeats} runs, one thread:")
    print(f"full-frame: {base_s:.3f} s ({args.frames / base_s:.0f} frames/s)")
    print(f"fast:       {fast_s:.3f} s ({args.frames / fast_s:.0f} frames/s)", end="")
    print(f"  [J {fast_j_s:.3f} s, F {fast_f_s:.3f} s]")
    print(f"speed-up:   {base_s / fast_s:.1f}x")


if __name__ == "__main__":
    main()
