"""Stages 2 and 3: CoT supervised fine-tuning and GRPO with the four verifiable rewards (TRL).

``run_sft`` trains on the stage-1 CoT records and writes a LoRA adapter plus the merged model
(``02_sft/merged``, the GRPO initialisation). ``run_grpo`` trains with TRL's ``GRPOTrainer`` on prompts of
sampled frames and the reward functions of :mod:`veason_lib.rewards`. Both write ``config.json`` and
``metrics.json`` beside their results. The CLI runs either stage from a params profile, also under
``accelerate launch``::

    python -m veason_lib.training grpo --params params/smoke.yaml
    accelerate launch --config_file accelerate/ddp.yaml -m veason_lib.training grpo --params params/smoke.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import PartialState
from datasets import Dataset
from peft import LoraConfig
from transformers.trainer_utils import get_last_checkpoint

from veason_lib.config import GRPOConfig, SFTConfig, load_profile
from veason_lib.jsonl import read_records
from veason_lib.models import TINY_MODEL, TINY_NOTICE, load_model, resolve_model_path
from veason_lib.plots import save_log_history

log = logging.getLogger(__name__)

SFT_RECORD_FIELDS = ("key", "query", "frame_indices", "timestamps", "completion")
GRPO_PROMPT_FIELDS = ("key", "query", "frame_indices", "timestamps")
EMBEDDING_MODULES = ["lm_head", "embed_tokens"]


# ----------------------------------------------------------------------------------------------------
# Stage inputs: JSONL records -> rows with frames
# ----------------------------------------------------------------------------------------------------


def record_sample(benchmark: Any, record: dict[str, Any], cfg: SFTConfig | GRPOConfig, where: str) -> Any:
    """The :class:`~veason_lib.samples.Sample` at the record's own frames (stage 1 chose them)."""
    from veason_lib.data import DataError
    from veason_lib.samples import build_sample

    expressions = {e.key: e for e in benchmark.expressions}
    if record["key"] not in expressions:
        raise DataError(f"{where}: key: {record['key']!r} is not an expression of {benchmark.name}")
    expr = expressions[record["key"]]
    sample = build_sample(
        benchmark, expr, cfg.num_frames, cfg.frame_size, cfg.fps, indices=record["frame_indices"]
    )  # fmt: skip
    if list(sample.timestamps) != list(record["timestamps"]):
        raise DataError(
            f"{where}: timestamps: {record['timestamps']} differ from {sample.timestamps} at fps {cfg.fps}"
        )
    return sample


def sft_rows(records_path: str | Path, benchmark: Any, cfg: SFTConfig) -> list[dict[str, Any]]:
    """Prompt-completion rows: the multi-image user turn, and the CoT answer as the assistant turn."""
    from veason_lib.prompts import build_messages, sft_messages

    rows = []
    for i, record in enumerate(read_records(records_path, SFT_RECORD_FIELDS), 1):
        sample = record_sample(benchmark, record, cfg, f"{records_path}: record {i}")
        prompt = build_messages(record["query"], record["timestamps"])
        completion = sft_messages(prompt, record["completion"])[len(prompt) :]  # the assistant turn
        rows.append({"images": sample.images, "prompt": prompt, "completion": completion})
    return rows


def grpo_rows(prompts_path: str | Path, benchmark: Any, cfg: GRPOConfig) -> list[dict[str, Any]]:
    """One row per prompt: the sample's columns (rewards read them) plus the conversational prompt."""
    records = read_records(prompts_path, GRPO_PROMPT_FIELDS)[: cfg.num_prompts]
    rows = []
    for i, record in enumerate(records, 1):
        sample = record_sample(benchmark, record, cfg, f"{prompts_path}: record {i}")
        sample.query = record["query"]  # the record's query wins
        rows.append(sample.to_row(cfg.keyframe_strategy))
    return rows


# ----------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------


def use_bf16(requested: bool, device: str) -> bool:
    """bf16 only where asked for and the accelerator supports it (CPU smoke runs stay in fp32)."""
    return requested and device != "cpu" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def load_policy(path: str, cfg: SFTConfig | GRPOConfig) -> tuple[Any, Any]:
    """Model and processor for training; the vision tower is frozen (the paper trains the LLM only)."""
    dtype = torch.bfloat16 if use_bf16(cfg.bf16, cfg.device) else torch.float32
    model, processor = load_model(
        path, cache_dir=cfg.model_cache_dir, dtype=dtype, device="cpu", seed=cfg.seed
    )
    model.model.visual.requires_grad_(False)
    return model, processor


def lora_config(rank: int, alpha: int, targets: list[str], train_embeddings: bool) -> LoraConfig:
    """LoRA on the language model only: the regex keeps the vision tower's same-named MLPs out."""
    pattern = rf".*language_model.*\.({'|'.join(targets)})"
    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=0.0,
        target_modules=pattern,
        modules_to_save=EMBEDDING_MODULES if train_embeddings else None,
        task_type="CAUSAL_LM",
    )


def report_to(value: str) -> list[str]:
    return [] if value == "none" else [value]


