"""Stage 2 (SFT) and stage 3 (GRPO) on the tiny random model with the smoke profile's training sections.

The fixture is a toy benchmark in memory: one coloured square per video that grows and then shrinks, so
the keyframe (largest target) and the boxes are well defined. The learning test runs the smoke profile's
stage 1 on the built-in benchmark, then SFT and GRPO, and checks that GRPO learns (the mean total reward
of the last fifth of its steps exceeds that of the first fifth by LEARNING_MARGIN, on a fixed seed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from veason_lib.config import GRPOConfig, SFTConfig, load_profile

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "params" / "smoke.yaml"
LEARNING_MARGIN = 0.25  # total reward is in [0, 5]; measured gains: +0.38 (seed 0), +0.36 (seed 1)
SIZE = 64  # toy video frames are SIZE x SIZE
NUM_VIDEO_FRAMES = 8
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 30)}

torch.set_num_threads(2)


# ----------------------------------------------------------------------------------------------------
# Toy benchmark (duck-types veason_lib.data.Benchmark for build_sample)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToyExpression:
    video: str
    exp_id: str
    text: str
    key: str
    type_id: int | None = 0
    obj_ids: tuple[str, ...] = ("1",)
    anno_ids: tuple[str, ...] = ("1",)


def square_boxes(seed: int) -> list[tuple[int, int, int, int]]:
    """Per frame the square's (x1, y1, x2, y2): it grows to the middle of the video, then shrinks."""
    rng = np.random.default_rng(seed)
    cx, cy = rng.integers(20, SIZE - 20, size=2)
    peak = int(rng.integers(2, NUM_VIDEO_FRAMES - 2))
    half = [4 + 10 - 3 * abs(t - peak) for t in range(NUM_VIDEO_FRAMES)]
    return [(cx - max(h, 2), cy - max(h, 2), cx + max(h, 2), cy + max(h, 2)) for h in half]


@dataclass
class ToyVideo:
    name: str
    boxes: list[tuple[int, int, int, int]]
    colour: tuple[int, int, int]
    height: int = SIZE
    width: int = SIZE

    @property
    def frame_names(self) -> tuple[str, ...]:
        return tuple(f"{i:05d}" for i in range(len(self.boxes)))

    def masks(self, indices) -> np.ndarray:
        out = np.zeros((len(indices), SIZE, SIZE), bool)  # (T, H, W)
        for t, i in enumerate(indices):
            x1, y1, x2, y2 = self.boxes[i]
            out[t, y1:y2, x1:x2] = True
        return out

    def load_frames(self, indices=None) -> np.ndarray:
        indices = list(range(len(self.boxes))) if indices is None else list(indices)
        frames = np.full((len(indices), SIZE, SIZE, 3), 90, np.uint8)  # (T, H, W, 3)
        frames[self.masks(indices)] = self.colour
        return frames


class ToyBenchmark:
    name = "toy"
    root = Path("toy")

    def __init__(self, num_videos: int) -> None:
        names = list(COLOURS)
        self.videos = {}
        self.expressions = []
        for v in range(num_videos):
            colour = names[v % len(names)]
            name = f"video{v}"
            self.videos[name] = ToyVideo(name, square_boxes(v), COLOURS[colour])
            self.expressions.append(ToyExpression(name, "0", f"the {colour} square", f"{name}/0"))

    def object_masks(self, expr, indices=None) -> np.ndarray:
        return self.videos[expr.video].masks(indices)[None]  # (1, T, H, W)


