"""Speed of J + F: veason_lib.metrics against straightforward full-frame implementations.

Both baselines build a whole-image boundary map per mask and dilate it by the disk, once per map and frame:
- ``cv2.dilate``: what the standard davis2017-evaluation code (used by MeViS and ReVOS) runs; its
  ``skimage.morphology.binary_dilation`` call is commented out there in favour of cv2.dilate;
- ``scipy binary_dilation``: that older skimage call (scipy.ndimage underneath), far slower, so it is
  timed on the first ``--plain-frames`` frames only.
All run on the same 480x854 masks (blobby random objects covering 2-30 % of the frame, the prediction a
perturbed copy of the GT), on one OpenCV thread; the values must be identical. Timing: the frames are cut
into chunks, each chunk is timed once per repeat for every implementation in turn (interleaved, so load
from other jobs hits all alike); per implementation the median chunk time per frame of each repeat is
taken, and the best of those medians is reported. The library's compiled loops are single-threaded too;
their one-off compilation (or cache load) happens before the timing.

    python benchmarks/metrics_speed.py --frames 200 --seed 0
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np
from scipy import ndimage

from veason_lib.metrics import boundary_tolerance, contour_accuracy, region_similarity, robustness

HEIGHT, WIDTH = 480, 854
COVERAGE = (0.02, 0.30)
TARGET_RATIO = 10  # issue 2: at least 10x faster than the full-frame path, with identical values


# Masks ----------------------------------------------------------------------------------------------


def star_blob(shape: Sequence[tuple[float, float]], centre: np.ndarray, radius: float) -> np.ndarray:
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


def full_frame_scores(
    pred: np.ndarray, gt: np.ndarray, dilate: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """J and F per frame of (T, H, W) bool stacks, dilating whole frames with ``dilate(map, disk)``."""
    radius = boundary_tolerance(HEIGHT, WIDTH)
    axis = np.arange(-radius, radius + 1)
    disk = axis[:, None] ** 2 + axis[None, :] ** 2 <= radius**2  # (2r+1, 2r+1) bool
    j_scores, f_scores = np.ones(len(pred)), np.empty(len(pred))  # (T,) each
    for t, (p, g) in enumerate(zip(pred, gt, strict=True)):
        union = np.count_nonzero(p | g)
        if union:
            j_scores[t] = np.count_nonzero(p & g) / union
        f_scores[t] = full_frame_f(full_frame_boundary(p), full_frame_boundary(g), disk, dilate)
    return j_scores, f_scores


def full_frame_f(
    pred_boundary: np.ndarray,
    gt_boundary: np.ndarray,
    disk: np.ndarray,
    dilate: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> float:
    """F from two (H, W) bool boundary maps by whole-frame dilation."""
    pred_count, gt_count = np.count_nonzero(pred_boundary), np.count_nonzero(gt_boundary)
    if pred_count == 0 or gt_count == 0:
        return float(pred_count == gt_count)
    precision = np.count_nonzero(pred_boundary & dilate(gt_boundary, disk)) / float(pred_count)
    recall = np.count_nonzero(gt_boundary & dilate(pred_boundary, disk)) / float(gt_count)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def cv2_dilation(boundary: np.ndarray, disk: np.ndarray) -> np.ndarray:
    """(H, W) bool: the standard code's cv2.dilate of the uint8 map by the uint8 disk."""
    return cv2.dilate(boundary.view(np.uint8), disk.view(np.uint8)).view(bool)


def scipy_dilation(boundary: np.ndarray, disk: np.ndarray) -> np.ndarray:
    """(H, W) bool: skimage.morphology.binary_dilation, i.e. scipy.ndimage.binary_dilation."""
    return ndimage.binary_dilation(boundary, structure=disk)