# ----------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------


def reward_curve(log_history: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(step, mean total reward) of every GRPO log entry."""
    return [(int(e["step"]), float(e["reward"])) for e in log_history if "reward" in e]


def fifth_means(curve: list[tuple[int, float]]) -> tuple[float | None, float | None]:
    """Mean reward over the first and the last fifth of the logged steps (the learning check)."""
    if not curve:
        return None, None
    k = max(1, len(curve) // 5)
    values = [r for _, r in curve]
    return sum(values[:k]) / k, sum(values[-k:]) / k


def training_metrics(trainer: Any, seconds: float, steps_run: int, model_name: str) -> dict[str, Any]:
    """What ``metrics.json`` records: steps, seconds per step, final logged values."""
    history = trainer.state.log_history
    logged = [e for e in history if "loss" in e or "reward" in e]
    final = logged[-1] if logged else {}
    metrics = {
        "steps": trainer.state.global_step,
        "steps_this_run": steps_run,
        "seconds_per_step": seconds / steps_run if steps_run else None,
        "final": {k: v for k, v in final.items() if isinstance(v, int | float)},
    }
    if model_name == TINY_MODEL:
        metrics["notice"] = TINY_NOTICE
    return metrics


def train_and_record(trainer: Any, out_dir: Path, resume: str | None, model_name: str) -> dict[str, Any]:
    """Run ``trainer.train`` (resuming when asked) and time the steps done in this call."""
    start_step = trainer.state.global_step
    if resume is not None:
        start_step = json.loads((Path(resume) / "trainer_state.json").read_text())["global_step"]
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start
    if trainer.is_world_process_zero():
        save_log_history(trainer.state.log_history, out_dir)  # the curves read it (notebooks 02, 03, 05)
    return training_metrics(trainer, seconds, trainer.state.global_step - start_step, model_name)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def resolve_resume(out_dir: Path, resume_from_checkpoint: str | None) -> str | None:
    """``auto``: the last ``checkpoint-N`` in ``out_dir`` if any; else the given path (or None)."""
    if resume_from_checkpoint != "auto":
        return resume_from_checkpoint
    return get_last_checkpoint(str(out_dir)) if out_dir.is_dir() else None


# ----------------------------------------------------------------------------------------------------
# Stage 2: SFT
# ----------------------------------------------------------------------------------------------------


def sft_arguments(cfg: SFTConfig, out_dir: Path) -> Any:
    from trl import SFTConfig as TRLSFTConfig

    return TRLSFTConfig(
        output_dir=str(out_dir),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        bf16=use_bf16(cfg.bf16, cfg.device),
        logging_steps=cfg.logging_steps,
        report_to=report_to(cfg.report_to),
        max_length=None,  # image tokens must never be truncated
        completion_only_loss=True,  # loss on the assistant turn only
        save_strategy="no",
        seed=cfg.seed,
        use_cpu=cfg.device == "cpu",
    )


def save_merged(trainer: Any, processor: Any, out_dir: Path) -> Path:
    """Adapter under ``adapter/`` and the merged full model under ``merged/`` (the GRPO initialisation)."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    merged_dir = out_dir / "merged"
    if hasattr(model, "merge_and_unload"):
        model.save_pretrained(out_dir / "adapter")
        model = model.merge_and_unload()
    model.save_pretrained(merged_dir)
    processor.save_pretrained(merged_dir)
    return merged_dir


def run_sft(cfg: SFTConfig, records_path: str | Path, out_dir: str | Path, benchmark: Any) -> dict[str, Any]:
    """Stage 2: CoT SFT on ``records_path``; writes the adapter, ``merged/``, config and metrics."""
    from trl import SFTTrainer

    out_dir = Path(out_dir)
    model, processor = load_policy(resolve_model_path(cfg.model, cfg.model_cache_dir, cfg.seed), cfg)
    peft = (
        lora_config(cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets, cfg.train_lm_head)
        if cfg.use_lora
        else None
    )
    trainer = SFTTrainer(
        model=model,
        args=sft_arguments(cfg, out_dir),
        train_dataset=Dataset.from_list(sft_rows(records_path, benchmark, cfg)),
        processing_class=processor,
        peft_config=peft,
    )
    metrics = train_and_record(trainer, out_dir, None, cfg.model)
    if trainer.is_world_process_zero():
        metrics["merged"] = str(save_merged(trainer, processor, out_dir))
        metrics["loss_curve"] = [(e["step"], e["loss"]) for e in trainer.state.log_history if "loss" in e]
        cfg.save(out_dir / "config.json")
        write_json(out_dir / "metrics.json", metrics)
    trainer.accelerator.wait_for_everyone()
    return metrics


# ----------------------------------------------------------------------------------------------------
# Stage 3: GRPO
# ----------------------------------------------------------------------------------------------------


def grpo_batch_shape(prompts_per_step: int, num_generations: int, num_processes: int) -> tuple[int, int]:
    """(completions per device micro-batch, gradient accumulation) so that one optimizer step sees
    ``prompts_per_step`` prompts x ``num_generations`` completions across all processes."""
    if prompts_per_step % num_processes:
        raise ValueError(
            f"prompts_per_step ({prompts_per_step}) must be a multiple of the {num_processes} processes"
        )
    return num_generations, prompts_per_step // num_processes


def grpo_arguments(cfg: GRPOConfig, out_dir: Path, num_processes: int, reward_weights: list[float]) -> Any:
    from trl import GRPOConfig as TRLGRPOConfig

    per_device, grad_accum = grpo_batch_shape(cfg.prompts_per_step, cfg.num_generations, num_processes)
    return TRLGRPOConfig(
        output_dir=str(out_dir),
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=grad_accum,
        generation_batch_size=cfg.prompts_per_step * cfg.num_generations,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        learning_rate=cfg.learning_rate,
        reward_weights=reward_weights,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        epsilon=cfg.epsilon,
        max_grad_norm=cfg.max_grad_norm,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        bf16=use_bf16(cfg.bf16, cfg.device),
        gradient_checkpointing=cfg.gradient_checkpointing,
        use_vllm=cfg.use_vllm,
        vllm_mode="colocate",
        logging_steps=cfg.logging_steps,
        log_completions=True,
        num_completions_to_print=0,  # completions go to the log files, not the console
        save_strategy="steps",
        save_steps=cfg.save_steps,
        report_to=report_to(cfg.report_to),
        seed=cfg.seed,
        use_cpu=cfg.device == "cpu",
    )


def grpo_rewards(cfg: GRPOConfig, segmenter: Any) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """Reward functions and their weights (Eq. 8); TRL logs each as ``rewards/<name>/mean`` and the
    weighted sum as ``reward``."""
    from veason_lib.rewards import reward_functions

    return reward_functions(cfg.reward_weights, segmenter, cfg.frame_size)


def run_grpo(
    cfg: GRPOConfig,
    prompts_path: str | Path,
    out_dir: str | Path,
    benchmark: Any,
    init_path: str | Path,
    segmenter: Any,
    resume_from_checkpoint: str | None = "auto",
) -> dict[str, Any]:
    """Stage 3: GRPO from ``init_path``; checkpoints every ``save_steps``, resumes from the last one."""
    from trl import GRPOTrainer

    out_dir = Path(out_dir)
    model, processor = load_policy(str(init_path), cfg)
    peft = lora_config(cfg.lora_rank, cfg.lora_alpha, cfg.lora_targets, cfg.train_lm_head)
    reward_funcs, reward_weights = grpo_rewards(cfg, segmenter)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_arguments(cfg, out_dir, PartialState().num_processes, reward_weights),
        train_dataset=Dataset.from_list(grpo_rows(prompts_path, benchmark, cfg)),
        processing_class=processor,
        peft_config=peft if cfg.use_lora else None,
    )
    metrics = train_and_record(trainer, out_dir, resolve_resume(out_dir, resume_from_checkpoint), cfg.model)
    if trainer.is_world_process_zero():
        curve = reward_curve(trainer.state.log_history)
        metrics["reward_curve"] = curve
        metrics["reward_first_fifth"], metrics["reward_last_fifth"] = fifth_means(curve)
        trainer.save_model(str(out_dir / "final"))
        processor.save_pretrained(out_dir / "final")
        cfg.save(out_dir / "config.json")
        write_json(out_dir / "metrics.json", metrics)
    trainer.accelerator.wait_for_everyone()
    return metrics