def write_records(benchmark: ToyBenchmark, num_frames: int, frame_size: int, tmp: Path) -> tuple[Path, Path]:
    """Stage-1 files as the CoT stage writes them: SFT records (with completion) and GRPO prompts."""
    from veason_lib.data.sampling import sample_frames
    from veason_lib.prompts import format_completion

    sft, grpo = [], []
    for expr in benchmark.expressions:
        video = benchmark.videos[expr.video]
        indices, timestamps = sample_frames(NUM_VIDEO_FRAMES, num_frames)
        areas = video.masks(indices).sum(axis=(1, 2))  # (T,)
        best = int(np.argmax(areas))
        scale = frame_size / SIZE
        box = [v * scale for v in video.boxes[indices[best]]]
        base = {"key": expr.key, "video": expr.video, "exp_id": expr.exp_id, "query": expr.text, "type_id": 0}
        base |= {"frame_indices": indices, "timestamps": timestamps}
        think = f"The {expr.text} is largest at {timestamps[best]}s."
        completion = format_completion(think, timestamps[best], [box])
        sft.append(
            base | {"keyframe": timestamps[best], "boxes": [box], "think": think, "completion": completion}
        )
        grpo.append(base)
    paths = tmp / "sft_records.jsonl", tmp / "grpo_prompts.jsonl"
    for path, rows in zip(paths, (sft, grpo), strict=True):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths


# ----------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------

DEVICE = os.environ.get("VEASON_TEST_DEVICE", "cpu")  # gpu_check.sh runs these on CUDA too


def smoke_configs(
    tmp_path: Path, sft: dict | None = None, grpo: dict | None = None
) -> tuple[SFTConfig, GRPOConfig]:
    """The smoke profile's sft/grpo sections, writing under ``tmp_path``, with test overrides."""
    common = {"out_root": str(tmp_path), "report_to": "none", "device": DEVICE}
    return (
        load_profile(SMOKE, "sft", **{**common, **(sft or {})}),
        load_profile(SMOKE, "grpo", **{**common, **(grpo or {})}),
    )


def trained_sft(tmp_path: Path, benchmark: ToyBenchmark, **sft: object) -> tuple[GRPOConfig, Path, Path]:
    """Run a short SFT; return the GRPO config, the prompts file and the merged model."""
    from veason_lib.training import run_sft

    fast = {"max_completion_length": 16, "save_steps": 1, "epochs": 1.0, "num_generations": 4}
    sft_cfg, grpo_cfg = smoke_configs(tmp_path, sft, fast)
    records, prompts = write_records(benchmark, sft_cfg.num_frames, sft_cfg.frame_size, tmp_path)
    run_sft(sft_cfg, records, tmp_path / "02_sft", benchmark)
    return grpo_cfg, prompts, tmp_path / "02_sft" / "merged"


# ----------------------------------------------------------------------------------------------------
# Unit tests
# ----------------------------------------------------------------------------------------------------


def test_grpo_batch_shape_covers_prompts_times_generations():
    from veason_lib.training import grpo_batch_shape

    assert grpo_batch_shape(16, 8, 8) == (8, 2)  # paper: 16 prompts x 8 completions on 8 GPUs
    assert grpo_batch_shape(2, 4, 1) == (4, 2)
    with pytest.raises(ValueError, match="prompts_per_step"):
        grpo_batch_shape(3, 4, 2)


def test_read_records_names_file_line_and_field(tmp_path):
    from veason_lib.data import DataError
    from veason_lib.jsonl import read_records
    from veason_lib.training import GRPO_PROMPT_FIELDS

    path = tmp_path / "grpo_prompts.jsonl"
    path.write_text('{"key": "a", "query": "q", "frame_indices": [0], "timestamps": [0]}\n{"key": "b"}\n')
    with pytest.raises(DataError, match=r"grpo_prompts.jsonl: line 2: query: missing"):
        read_records(path, GRPO_PROMPT_FIELDS)
    path.write_text("{not json\n")
    with pytest.raises(DataError, match="line 1: not valid JSON"):
        read_records(path, GRPO_PROMPT_FIELDS)
    with pytest.raises(DataError, match="not found"):
        read_records(tmp_path / "missing.jsonl", GRPO_PROMPT_FIELDS)


