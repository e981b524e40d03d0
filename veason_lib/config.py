"""Typed, validated configuration shared by every stage.

Each stage config is a dataclass whose fields are declared with :func:`param` (a default and a help
text). A params file (``params/*.yaml``) sets values per profile; :func:`load_profile` resolves it into
one config object per stage, and :meth:`Config.from_dict` rejects unknown names and wrong types at once,
so a typo fails in the first cell rather than hours into a run.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Self

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def resolve_path(path: str | Path) -> Path:
    """Relative paths in configs are relative to the project root (not to a notebook's folder)."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


class ConfigError(ValueError):
    """A params file or notebook parameter is unknown or has the wrong type."""


def param(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse's name
    """A config field with a default and a help text (shown by ``papermill --help-notebook``)."""
    if isinstance(default, list | dict | tuple):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check_type(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not of type {hint}")
    if hint is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected None, got {value!r}")
    if typing.get_origin(hint) is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise ConfigError(f"{where}: {value!r} is not one of {typing.get_args(hint)}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return [_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, val = typing.get_args(hint) or (Any, Any)
        return {k: _check_type(v, val, f"{where}.{k}") for k, v in value.items()}
    base = origin or hint
    if isinstance(base, type) and (not isinstance(value, base) or (base is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: expected {getattr(base, '__name__', base)}, got {value!r}")
    return value


@dataclasses.dataclass
class Config:
    """Base of every stage config: construction from plain data with validation."""

    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "parameters") -> Self:
        """Build from a mapping; unknown names and wrong types raise :class:`ConfigError` naming ``source``."""
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown parameter(s) {unknown} for {cls.__name__}; known: {sorted(known)}"
            )
        checked = {k: _check_type(v, hints[k], f"{source}: {k}") for k, v in values.items()}
        return cls(**checked)

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]) -> Self:
        """Build from a notebook's globals: picks exactly this config's field names (all must be there)."""
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in namespace]
        if missing:
            raise ConfigError(f"notebook parameters: missing {missing} for {cls.__name__}")
        return cls.from_dict({n: namespace[n] for n in names}, source="notebook parameters")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the resolved config as JSON (beside every stage's results)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")


def read_params_file(path: str | Path) -> dict[str, Any]:
    """Read a params YAML, following ``inherit:`` (a path relative to the file) recursively."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    parent = data.pop("inherit", None)
    if parent is None:
        return data
    merged = read_params_file(path.parent / parent)
    for section, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged


# ----------------------------------------------------------------------------------------------------
# Stage configs. Defaults are the method's values (METHOD.md); profiles in params/ override them.
# ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class CommonConfig(Config):
    """Fields every stage shares: where the run lives, the data, the frames and the model."""

    run: str = param("smoke", "run name: every stage writes under <out_root>/<run>/")
    out_root: str = param("outputs", "root folder of all runs")
    seed: int = param(0, "random seed for sampling and training")
    benchmark: str = param("synthetic", "training/eval data: synthetic | revos | mevis | reasonvos")
    data_root: str = param(
        "outputs/data/synthetic", "dataset root (the built-in benchmark is generated here)"
    )
    synthetic_videos: int = param(24, "built-in benchmark: videos per split when it is generated")
    num_frames: int = param(8, "frames sampled per video for the prompt")
    frame_size: int = param(560, "each frame is resized to frame_size x frame_size (multiple of 28)")
    fps: float = param(1.0, "timestamp of frame i is round(i / fps)")
    model: str = param(
        "Qwen/Qwen2.5-VL-3B-Instruct", "hub id or local path; 'tiny-random' builds a tiny model"
    )
    device: str = param("auto", "auto | cpu | cuda")
    keyframe_strategy: str = param(
        "predicted",
        "GRPO and eval prompts: predicted | first_visible (ablation 'grounding-only': the keyframe is given)",
    )
    segmenter: str = param("sam2", "sam2 | classical (weight-free, for machines without SAM2 weights)")
    sam2_config: str = param("sam2.1_hiera_t", "SAM2 model size: sam2.1_hiera_t | _s | _b+ | _l")
    sam2_checkpoint: str = param("", "SAM2 checkpoint path or hub id; empty: random weights (tests only)")
    sam2_image_size: int = param(1024, "SAM2 input resolution (lower it for CPU smoke runs)")

    @property
    def run_dir(self) -> Path:
        return resolve_path(self.out_root) / self.run

    @property
    def data_path(self) -> Path:
        return resolve_path(self.data_root)

    @property
    def model_cache_dir(self) -> Path:
        """Where the tiny model (and hub downloads) live: beside all runs, shared by every stage."""
        return resolve_path(self.out_root) / "models"

    def stage_dir(self, stage: str) -> Path:
        """Fixed per-stage folder under the run (``outputs/<run>/02_sft``): how stages hand over."""
        if stage not in STAGE_DIRS:
            raise ConfigError(f"unknown stage {stage!r}; known: {sorted(STAGE_DIRS)}")
        return self.run_dir / STAGE_DIRS[stage]


@dataclasses.dataclass
class CoTConfig(CommonConfig):
    """Stage 1: CoT data generation (notebook 01)."""

    num_samples: int = param(10000, "training expressions sampled (stratified, seeded)")
    pseudo_keyframe_top_k: int = param(
        5, "pseudo keyframe: random pick among the top-k frames by target area"
    )
    teacher: str = param("offline", "offline | openai (any OpenAI-compatible chat endpoint)")
    offline_trace_style: str = param(
        "full", "offline teacher: full (three steps) | brief (short, for tiny models)"
    )
    teacher_base_url: str = param("", "OpenAI-compatible base URL (key from $VEASON_TEACHER_API_KEY)")
    teacher_model: str = param("", "teacher model name at that endpoint")
    teacher_concurrency: int = param(8, "concurrent teacher requests")
    teacher_timeout_s: float = param(120.0, "timeout of one teacher request")
    teacher_retries: int = param(4, "retries per request, with exponential backoff")
    empty_think: bool = param(False, "ablation 'SFT without CoT': records get an empty <think>")
    sft_target: str = param("full", "full | keyframe_only (ablation 'SFT-keyframe': answers carry no boxes)")


@dataclasses.dataclass
class TrainingConfig(CommonConfig):
    """Fields SFT and GRPO share: what is trained, how fast, and where it is logged."""

    use_lora: bool = param(True, "LoRA on the language model (vision tower frozen); False: full fine-tuning")
    lora_rank: int = param(8, "LoRA rank")
    lora_alpha: int = param(16, "LoRA alpha")
    lora_targets: list[str] = param(["q_proj", "k_proj", "v_proj", "o_proj"], "LoRA target modules")
    train_lm_head: bool = param(False, "also train lm_head and embeddings (helps tiny random models)")
    learning_rate: float = param(1e-4, "learning rate")
    epochs: float = param(1.0, "epochs over the stage's data")
    max_steps: int = param(-1, "stop after this many steps (-1: epochs decide)")
    bf16: bool = param(True, "bf16 where the device supports it")
    gradient_checkpointing: bool = param(False, "trade compute for memory")
    logging_steps: int = param(10, "log every n steps")
    save_steps: int = param(50, "checkpoint every n steps")
    report_to: str = param("tensorboard", "tensorboard | wandb | none")


@dataclasses.dataclass
class SFTConfig(TrainingConfig):
    """Stage 2: CoT supervised fine-tuning (notebook 02). Paper: LoRA rank 8, lr 1e-4, cosine, accum 8."""

    lr_scheduler: str = param("cosine", "learning-rate schedule")
    batch_size: int = param(1, "per-device batch size")
    grad_accum: int = param(8, "gradient accumulation steps")


@dataclasses.dataclass
class GRPOConfig(TrainingConfig):
    """Stage 3: GRPO with the four verifiable rewards (notebook 03)."""

    use_lora: bool = param(False, "LoRA instead of full fine-tuning")
    learning_rate: float = param(1e-6, "learning rate")
    gradient_checkpointing: bool = param(True, "trade compute for memory")
    logging_steps: int = param(1, "log every n steps")
    init_from: str = param("sft", "sft (the stage-2 model) | base (pure GRPO from `model`)")
    reward_weights: dict[str, float] = param(
        {"format": 1.0, "keyframe": 1.0, "spatial": 1.0, "consistency": 1.0},
        "alpha_f, alpha_k, alpha_s, alpha_u",
    )
    num_generations: int = param(8, "completions per prompt (group size G)")
    prompts_per_step: int = param(16, "prompts per optimizer step")
    num_prompts: int = param(10000, "GRPO prompts (one epoch)")
    beta: float = param(0.005, "KL coefficient (k3 estimator)")
    loss_type: str = param("grpo", "TRL loss type (the paper: grpo)")
    epsilon: float = param(0.2, "clip range")
    max_grad_norm: float = param(1.0, "gradient clipping")
    max_completion_length: int = param(1024, "max completion tokens")
    temperature: float = param(1.0, "sampling temperature of rollouts")
    use_vllm: bool = param(False, "vLLM rollouts (GPU only)")


@dataclasses.dataclass
class EvalConfig(CommonConfig):
    """Inference and evaluation (notebook 04)."""

    eval_model: str = param("grpo", "grpo | sft | base | a path: the model to evaluate")
    split: str = param("valid", "benchmark split")
    max_expressions: int = param(-1, "evaluate only the first n expressions (-1: all)")
    batch_size: int = param(4, "prompts per generation batch")
    max_new_tokens: int = param(1024, "generation budget")
    oracle_rows: bool = param(True, "also score GT keyframe + predicted boxes, and GT keyframe + GT boxes")
    num_shards: int = param(1, "split the expressions into this many shards")
    shard: int = param(0, "which shard this process evaluates")
    score_processes: int = param(1, "processes that score the prediction trees")
    demo_source: str = param(
        "", "segment-any-video demo: an .mp4 or a frame folder (empty: the split's first video)"
    )
    demo_query: str = param("", "the demo's query (empty: that video's first expression)")


@dataclasses.dataclass
class CurvesConfig(CommonConfig):
    """Training curves and ablation tables (notebook 05)."""

    compare_runs: list[str] = param(
        [], "other runs to overlay (names under out_root); the current run is always in"
    )
    smoothing: float = param(0.6, "exponential moving-average weight for the curves")


@dataclasses.dataclass
class FailureConfig(CommonConfig):
    """Failure analysis (notebook 06)."""

    worst_k: int = param(8, "how many of the worst expressions to show")
    strip_frames: int = param(6, "frames per strip in the gallery")


STAGE_DIRS: dict[str, str] = {
    "cot": "01_cot",
    "sft": "02_sft",
    "grpo": "03_grpo",
    "eval": "04_eval",
    "curves": "05_curves",
    "failures": "06_failures",
}

STAGES: dict[str, type[CommonConfig]] = {
    "cot": CoTConfig,
    "sft": SFTConfig,
    "grpo": GRPOConfig,
    "eval": EvalConfig,
    "curves": CurvesConfig,
    "failures": FailureConfig,
}


def load_profile(path: str | Path, stage: str, **overrides: Any) -> CommonConfig:
    """Resolve one stage's config: defaults <- ``common:`` <- ``<stage>:`` of the params file <- overrides."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; known: {sorted(STAGES)}")
    data = read_params_file(path)
    unknown = sorted(set(data) - {"common", *STAGES})
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; known: common, {', '.join(STAGES)}")
    values = {**(data.get("common") or {}), **(data.get(stage) or {}), **overrides}
    return STAGES[stage].from_dict(values, source=f"{path} [{stage}]")