# ----------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------


def grpo_init_path(cfg: GRPOConfig) -> str:
    """``sft``: the stage-2 merged model; ``base``: the profile's model (pure GRPO)."""
    if cfg.init_from == "sft":
        return str(cfg.stage_dir("sft") / "merged")
    if cfg.init_from == "base":
        return resolve_model_path(cfg.model, cfg.model_cache_dir, cfg.seed)
    raise ValueError(f"init_from: expected 'sft' or 'base', got {cfg.init_from!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Veason-R1 stage 2 (sft) or stage 3 (grpo) training")
    parser.add_argument("stage", choices=["sft", "grpo"])
    parser.add_argument("--params", required=True, help="params profile, e.g. params/smoke.yaml")
    parser.add_argument("--run", default=None, help="run name (default: the profile's)")
    args = parser.parse_args(argv)
    from veason_lib.data import load_benchmark
    from veason_lib.segmentation import segmenter_for

    cfg = load_profile(args.params, args.stage, **({"run": args.run} if args.run else {}))
    torch.set_num_threads(max(1, torch.get_num_threads() // PartialState().num_processes))
    benchmark = load_benchmark(cfg.benchmark, cfg.data_path, "train")
    cot_dir = cfg.stage_dir("cot")
    if args.stage == "sft":
        run_sft(cfg, cot_dir / "sft_records.jsonl", cfg.stage_dir("sft"), benchmark)
    else:
        run_grpo(
            cfg, cot_dir / "grpo_prompts.jsonl", cfg.stage_dir("grpo"), benchmark, grpo_init_path(cfg),
            segmenter_for(cfg),
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