def test_record_with_other_timestamps_is_a_data_error(tmp_path):
    from veason_lib.data import DataError
    from veason_lib.training import grpo_rows

    benchmark = ToyBenchmark(2)
    _, grpo_cfg = smoke_configs(tmp_path)
    _, prompts = write_records(benchmark, grpo_cfg.num_frames, grpo_cfg.frame_size, tmp_path)
    lines = [json.loads(line) for line in prompts.read_text().splitlines()]
    lines[1]["timestamps"] = [t + 1 for t in lines[1]["timestamps"]]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(DataError, match="record 2: timestamps"):
        grpo_rows(prompts, benchmark, grpo_cfg)


def test_grpo_rows_carry_prompt_images_and_reward_columns(tmp_path):
    from veason_lib.training import grpo_rows

    benchmark = ToyBenchmark(2)
    _, cfg = smoke_configs(tmp_path)
    _, prompts = write_records(benchmark, cfg.num_frames, cfg.frame_size, tmp_path)
    row = grpo_rows(prompts, benchmark, cfg)[0]
    assert len(row["images"]) == cfg.num_frames and row["images"][0].size == (cfg.frame_size, cfg.frame_size)
    assert sum(item["type"] == "image" for item in row["prompt"][0]["content"]) == cfg.num_frames
    assert {"timestamps", "areas", "gt_boxes", "gt_masks_rle", "key"} <= set(row)
    assert "The keyframe is" not in row["prompt"][0]["content"][-1]["text"]
    _, grounding = smoke_configs(tmp_path, grpo={"keyframe_strategy": "first_visible"})
    given = grpo_rows(prompts, benchmark, grounding)[0]
    assert f"The keyframe is <{given['timestamps'][0]}s>" in given["prompt"][0]["content"][-1]["text"]


def test_lora_leaves_the_vision_tower_alone(tmp_path):
    from peft import get_peft_model

    from veason_lib.models import load_model
    from veason_lib.training import lora_config

    model, _ = load_model("tiny-random", cache_dir=tmp_path, device="cpu")
    peft_model = get_peft_model(model, lora_config(4, 8, ["q_proj", "v_proj", "gate_proj"], True))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in trainable)
    assert not any(".visual." in n for n in trainable)
    assert any("lm_head" in n for n in trainable) and any("embed_tokens" in n for n in trainable)


def test_fifth_means():
    from veason_lib.training import fifth_means

    curve = [(i, float(i)) for i in range(1, 11)]  # 10 logs: fifths are 2 entries
    assert fifth_means(curve) == (1.5, 9.5)
    assert fifth_means([]) == (None, None)


# ----------------------------------------------------------------------------------------------------
# Stage runs on the tiny model
# ----------------------------------------------------------------------------------------------------


