"""Training curves: the GRPO dynamics of the paper's Fig. 6 and the SFT loss, for one run or several.

The logs are TRL's ``log_history`` (one dict per logging step). They are read from a stage folder:
``log_history.json`` when a stage saved one, else the latest ``checkpoint-N/trainer_state.json``, else
the curves that ``metrics.json`` keeps (SFT saves no checkpoint; its ``loss_curve`` is there).

Figures are built as bare :class:`matplotlib.figure.Figure` objects (Agg rendering, no pyplot state), so
they work headless, are shown inline by Jupyter, and never leak between calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from veason_lib.config import STAGE_DIRS
from veason_lib.data.errors import DataError, read_json
from veason_lib.rewards import REWARD_NAMES

# Names written by TRL 1.16 (grpo_trainer.py, transformers' Trainer) and by veason_lib.training.
STEP = "step"
LOSS = "loss"
TOTAL_REWARD = "reward"
REWARD_COMPONENT = "rewards/{name}_reward/mean"  # TRL names a reward by its function: format_reward, ...
MEAN_LENGTH = "completions/mean_length"
KL = "kl"
LOG_HISTORY_FILE = "log_history.json"
TRAINER_STATE_FILE = "trainer_state.json"
METRICS_FILE = "metrics.json"
METRICS_CURVES = {"loss_curve": LOSS, "reward_curve": TOTAL_REWARD}  # metrics.json: [[step, value], ...]
CHECKPOINT = re.compile(r"checkpoint-(\d+)")

FIG6_PANELS: dict[str, str] = {
    TOTAL_REWARD: "total reward",
    **{REWARD_COMPONENT.format(name=name): f"{name} reward" for name in REWARD_NAMES},
    MEAN_LENGTH: "mean response length (tokens)",
    KL: "KL",
}
PANEL_COLUMNS = 4
RAW_ALPHA = 0.25  # unsmoothed values are drawn faintly behind the smoothed line, as TensorBoard does


# ----------------------------------------------------------------------------------------------------
# Reading the logs
# ----------------------------------------------------------------------------------------------------


def latest_checkpoint(stage_dir: Path) -> Path | None:
    """The ``checkpoint-N`` folder with the largest N (numerically: 10 comes after 9)."""
    matches = [(CHECKPOINT.fullmatch(p.name), p) for p in stage_dir.glob("checkpoint-*")]
    numbered = [(int(m.group(1)), p) for m, p in matches if m]
    return max(numbered)[1] if numbered else None


def log_history_source(path: Path) -> Path | None:
    """The file holding a stage's log history, by preference: saved history, checkpoint, metrics."""
    if path.is_file():
        return path
    checkpoint = latest_checkpoint(path)
    candidates = [
        path / LOG_HISTORY_FILE,
        checkpoint / TRAINER_STATE_FILE if checkpoint else None,
        path / METRICS_FILE,
    ]
    return next((c for c in candidates if c is not None and c.is_file()), None)


def history_entries(source: Path) -> list[dict]:
    """The list of log dicts held by a log-history, trainer-state or metrics file."""
    data = read_json(source)
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get("log_history"), list):
        return data["log_history"]
    if isinstance(data, dict) and any(k in data for k in METRICS_CURVES):
        return curve_entries(data, source)
    raise DataError.at(source, "log_history", "no log history (a list of log dicts) in this file")


def curve_entries(metrics: dict, source: Path) -> list[dict]:
    """``metrics.json`` curves ([[step, value], ...]) as log dicts, one per step."""
    entries: dict[int, dict] = {}
    for field, column in METRICS_CURVES.items():
        for i, point in enumerate(metrics.get(field, [])):
            if not (isinstance(point, list | tuple) and len(point) == 2):
                raise DataError.at(source, f"{field}[{i}]", f"expected [step, value], got {point!r:.80}")
            step, value = point
            entries.setdefault(int(step), {STEP: int(step)})[column] = value
    return [entries[step] for step in sorted(entries)]


def load_log_history(path: str | Path) -> pd.DataFrame:
    """One row per log entry, sorted by step, from a run folder (its GRPO stage), a stage folder or a file.

    Columns are TRL's names (``reward``, ``rewards/format_reward/mean``, ``kl``, ...); an entry that
    lacks a name has NaN there (the final summary entry, for instance, has no ``loss``).
    """
    path = Path(path)
    grpo_dir = path / STAGE_DIRS["grpo"]
    source = log_history_source(path) or (log_history_source(grpo_dir) if grpo_dir.is_dir() else None)
    if source is None:
        raise DataError.at(
            path,
            "log_history",
            f"not found: looked for {LOG_HISTORY_FILE}, checkpoint-N/{TRAINER_STATE_FILE} and {METRICS_FILE} "
            f"here and in {STAGE_DIRS['grpo']}/",
        )
    frame = pd.DataFrame(history_entries(source))
    if STEP not in frame.columns:
        raise DataError.at(source, STEP, "missing from every log entry")
    return frame.sort_values(STEP, kind="stable").reset_index(drop=True)


def save_log_history(log_history: Sequence[dict], stage_dir: str | Path) -> Path:
    """Write a trainer's ``state.log_history`` as ``<stage_dir>/log_history.json`` (read first above)."""
    path = Path(stage_dir) / LOG_HISTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(log_history), indent=1) + "\n")
    return path


