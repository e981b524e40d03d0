"""GRPO throughput of the real Qwen2.5-VL architecture with random weights on one GPU.

Builds the 3B (or 7B) architecture in bf16 on CUDA, drives it with the tiny tokenizer (random weights
need no real vocabulary; completions of random weights rarely stop, so each runs to the full budget, the
worst case), and runs a few GRPO steps at the paper's settings through ``veason_lib.training``'s own
TRL configuration. Prints one JSON line: rollout tokens/s, seconds per GRPO step, peak GPU memory.

    python benchmarks/grpo_gpu.py --size 3b --prompts-per-step 2 --steps 2
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from PIL import Image
from transformers import Qwen2_5_VLForConditionalGeneration, TrainerCallback
from trl import GRPOTrainer

from veason_lib.config import GRPOConfig
from veason_lib.models import build_tiny_processor, match_vision_tokens, qwen25vl_config, tiny_config
from veason_lib.prompts import build_messages
from veason_lib.training import grpo_arguments


def sync() -> None:
    """Wait for queued GPU work so wall-clock timings are true (no-op on CPU dry runs)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepTimer(TrainerCallback):
    """Wall-clock seconds of each optimizer step (generation, rewards, forward and backward)."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.seconds: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        sync()
        self.starts.append(time.perf_counter())

    def on_step_end(self, args, state, control, **kwargs):
        sync()
        self.seconds.append(time.perf_counter() - self.starts[-1])


class RolloutMeter:
    """Wraps a model's ``generate`` to count generated tokens and the seconds spent generating."""

    def __init__(self, model: Any) -> None:
        self.tokens = 0
        self.seconds = 0.0
        self._generate = model.generate
        model.generate = self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        prompt_length = (kwargs.get("input_ids") if "input_ids" in kwargs else args[0]).shape[1]
        sync()
        start = time.perf_counter()
        out = self._generate(*args, **kwargs)
        sync()
        self.seconds += time.perf_counter() - start
        sequences = out if torch.is_tensor(out) else out.sequences  # (B, prompt + completion)
        self.tokens += sequences.shape[0] * (sequences.shape[1] - prompt_length)
        return out


def random_reward(completions: list, **_: Any) -> list[float]:
    """Random scores, so that advantages are non-zero and every step runs its backward pass."""
    return [random.random() for _ in completions]


def prompt_rows(num_prompts: int, num_frames: int, frame_size: int, seed: int) -> list[dict[str, Any]]:
    """Prompts of ``num_frames`` random frames at the canvas, each preceded by its timestamp."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(num_prompts):
        pixels = rng.integers(
            0, 256, size=(num_frames, frame_size, frame_size, 3), dtype=np.uint8
        )  # (T, S, S, 3)
        timestamps = list(range(0, 4 * num_frames, 4))
        rows.append(
            {
                "images": [Image.fromarray(frame) for frame in pixels],
                "prompt": build_messages("the object that moves fastest", timestamps),
            }
        )
    return rows


def save_random_model(size: str, frame_size: int, out: Path, device: str) -> Any:
    """Random-weight model + processor on disk (TRL reloads the reference model from this path).
    ``tiny`` is the test model's architecture, for a CPU dry run of this script."""
    processor = build_tiny_processor(max_pixels=frame_size * frame_size)
    if size == "tiny":
        config = tiny_config(processor.tokenizer)
    else:
        config = match_vision_tokens(qwen25vl_config(size), processor.tokenizer)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    del model
    return processor


def paper_config(args: argparse.Namespace) -> GRPOConfig:
    """METHOD.md section 7, with the batch and the step count reduced to fit a short check."""
    return GRPOConfig(
        num_frames=args.frames,
        frame_size=args.frame_size,
        num_generations=args.generations,
        prompts_per_step=args.prompts_per_step,
        max_completion_length=args.max_completion,
        max_steps=args.steps,
        save_steps=10_000,
        report_to="none",
        device=args.device,
        gradient_checkpointing=not args.no_gradient_checkpointing,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["3b", "7b", "tiny"], default="3b")
    parser.add_argument("--device", default="cuda", help="cpu: dry run of the script (use --size tiny)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--frame-size", type=int, default=560)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--max-completion", type=int, default=1024)
    parser.add_argument("--prompts-per-step", type=int, default=2, help="paper: 16 (over 8 GPUs)")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--no-gradient-checkpointing", action="store_true")
    parser.add_argument("--json", default="", help="also write the result to this file")
    args = parser.parse_args()
    cfg = paper_config(args)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        processor = save_random_model(args.size, args.frame_size, Path(tmp) / "model", args.device)
        build_seconds = time.perf_counter() - start
        dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(Path(tmp) / "model", dtype=dtype)
        model.model.visual.requires_grad_(False)
        meter = RolloutMeter(model)
        timer = StepTimer()
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[random_reward],
            args=grpo_arguments(cfg, Path(tmp) / "run", 1, [1.0]),
            train_dataset=Dataset.from_list(prompt_rows(args.prompts_per_step * args.steps, args.frames,
                                                        args.frame_size, cfg.seed)),
            processing_class=processor,
            callbacks=[timer],
        )  # fmt: skip
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    result = {
        "size": args.size,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "frames": args.frames,
        "frame_size": args.frame_size,
        "generations": args.generations,
        "prompts_per_step": args.prompts_per_step,
        "max_completion_length": args.max_completion,
        "steps": len(timer.seconds),
        "seconds_per_step": timer.seconds,
        "rollout_tokens": meter.tokens,
        "rollout_tokens_per_s": meter.tokens / meter.seconds if meter.seconds else None,
        "rollout_seconds": meter.seconds,
        "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30
        if torch.cuda.is_available()
        else None,
        "model_build_seconds": build_seconds,
        "notice": "random weights: throughput and memory only",
    }
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
