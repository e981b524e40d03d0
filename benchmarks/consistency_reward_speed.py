"""Speed of the consistency reward's segmentation: one GRPO group scored naively and with our segmenter.

One prompt of 8 frames at 256 px and one group of 8 completions as a GRPO group after SFT gives them:
3 distinct keyframes, 2 answers repeated verbatim, and 1 answer that agrees with another on one object
and differs on the other. SAM2.1 tiny with RANDOM weights at image size 256 on the CPU:

(a) naive, what a straightforward reward does: per completion a fresh stock ``init_state`` from the
    prompt's JPEG folder, the boxes added at the keyframe, propagation forward and backward;
(b) ours: ``Sam2Segmenter.prepare`` once for the prompt, then one ``segment_many`` for the group (every
    distinct (keyframe, box) tracked once, the boxes of one keyframe tracked together).

The in-memory frames of (b) are the decoded JPEGs of (a), so both see the same pixels and must return
identical masks (asserted, bit for bit). The two paths run interleaved ``--repeats`` times, alternating
which goes first, so that load from other processes hits both alike; the best time of each counts.

    python benchmarks/consistency_reward_speed.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # sam2 draws a progress bar per propagation; read at import

import numpy as np
import torch
from PIL import Image

from veason_lib.segmentation.sam2_backend import Sam2Segmenter, Sam2State

# sam2 1.1.0 from PyPI lacks its optional CUDA extension: it warns on every frame and skips hole filling
warnings.filterwarnings("ignore", message=".*cannot import name '_C' from 'sam2'.*")

KEYFRAMES = (2, 2, 5, 2, 5, 5, 6, 2)  # per completion: 3 distinct keyframes
REPEATS = {1: 0, 5: 2}  # completion -> the earlier completion whose answer it repeats
SHARED_BOX = {3: 0}  # completion -> the earlier one (same keyframe) whose first box it also gives


# Prompt and completions ------------------------------------------------------------------------------


def moving_shapes(num_frames: int, size: int, seed: int) -> np.ndarray:
    """A clip of two coloured squares moving over a textured background: (T, S, S, 3) uint8."""
    rng = np.random.default_rng(seed)
    background = rng.integers(60, 160, size=(size, size, 3), dtype=np.uint8)  # (S, S, 3)
    frames = np.repeat(background[None], num_frames, axis=0)  # (T, S, S, 3)
    side = size // 5
    for colour, start, velocity in (
        ((220, 40, 40), (10, 20), (12, 6)),
        ((40, 80, 235), (150, 150), (-8, -10)),
    ):
        for t in range(num_frames):
            x, y = (np.array(start) + t * np.array(velocity)).clip(0, size - side)
            frames[t, y : y + side, x : x + side] = colour
    return frames


def completion_boxes(size: int, seed: int) -> list[np.ndarray]:
    """8 box sets of 1-2 boxes each (K, 4) xyxy px, with :data:`REPEATS` and :data:`SHARED_BOX`."""
    rng = np.random.default_rng(seed)
    sets = []
    for i in range(len(KEYFRAMES)):
        if i in REPEATS:
            sets.append(sets[REPEATS[i]].copy())
            continue
        corners = rng.uniform(0, 0.6 * size, size=(rng.integers(1, 3), 2))  # (K, 2) x1, y1
        sides = rng.uniform(0.15 * size, 0.4 * size, size=corners.shape)  # (K, 2) w, h
        sets.append(np.concatenate([corners, corners + sides], axis=1).astype(np.float32))  # (K, 4)
        if i in SHARED_BOX:
            sets[i][0] = sets[SHARED_BOX[i]][0]
    return sets


def write_jpegs(frames: np.ndarray, folder: Path) -> np.ndarray:
    """Save the clip as the JPEG folder the stock loader reads; return the decoded frames (T, S, S, 3)."""
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=95)
    return np.stack(
        [np.asarray(Image.open(folder / f"{t:05d}.jpg").convert("RGB")) for t in range(len(frames))]
    )


# Segmentation ----------------------------------------------------------------------------------------


def naive_masks(segmenter: Sam2Segmenter, folder: Path, keyframe: int, boxes: np.ndarray) -> np.ndarray:
    """One completion the straightforward way: a fresh stock inference state from the JPEG folder."""
    predictor = segmenter.predictor
    state = predictor.init_state(str(folder))
    for obj_id, box in enumerate(boxes):
        predictor.add_new_points_or_box(state, frame_idx=keyframe, obj_id=obj_id, box=box)
    masks = np.zeros((len(boxes), state["num_frames"], state["video_height"], state["video_width"]), bool)
    for reverse in (False, True):
        for t, _, logits in predictor.propagate_in_video(state, start_frame_idx=keyframe, reverse=reverse):
            masks[:, t] = (logits[:, 0] > 0.0).cpu().numpy()  # (K, H, W)
    return masks  # (K, T, H, W)


def our_masks(
    segmenter: Sam2Segmenter, frames: np.ndarray, prompts: list
) -> tuple[Sam2State, list[np.ndarray]]:
    """The whole group our way: one ``prepare`` for the prompt, one ``segment_many`` for the group."""
    state = segmenter.prepare(frames)
    return state, segmenter.segment_many(state, prompts)


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def interleaved(naive, ours, repeats: int) -> tuple[list[float], list[float], object, object]:
    """Run both ``repeats`` times, alternating which goes first: (naive times, our times, results)."""
    naive_s, ours_s = [], []
    for r in range(repeats):
        for name in ("naive", "ours") if r % 2 == 0 else ("ours", "naive"):
            if name == "naive":
                naive_out, seconds = timed(naive)
                naive_s.append(seconds)
            else:
                ours_out, seconds = timed(ours)
                ours_s.append(seconds)
    return naive_s, ours_s, naive_out, ours_out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="frames of the prompt")
    parser.add_argument("--size", type=int, default=256, help="frame size (px) and SAM2 image size")
    parser.add_argument("--config", default="sam2.1_hiera_t", help="SAM2 model size")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clip and the boxes")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each path (best counts)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    segmenter = Sam2Segmenter(args.config, "", image_size=args.size, device=args.device)
    prompts = list(zip(KEYFRAMES, completion_boxes(args.size, args.seed), strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frames = write_jpegs(moving_shapes(args.frames, args.size, args.seed), folder)
        segmenter.prepare(frames[:1])  # warm-up: first-call allocations are charged to neither path
        naive_s, ours_s, naive, (state, ours) = interleaved(
            lambda: [naive_masks(segmenter, folder, k, b) for k, b in prompts],
            lambda: our_masks(segmenter, frames, prompts),
            args.repeats,
        )
    answers = {(k, b.tobytes()) for k, b in prompts}
    print(
        f"{len(prompts)} completions ({len(answers)} distinct answers, {len(set(KEYFRAMES))} keyframes), "
        f"{args.frames} frames at {args.size} px, {args.config} (RANDOM weights), {args.device}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"objects tracked: naive {sum(len(b) for _, b in prompts)}, ours {len(state.masks_by_object)}")
    print(
        f"naive runs: {' '.join(f'{t:.2f}' for t in naive_s)} s; ours runs: {' '.join(f'{t:.2f}' for t in ours_s)} s"
    )
    print(
        f"best naive: {min(naive_s):.2f} s  best ours: {min(ours_s):.2f} s  speed-up: {min(naive_s) / min(ours_s):.1f}x"
    )
    for i, (a, b) in enumerate(zip(naive, ours, strict=True)):
        assert a.shape == b.shape and (a == b).all(), f"completion {i}: masks differ ({(a != b).sum()} px)"
    print("masks identical (bit for bit)")


if __name__ == "__main__":
    main()
