"""What a person looks at after stage 1: a few records as the teacher saw them, and the stage's scalars."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veason_lib.config import CoTConfig
from veason_lib.cot.stage import SFT_RECORDS, TRACES
from veason_lib.cot.teacher_prompt import render_teacher_images
from veason_lib.jsonl import read_jsonl
from veason_lib.samples import build_sample

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from veason_lib.data import Benchmark


def example_figures(
    cfg: CoTConfig, benchmark: Benchmark, out_dir: str | Path, count: int = 2
) -> list[Figure]:
    """The first ``count`` SFT records: frames with the red target boxes, the query, the trace, the answer."""
    import matplotlib.pyplot as plt

    by_key = {e.key: e for e in benchmark.expressions}
    traces = {trace["key"]: trace["think"] for trace in read_jsonl(Path(out_dir) / TRACES)}
    figures = []
    for record in read_jsonl(Path(out_dir) / SFT_RECORDS)[:count]:
        sample = build_sample(
            benchmark,
            by_key[record["key"]],
            cfg.num_frames,
            cfg.frame_size,
            cfg.fps,
            indices=record["frame_indices"],
        )
        images = render_teacher_images(sample, record["timestamps"].index(record["keyframe"]))
        figure, axes = plt.subplots(1, len(images), figsize=(2.2 * len(images), 4.2), squeeze=False)
        for axis, image, stamp in zip(axes[0], images, record["timestamps"], strict=True):
            axis.imshow(image)
            axis.set_title(f"<{stamp}s>" + (" keyframe" if stamp == record["keyframe"] else ""), fontsize=8)
            axis.axis("off")
        trained = "" if record["think"] else "\n(the SFT target's think is empty: the 'SFT without CoT' form)"
        text = textwrap.fill(f"teacher: {traces[record['key']]}", 150) + trained
        figure.suptitle(f"{record['query']}", fontsize=10)
        figure.text(
            0.01,
            0.02,
            f"{text}\nanswer: {record['completion'].split('<answer>')[-1]}",
            fontsize=7,
            va="bottom",
        )
        figure.subplots_adjust(bottom=0.45)
        plt.close(figure)
        figures.append(figure)
    return figures


def stage_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The scalars of a stage-1 summary that go into ``metrics.json``."""
    return {
        "teacher": summary["teacher"],
        "selected": summary["selected"],
        "records": summary["records"],
        "grpo_prompts": summary["grpo_prompts"],
        "traces": summary["traces"],
    }
