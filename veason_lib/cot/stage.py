"""Stage 1 end to end: select expressions, trace them, write the files the training stages read.

Files in the stage folder (fixed names):

- ``sft_records.jsonl``: one SFT target per traced item (key, video, exp_id, query, type_id,
  frame_indices, timestamps, keyframe, boxes, think, completion), in selection order;
- ``grpo_prompts.jsonl``: every selected expression's prompt identity (key, video, exp_id, query, type_id,
  frame_indices, timestamps), traced or not: GRPO needs no trace;
- ``summary.json``: counts per stratum, failures, template use;
- ``traces.jsonl`` / ``traces.failures.jsonl``: the resumable teacher output behind the records.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veason_lib.config import ConfigError, CoTConfig
from veason_lib.cot.offline import SCENE_FACTS, OfflineTeacher
from veason_lib.cot.runner import CoTItem, generate_traces
from veason_lib.cot.selection import item_rng, pseudo_keyframe, stratified_sample, stratum
from veason_lib.cot.teacher_prompt import TEACHER_TEMPLATES
from veason_lib.cot.teachers import OpenAITeacher, Teacher, TraceRequest
from veason_lib.data.errors import DataError
from veason_lib.data.sampling import sample_frames
from veason_lib.jsonl import read_jsonl, write_jsonl
from veason_lib.prompts import format_completion
from veason_lib.samples import build_sample

if TYPE_CHECKING:
    from veason_lib.data import Benchmark, Expression

SFT_RECORDS = "sft_records.jsonl"
GRPO_PROMPTS = "grpo_prompts.jsonl"
SUMMARY = "summary.json"
TRACES = "traces.jsonl"
PROMPT_FIELDS = ("key", "video", "exp_id", "query", "type_id", "frame_indices", "timestamps")
SFT_FIELDS = (*PROMPT_FIELDS, "keyframe", "boxes", "think")
SFT_TARGETS = ("full", "keyframe_only")


def make_teacher(cfg: CoTConfig, benchmark: Benchmark) -> Teacher:
    """The teacher named by ``cfg.teacher``: ``offline`` (the benchmark's scene facts) or ``openai``."""
    if cfg.teacher == "offline":
        return OfflineTeacher(Path(benchmark.root) / SCENE_FACTS, fps=cfg.fps, style=cfg.offline_trace_style)
    if cfg.teacher == "openai":
        return OpenAITeacher(
            cfg.teacher_base_url,
            cfg.teacher_model,
            timeout_s=cfg.teacher_timeout_s,
            retries=cfg.teacher_retries,
            concurrency=cfg.teacher_concurrency,
        )
    raise ConfigError(f"teacher: {cfg.teacher!r} is not one of 'offline', 'openai'")


def trace_request(benchmark: Benchmark, expr: Expression, cfg: CoTConfig) -> TraceRequest:
    """Build the sample, draw its pseudo keyframe and template (fixed by seed and key: reruns agree)."""
    sample = build_sample(benchmark, expr, cfg.num_frames, cfg.frame_size, cfg.fps)
    rng = item_rng(cfg.seed, expr.key)
    keyframe_pos = pseudo_keyframe(sample.areas, cfg.pseudo_keyframe_top_k, rng)
    template_id = int(rng.integers(len(TEACHER_TEMPLATES)))
    return TraceRequest(sample, expr.obj_ids, keyframe_pos, template_id)


def prompt_row(benchmark: Benchmark, expr: Expression, cfg: CoTConfig) -> dict[str, Any]:
    """A GRPO prompt's identity: the expression and its uniformly sampled frames (no pixels read)."""
    video = benchmark.videos.get(expr.video)
    if video is None:
        raise DataError(
            f"{benchmark.root}: expression {expr.key}: video {expr.video!r} is not in the benchmark"
        )
    indices, timestamps = sample_frames(len(video.frame_names), cfg.num_frames, fps=cfg.fps)
    row = {"key": expr.key, "video": expr.video, "exp_id": expr.exp_id, "query": expr.text}
    return {**row, "type_id": expr.type_id, "frame_indices": indices, "timestamps": timestamps}


def sft_record(trace: dict[str, Any], empty_think: bool, keyframe_only: bool = False) -> dict[str, Any]:
    """A traces-file line as an SFT target. Ablations: ``empty_think`` is "SFT without CoT";
    ``keyframe_only`` is "SFT-keyframe" (the answer names the keyframe and no boxes)."""
    record = {name: trace[name] for name in SFT_FIELDS}
    record["think"] = "" if empty_think else trace["think"]
    if keyframe_only:
        record["boxes"] = []
    record["completion"] = format_completion(record["think"], record["keyframe"], record["boxes"])
    return record


def sft_records(
    traces_path: Path,
    prompts: list[dict[str, Any]],
    teacher: str,
    empty_think: bool,
    keyframe_only: bool = False,
) -> list[dict[str, Any]]:
    """SFT records for the selected prompts that have a trace, in selection order."""
    traces = {trace["key"]: trace for trace in read_jsonl(traces_path)}
    records = []
    for prompt in prompts:
        trace = traces.get(prompt["key"])
        if trace is None:
            continue
        if trace.get("teacher") != teacher:
            raise DataError.at(
                traces_path,
                f"{prompt['key']}.teacher",
                f"{trace.get('teacher')!r} wrote it, this config asks {teacher!r}: delete the file to regenerate",
            )
        if trace.get("frame_indices") != prompt["frame_indices"]:
            raise DataError.at(
                traces_path,
                f"{prompt['key']}.frame_indices",
                "differ from this config's frame sampling "
                "(traces of another config?): delete the file to regenerate",
            )
        records.append(sft_record(trace, empty_think, keyframe_only))
    return records


def build_stage1(
    cfg: CoTConfig, benchmark: Benchmark, teacher: Teacher, out_dir: str | Path
) -> dict[str, Any]:
    """Select, trace and write the stage-1 files into ``out_dir``; returns (and writes) the summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    expressions = stratified_sample(benchmark, cfg.num_samples, cfg.seed)
    prompts = [prompt_row(benchmark, expr, cfg) for expr in expressions]
    write_jsonl(out_dir / GRPO_PROMPTS, prompts)
    items = [CoTItem(expr.key, partial(trace_request, benchmark, expr, cfg)) for expr in expressions]
    run = generate_traces(items, teacher, out_dir / TRACES, concurrency=cfg.teacher_concurrency)
    if cfg.sft_target not in SFT_TARGETS:
        raise ConfigError(f"sft_target: {cfg.sft_target!r} is not one of {SFT_TARGETS}")
    records = sft_records(
        out_dir / TRACES, prompts, teacher.name, cfg.empty_think, cfg.sft_target == "keyframe_only"
    )
    write_jsonl(out_dir / SFT_RECORDS, records)
    summary = stage_summary(expressions, records, read_jsonl(out_dir / TRACES), run, teacher.name)
    (out_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def stage_summary(
    expressions: list[Expression], records: list[dict], traces: list[dict], run: dict, teacher: str
) -> dict[str, Any]:
    """Counts for ``summary.json``: per stratum, teacher failures, template and keyframe use."""
    traced = {record["key"]: record for record in records}
    selected = {expr.key for expr in expressions}
    strata: dict[str, dict[str, Any]] = {}
    for expr in expressions:
        row = strata.setdefault(
            stratum(expr), {"stratum": stratum(expr), "selected": 0, "records": 0, "words": 0}
        )
        row["selected"] += 1
        if expr.key in traced:
            row["records"] += 1
            row["words"] += len(traced[expr.key]["think"].split())
    for row in strata.values():
        row["mean_think_words"] = round(row.pop("words") / row["records"], 1) if row["records"] else 0.0
    templates = Counter(str(t["template_id"]) for t in traces if t["key"] in selected)
    return {
        "teacher": teacher,
        "selected": len(expressions),
        "records": len(records),
        "grpo_prompts": len(expressions),
        "traces": run,
        "strata": [strata[name] for name in sorted(strata)],
        "templates": dict(sorted(templates.items())),
    }


def summary_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-stratum rows of a stage summary plus a total row (``pandas.DataFrame(rows)`` shows it)."""
    rows = [dict(row) for row in summary["strata"]]
    total_records = sum(row["records"] for row in rows)
    words = sum(row["mean_think_words"] * row["records"] for row in rows)
    total = {"stratum": "total", "selected": summary["selected"], "records": total_records}
    return [*rows, {**total, "mean_think_words": round(words / total_records, 1) if total_records else 0.0}]
