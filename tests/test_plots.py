"""Training curves: reading TRL log histories from a fake run folder, EMA smoothing, Fig. 6 and SFT loss."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from veason_lib.data import DataError
from veason_lib.plots import (
    FIG6_PANELS,
    KL,
    MEAN_LENGTH,
    REWARD_COMPONENT,
    TOTAL_REWARD,
    load_log_history,
    plot_sft_loss,
    plot_training_curves,
    save_log_history,
    smooth,
)
from veason_lib.rewards import REWARD_NAMES


def grpo_log(steps: int, rewards: tuple[str, ...] = REWARD_NAMES, kl: bool = True) -> list[dict]:
    """A TRL-like GRPO log history: one entry per step, then the end-of-training summary entry."""
    history = []
    for step in range(1, steps + 1):
        entry = {"step": step, "epoch": step / steps, "loss": 0.01 * step, "learning_rate": 1e-6}
        entry |= {REWARD_COMPONENT.format(name=name): 0.5 + 0.01 * step for name in rewards}
        entry |= {TOTAL_REWARD: 3.0 + 0.1 * step, "reward_std": 0.2, MEAN_LENGTH: 200.0 - step}
        if kl:
            entry[KL] = 0.001 * step
        history.append(entry)
    return [*history, {"step": steps, "train_runtime": 12.0, "train_loss": 0.05}]


def write_checkpoint(stage_dir: Path, step: int, history: list[dict]) -> None:
    folder = stage_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    state = {"global_step": step, "log_history": history}
    (folder / "trainer_state.json").write_text(json.dumps(state))


# ----------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------


def test_trl_logs_the_names_that_are_plotted():
    source = Path(importlib.util.find_spec("trl.trainer.grpo_trainer").origin).read_text()
    for name in ('f"rewards/{reward_func_name}/mean"', f'"{MEAN_LENGTH}"', f'"{KL}"', f'"{TOTAL_REWARD}"'):
        assert f"_metrics[mode][{name}]" in source


def test_run_folder_reads_the_latest_grpo_checkpoint(tmp_path):
    grpo = tmp_path / "run" / "03_grpo"
    write_checkpoint(grpo, 2, grpo_log(2))
    write_checkpoint(grpo, 10, grpo_log(10))  # "checkpoint-10" sorts before "checkpoint-2" as text
    history = load_log_history(tmp_path / "run")
    assert history["step"].max() == 10 and len(history) == 11
    assert history["reward"].notna().sum() == 10  # the summary entry has no reward
    assert load_log_history(grpo).equals(history)


def test_saved_log_history_wins_over_checkpoints(tmp_path):
    write_checkpoint(tmp_path, 4, grpo_log(4))
    save_log_history(grpo_log(6), tmp_path)
    assert load_log_history(tmp_path)["step"].max() == 6


def test_sft_stage_reads_the_loss_curve_of_metrics_json(tmp_path):
    metrics = {"steps": 3, "loss_curve": [[1, 2.0], [3, 1.0], [2, 1.5]], "final": {"loss": 1.0}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    history = load_log_history(tmp_path)
    assert history["step"].tolist() == [1, 2, 3] and history["loss"].tolist() == [2.0, 1.5, 1.0]


def test_missing_history_names_the_folder(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path}: log_history: not found"):
        load_log_history(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"steps": 0}))
    with pytest.raises(DataError, match="metrics.json: log_history"):
        load_log_history(tmp_path)


def test_malformed_curve_point_names_file_and_field(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"loss_curve": [[1, 2.0], [2]]}))
    with pytest.raises(DataError, match=r"metrics.json: loss_curve\[1\]"):
        load_log_history(tmp_path)


# ----------------------------------------------------------------------------------------------------
# Smoothing
# ----------------------------------------------------------------------------------------------------


def test_smooth_is_tensorboards_debiased_ema():
    values = pd.Series([1.0, 3.0, np.nan, 2.0])
    w = 0.6
    ema1 = (1 - w) * 1.0
    ema2 = w * ema1 + (1 - w) * 3.0
    ema3 = w * ema2 + (1 - w) * 2.0
    expected = [ema1 / (1 - w), ema2 / (1 - w**2), np.nan, ema3 / (1 - w**3)]
    assert np.allclose(smooth(values, w), expected, equal_nan=True)
    assert smooth(values, 0.0).equals(values)
    assert np.allclose(smooth(pd.Series([5.0] * 4), 0.99), 5.0)  # no pull towards 0 at the start


@pytest.mark.parametrize("weight", [-0.1, 1.0])
def test_smooth_rejects_weights_outside_0_1(weight):
    with pytest.raises(ValueError, match="smoothing"):
        smooth(pd.Series([1.0]), weight)


# ----------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------


def test_fig6_overlays_runs_and_marks_what_a_run_did_not_log(tmp_path):
    full = pd.DataFrame(grpo_log(20))
    ablation = pd.DataFrame(grpo_log(12, rewards=("format", "keyframe", "spatial"), kl=False))
    out = tmp_path / "05_curves" / "fig6.png"
    fig = plot_training_curves({"full": full, "w/o R_u, beta 0": ablation}, smoothing=0.6, out_path=out)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert list(panels) == list(FIG6_PANELS.values())
    assert len(panels["total reward"].lines) == 4  # raw + smoothed per run
    assert len(panels["consistency reward"].lines) == 2  # only the full run has R_u
    assert len(panels["KL"].lines) == 2
    smoothed = panels["total reward"].lines[1].get_ydata()
    assert np.allclose(smoothed, smooth(full["reward"].dropna(), 0.6))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["full", "w/o R_u, beta 0"]
    assert out.read_bytes().startswith(b"\x89PNG")


def test_fig6_panel_without_any_data_says_not_logged():
    history = pd.DataFrame(grpo_log(3, kl=False))
    fig = plot_training_curves({"run": history})
    kl_panel = next(ax for ax in fig.axes if ax.get_title() == "KL")
    assert not kl_panel.lines and "not logged" in kl_panel.texts[0].get_text()
    with pytest.raises(ValueError, match="histories"):
        plot_training_curves({})


def test_sft_loss_curve(tmp_path):
    history = pd.DataFrame(
        {"step": [1, 2, 3, 3], "loss": [2.0, 1.0, 0.5, np.nan], "train_runtime": [None] * 3 + [1]}
    )
    fig = plot_sft_loss(history, out_path=tmp_path / "loss.png")
    raw, smoothed = fig.axes[0].lines
    assert raw.get_ydata().tolist() == [2.0, 1.0, 0.5]
    assert (tmp_path / "loss.png").is_file()
    with pytest.raises(ValueError, match="'loss'"):
        plot_sft_loss(pd.DataFrame({"step": [1], "reward": [1.0]}))
