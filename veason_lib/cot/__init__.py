"""Stage 1: chain-of-thought data (METHOD.md section 5).

``build_stage1(cfg, benchmark, make_teacher(cfg, benchmark), out_dir)`` selects a stratified sample of
training expressions, draws a pseudo keyframe per item, asks a teacher (a model behind any
OpenAI-compatible endpoint, or the offline teacher on the built-in benchmark) for a trace, and writes
``sft_records.jsonl``, ``grpo_prompts.jsonl`` and ``summary.json``.
"""

from veason_lib.cot.examples import example_figures, stage_metrics
from veason_lib.cot.offline import OfflineTeacher
from veason_lib.cot.runner import CoTItem, generate_traces
from veason_lib.cot.selection import pseudo_keyframe, stratified_sample
from veason_lib.cot.stage import GRPO_PROMPTS, SFT_RECORDS, SUMMARY, build_stage1, make_teacher, summary_table
from veason_lib.cot.teacher_prompt import TEACHER_TEMPLATES, render_teacher_images, teacher_messages
from veason_lib.cot.teachers import (
    API_KEY_ENV,
    OpenAITeacher,
    Teacher,
    TeacherError,
    TraceRequest,
    validate_trace,
)

__all__ = [
    "API_KEY_ENV",
    "GRPO_PROMPTS",
    "SFT_RECORDS",
    "SUMMARY",
    "TEACHER_TEMPLATES",
    "CoTItem",
    "OfflineTeacher",
    "OpenAITeacher",
    "Teacher",
    "TeacherError",
    "TraceRequest",
    "build_stage1",
    "example_figures",
    "stage_metrics",
    "generate_traces",
    "make_teacher",
    "pseudo_keyframe",
    "render_teacher_images",
    "stratified_sample",
    "summary_table",
    "teacher_messages",
    "validate_trace",
]