def cv2_baseline(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return full_frame_scores(pred, gt, cv2_dilation)


def scipy_baseline(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return full_frame_scores(pred, gt, scipy_dilation)


def fast(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The library: region_similarity + contour_accuracy, as the evaluation calls them."""
    return region_similarity(pred, gt), contour_accuracy(pred, gt)


# R: the standard code's arithmetic on whole frames -------------------------------------------------------


def instance_stacks(gt: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A target of two instances that overlap (the GT and a shifted copy, summed in uint8) and the video's
    foreground (the target and another object): (T, H, W) uint8 and bool."""
    rng = np.random.default_rng(seed + 1)
    shifted = np.roll(gt, (int(rng.integers(5, 20)), int(rng.integers(5, 20))), axis=(1, 2))  # (T, H, W)
    instances = gt.astype(np.uint8) + shifted  # 2 where they overlap
    other = np.roll(gt, (HEIGHT // 3, WIDTH // 3), axis=(1, 2))  # another annotated object
    return instances, (instances > 0) | other


def plain_robustness(
    pred: np.ndarray, instances: np.ndarray, foreground: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Published R and R_bin per frame as the standard code computes them: the 0/255 prediction times
    (1 - G) in uint8 over the whole frame; R_bin with the union and a binary prediction."""
    published, binary = np.empty(len(pred)), np.empty(len(pred))  # (T,) each
    for t, (p, g, f) in enumerate(zip(pred, instances, foreground, strict=True)):
        area = np.count_nonzero(f) + 1e-6
        saved = p.astype(np.uint8) * np.uint8(255)  # (H, W) the 0/255 PNG
        false_positives = ((np.uint8(1) - g) * saved).sum(dtype=np.int64)  # uint8: wraps where G = 2
        published[t] = max(1 - false_positives / area, 0.0)
        binary[t] = max(1 - np.count_nonzero(p & (g == 0)) / area, 0.0)
    return published, binary


def fast_robustness(
    pred: np.ndarray, instances: np.ndarray, foreground: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The library, as the evaluator calls it: the instance sum for R, the union for R_bin."""
    return robustness(pred, instances, foreground), robustness(pred, instances > 0, foreground, fp_weight=1)


# Timing -----------------------------------------------------------------------------------------------

Scorer = Callable[..., tuple[np.ndarray, np.ndarray]]


def interleaved_timing(
    scorers: dict[str, tuple[Scorer, int]], inputs: tuple[np.ndarray, ...], chunk: int, repeats: int
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, float]]:
    """Scores of each scorer on its first ``frames`` frames, and its best-of-medians CPU seconds per frame.

    ``scorers``: name -> (scorer, frames), each called with a chunk of every (T, H, W) stack of
    ``inputs``. Chunk after chunk, every scorer that covers it runs in turn.
    """
    per_frame: dict[str, list[list[float]]] = {name: [] for name in scorers}
    scores: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in scorers}
    total = len(inputs[0])
    for repeat in range(repeats):
        for name in scorers:
            per_frame[name].append([])
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            for name, (scorer, frames) in scorers.items():
                if start >= frames:
                    continue
                begin = time.process_time()
                result = scorer(*(stack[start:stop] for stack in inputs))
                per_frame[name][repeat].append((time.process_time() - begin) / (stop - start))
                if repeat == 0:
                    scores[name].append(result)
    joined = {
        name: (np.concatenate([a for a, _ in r]), np.concatenate([b for _, b in r]))
        for name, r in scores.items()
    }
    best = {name: min(float(np.median(times)) for times in runs) for name, runs in per_frame.items()}
    return joined, best


def report(
    scores: dict[str, tuple[np.ndarray, np.ndarray]],
    seconds: dict[str, float],
    frames: dict[str, int],
    fast_name: str,
) -> float:
    """Check that every implementation's values equal the library's; print the table; return the ratio
    of the first (the standard code's path) to the library."""
    fast_a, fast_b = scores[fast_name]
    for name, (a, b) in scores.items():
        if not (np.array_equal(a, fast_a[: len(a)]) and np.array_equal(b, fast_b[: len(b)])):
            raise SystemExit(f"values differ between {name} and the fast implementation")
    for name, per_frame in seconds.items():
        ratio = per_frame / seconds[fast_name]
        print(
            f"{name:24s} {per_frame * 1e6:9.0f} us ({1 / per_frame:6.0f} frames/s, {frames[name]} frames)  {ratio:6.1f}x"
        )
    return next(iter(seconds.values())) / seconds[fast_name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="frames of 480x854")
    parser.add_argument("--plain-frames", type=int, default=20, help="frames for the slow scipy baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=10, help="frames per timed call")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each; the best median counts")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core for all, as the standard code runs per worker process
    pred, gt = mask_stacks(args.frames, args.seed)
    instances, foreground = instance_stacks(gt, args.seed)
    coverage = gt.mean(axis=(1, 2))  # (T,)
    fast(pred[:1], gt[:1])  # numba compiles, or loads its on-disk cache, once: outside the timing
    fast_robustness(pred[:1], instances[:1], foreground[:1])
    scorers = {
        "cv2.dilate full-frame": (cv2_baseline, args.frames),
        "scipy binary_dilation": (scipy_baseline, args.plain_frames),
        "fast (library)": (fast, args.frames),
    }
    scores, seconds = interleaved_timing(scorers, (pred, gt), args.chunk, args.repeats)
    fast_j, fast_f = scores["fast (library)"]
    print(f"{args.frames} frames {HEIGHT}x{WIDTH}, GT coverage {coverage.min():.1%}-{coverage.max():.1%}")
    print(f"mean J {fast_j.mean():.4f}  mean F {fast_f.mean():.4f}  (identical in all)")
    print(
        f"J + F, CPU time per frame, best of {args.repeats} medians over {args.chunk}-frame chunks, one thread:"
    )
    frames = {name: count for name, (_, count) in scorers.items()}
    ratio = report(scores, seconds, frames, "fast (library)")
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(
        f"J + F: {ratio:.1f}x faster than the full-frame cv2.dilate path; {verdict} the {TARGET_RATIO}x target"
    )

    r_scorers = {
        "plain uint8 arithmetic": (plain_robustness, args.frames),
        "fast (library)": (fast_robustness, args.frames),
    }
    scores, seconds = interleaved_timing(r_scorers, (pred, instances, foreground), args.chunk, args.repeats)
    published, binary = scores["fast (library)"]
    print(
        f"\nR + R_bin (two overlapping instances), mean R {published.mean():.4f}  R_bin {binary.mean():.4f}:"
    )
    ratio = report(scores, seconds, {name: count for name, (_, count) in r_scorers.items()}, "fast (library)")
    print(f"R + R_bin: {ratio:.1f}x faster than whole-frame uint8 arithmetic")


if __name__ == "__main__":
    main()