# ----------------------------------------------------------------------------------------------------
# Smoothing
# ----------------------------------------------------------------------------------------------------


def smooth(series: pd.Series, weight: float) -> pd.Series:
    """TensorBoard's debiased exponential moving average; NaN entries stay NaN and are skipped.

    >>> smooth(pd.Series([1.0, 1.0, 1.0]), 0.9).tolist()
    [1.0, 1.0, 1.0]
    >>> [round(v, 4) for v in smooth(pd.Series([0.0, 1.0]), 0.5)]
    [0.0, 0.6667]
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing: weight must be in [0, 1), got {weight}")
    values = series.to_numpy(dtype=float)  # (N,)
    smoothed = np.full_like(values, np.nan)  # (N,)
    last, count = 0.0, 0
    for i, value in enumerate(values):
        if not np.isfinite(value):
            continue
        last = last * weight + (1.0 - weight) * value
        count += 1
        smoothed[i] = last / (1.0 - weight**count)  # debias: early points are not pulled towards 0
    return pd.Series(smoothed, index=series.index, name=series.name)


# ----------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------


def draw_curve(
    ax: Axes, history: pd.DataFrame, column: str, smoothing: float, label: str, colour: str
) -> bool:
    """Raw values faintly and their smoothed curve on ``ax``; False when the run did not log ``column``."""
    if column not in history.columns:
        return False
    points = history[[STEP, column]].dropna()
    if points.empty:
        return False
    ax.plot(points[STEP], points[column], color=colour, alpha=RAW_ALPHA, linewidth=1)
    ax.plot(points[STEP], smooth(points[column], smoothing), color=colour, linewidth=1.8, label=label)
    return True


def draw_panel(
    ax: Axes, histories: Mapping[str, pd.DataFrame], column: str, title: str, smoothing: float
) -> None:
    """One metric for every run, one colour per run (the same colour in every panel)."""
    colours = [f"C{i % 10}" for i in range(len(histories))]
    drawn = [
        draw_curve(ax, history, column, smoothing, name, colour)
        for (name, history), colour in zip(histories.items(), colours, strict=True)
    ]
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(STEP)
    ax.grid(alpha=0.3)
    if not any(drawn):
        ax.text(0.5, 0.5, f"not logged\n({column})", ha="center", va="center", transform=ax.transAxes)


def plot_training_curves(
    histories: Mapping[str, pd.DataFrame], smoothing: float = 0.6, out_path: str | Path | None = None
) -> Figure:
    """The paper's Fig. 6 for several runs overlaid: total reward, each reward, response length and KL.

    A run without a column (an ablation without R_k, a run with beta 0) is simply absent from that panel.
    """
    if not histories:
        raise ValueError("histories: need at least one run")
    rows = -(-len(FIG6_PANELS) // PANEL_COLUMNS)
    fig = Figure(figsize=(4 * PANEL_COLUMNS, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, PANEL_COLUMNS, squeeze=False).ravel()
    for ax, (column, title) in zip(axes, FIG6_PANELS.items(), strict=False):
        draw_panel(ax, histories, column, title, smoothing)
    for ax in axes[len(FIG6_PANELS) :]:
        ax.set_visible(False)
    legend = {
        label: handle for ax in axes for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)
    }
    if legend:
        fig.legend(legend.values(), legend.keys(), loc="outside lower center", ncols=min(len(legend), 6))
    fig.suptitle(f"GRPO training curves (EMA smoothing {smoothing})")
    return save_figure(fig, out_path)


def plot_sft_loss(
    history: pd.DataFrame, smoothing: float = 0.6, out_path: str | Path | None = None
) -> Figure:
    """The CoT-SFT training loss against the step (notebook 02)."""
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    if not draw_curve(ax, history, LOSS, smoothing, "loss", "C0"):
        raise ValueError(f"history: no {LOSS!r} values (columns: {sorted(history.columns)})")
    ax.set(title=f"CoT-SFT loss (EMA smoothing {smoothing})", xlabel=STEP, ylabel=LOSS)
    ax.grid(alpha=0.3)
    return save_figure(fig, out_path)


def save_figure(fig: Figure, out_path: str | Path | None) -> Figure:
    """Write ``fig`` as a PNG when a path is given; return it either way."""
    if out_path is not None:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out_path, format="png", dpi=120)
    return fig


# ----------------------------------------------------------------------------------------------------
# Notebook 05: several runs at once
# ----------------------------------------------------------------------------------------------------


def load_run_histories(out_root: str | Path, runs: Sequence[str]) -> dict[str, pd.DataFrame]:
    """GRPO log histories of several runs under ``out_root``, by run name."""
    return {run: load_log_history(Path(out_root) / run) for run in runs}


def curve_summary(histories: dict[str, pd.DataFrame]) -> dict[str, dict[str, float | None]]:
    """Per run: steps logged and the first and last logged total reward, response length and KL."""
    summary = {}
    for run, frame in histories.items():
        row: dict[str, float | None] = {"steps": int(frame[STEP].max()) if len(frame) else 0}
        for name, column in (("reward", TOTAL_REWARD), ("mean_length", MEAN_LENGTH), ("kl", KL)):
            values = frame[column].dropna() if column in frame.columns else pd.Series(dtype=float)
            row[f"first_{name}"] = float(values.iloc[0]) if len(values) else None
            row[f"last_{name}"] = float(values.iloc[-1]) if len(values) else None
        summary[run] = row
    return summary