def test_sft_writes_adapter_merged_model_and_metrics(tmp_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    benchmark = ToyBenchmark(4)
    trained_sft(tmp_path, benchmark, max_steps=6, learning_rate=0.01)
    out = tmp_path / "02_sft"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and "notice" in metrics
    losses = [loss for _, loss in metrics["loss_curve"]]
    assert losses[-1] < losses[0]  # lr 0.01 on the answer format: the loss falls within a few steps
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert json.loads((out / "config.json").read_text())["lora_rank"] > 0
    merged = Qwen2_5_VLForConditionalGeneration.from_pretrained(out / "merged")
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_grpo_checkpoints_and_resumes(tmp_path):
    from veason_lib.segmentation import build_segmenter
    from veason_lib.training import run_grpo

    benchmark = ToyBenchmark(4)
    cfg, prompts, init = trained_sft(tmp_path, benchmark, max_steps=2)
    out = tmp_path / "03_grpo"
    first = run_grpo(cfg, prompts, out, benchmark, init, build_segmenter("classical"))
    assert first["steps"] == 2 and (out / "checkpoint-2").is_dir()  # epoch of 4 prompts / 2 per step
    assert any("rewards/format_reward/mean" in e for e in [first["final"]])
    more = dataclasses_replace(cfg, max_steps=3)
    resumed = run_grpo(more, prompts, out, benchmark, init, build_segmenter("classical"))
    assert resumed["steps"] == 3 and resumed["steps_this_run"] == 1
    assert json.loads((out / "config.json").read_text())["max_steps"] == 3


def dataclasses_replace(cfg, **changes):
    import dataclasses

    return dataclasses.replace(cfg, **changes)


def smoke_stage1(tmp_path: Path, **cot: object) -> tuple[Path, object]:
    """Stage 1 of the smoke profile into ``tmp_path`` on the built-in benchmark (generated once, shared)."""
    from veason_lib import cot as stage1
    from veason_lib.data import load_benchmark, synthetic

    cfg = load_profile(SMOKE, "cot", out_root=str(tmp_path), **cot)
    synthetic.ensure(cfg.data_path, seed=0, videos=cfg.synthetic_videos)
    benchmark = load_benchmark(cfg.benchmark, cfg.data_path, "train")
    stage1.build_stage1(cfg, benchmark, stage1.make_teacher(cfg, benchmark), cfg.stage_dir("cot"))
    return cfg.stage_dir("cot"), benchmark


@pytest.mark.slow  # cot + 256 SFT steps + 32 GRPO steps: about 1.5 min on 2 idle cores, more when shared
@pytest.mark.parametrize("seed", [0])
def test_smoke_grpo_learns(tmp_path, seed):
    """Smoke cot + sft + grpo as written: the last fifth's mean total reward beats the first fifth's.

    The smoke profile's stage 1 writes the "SFT without CoT" form (``empty_think``; see params/smoke.yaml):
    a ~35-token completion that a tiny random model can learn on a CPU within the budget.
    """
    from veason_lib.segmentation import build_segmenter
    from veason_lib.training import fifth_means, reward_curve, run_grpo, run_sft

    cot_dir, benchmark = smoke_stage1(tmp_path, seed=seed)
    sft_cfg, grpo_cfg = smoke_configs(tmp_path, {"seed": seed}, {"seed": seed})
    run_sft(sft_cfg, cot_dir / "sft_records.jsonl", sft_cfg.stage_dir("sft"), benchmark)
    out = grpo_cfg.stage_dir("grpo")
    segmenter = build_segmenter("classical")
    run_grpo(
        grpo_cfg,
        cot_dir / "grpo_prompts.jsonl",
        out,
        benchmark,
        sft_cfg.stage_dir("sft") / "merged",
        segmenter,
    )
    history = json.loads((out / "log_history.json").read_text())  # the trainer's log, as the curves read it
    curve = reward_curve(history)
    assert len(curve) == 32  # 2 epochs of 32 prompts at 2 prompts per step
    first, last = fifth_means(curve)
    assert last >= first + LEARNING_MARGIN, f"reward {first:.2f} -> {last:.2f} over {len(curve)} steps"


DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_training import ToyBenchmark, smoke_configs, write_records
from veason_lib.segmentation import build_segmenter
from veason_lib.training import run_grpo, run_sft
tmp = Path({tmp!r})
benchmark = ToyBenchmark(4)
cpu = {{"device": "cpu"}}  # the launcher below runs CPU processes (--cpu), whatever the test device is
sft, grpo = smoke_configs(tmp, {{"max_steps": 2, **cpu}}, {{"max_steps": 2, "max_completion_length": 16, **cpu}})
records, prompts = write_records(benchmark, sft.num_frames, sft.frame_size, tmp)
run_sft(sft, records, tmp / "02_sft", benchmark)
run_grpo(grpo, prompts, tmp / "03_grpo", benchmark, tmp / "02_sft" / "merged", build_segmenter("classical"))
"""


def test_sft_and_grpo_under_accelerate_with_two_processes(tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(tests=str(REPO / "tests"), tmp=str(tmp_path)))
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "accelerate/ddp.yaml"),
    ]
    command += ["--cpu", "--num_processes", "2", "--num_machines", "1", str(driver)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "03_grpo" / "metrics.json").read_text())
    assert metrics["steps"] == 2  # 2 prompts per step split over 2 processes: the same step count
