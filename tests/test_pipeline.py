"""The main job end to end: `python -m veason_lib.pipeline --params params/smoke.yaml` on tiny models.

A test of plumbing (every stage runs and hands over through its files) and of the evaluation's
consistency, not of accuracy: the smoke profile runs tiny random models.
"""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from veason_lib.config import load_profile
from veason_lib.inference import MODEL_ROW, ORACLE_BOXES_ROW, ORACLE_KEYFRAME_ROW
from veason_lib.models import TINY_NOTICE
from veason_lib.notebooks import NOTEBOOKS

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "params" / "smoke.yaml"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_root = tmp_path_factory.mktemp("outputs")
    command = [
        sys.executable,
        "-m",
        "veason_lib.pipeline",
        "--params",
        str(SMOKE),
        "--out-root",
        str(out_root),
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert ORACLE_BOXES_ROW in done.stdout, "the pipeline ends by printing the evaluation table"
    return out_root / load_profile(SMOKE, "eval").run


def stage_dir(run_dir: Path, stage: str) -> Path:
    return load_profile(SMOKE, stage, out_root=str(run_dir.parent)).stage_dir(stage)


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") + json.dumps(output.get("data", {})))
    return "\n".join(texts)


@pytest.mark.slow
def test_every_stage_leaves_its_notebook_config_and_metrics(smoke_run: Path) -> None:
    for stage, name in NOTEBOOKS.items():
        folder = stage_dir(smoke_run, stage)
        notebook = nbformat.read(folder / name, as_version=4)
        assert json.loads((folder / "config.json").read_text())["run"] == smoke_run.name
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["stage"] == stage and metrics["tiny_models"] is True
        assert TINY_NOTICE in outputs_text(notebook), f"{name} must say that it ran tiny random models"


@pytest.mark.slow
def test_evaluation_has_oracle_rows_and_a_working_segmenter(smoke_run: Path) -> None:
    metrics = json.loads((stage_dir(smoke_run, "eval") / "metrics.json").read_text())
    assert set(metrics["rows"]) == {MODEL_ROW, ORACLE_KEYFRAME_ROW, ORACLE_BOXES_ROW}
    # GT keyframe + GT boxes isolates the segmenter: the classical backend must track the built-in objects
    assert metrics["rows"][ORACLE_BOXES_ROW]["overall"]["JF"] >= 70.0
    assert 0.0 <= metrics["parse_failure_rate"] <= 1.0


@pytest.mark.slow
def test_notebook_metrics_agree_with_the_evaluator_on_its_own_predictions(
    smoke_run: Path, tmp_path: Path
) -> None:
    eval_dir = stage_dir(smoke_run, "eval")
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    cfg = load_profile(SMOKE, "eval")
    for row, folder in metrics["prediction_dirs"].items():
        out = tmp_path / f"{folder}.json"
        command = [sys.executable, "-m", "veason_lib.evaluate", "--benchmark", cfg.benchmark, "--root"]
        command += [
            str(cfg.data_path),
            "--split",
            cfg.split,
            "--pred",
            str(eval_dir / folder),
            "--out",
            str(out),
        ]
        subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=600)
        evaluator = {e["key"]: e for e in json.loads(out.read_text())["per_expression"]}
        notebook = metrics["rows"][row]["per_expression"]
        assert notebook, row
        for entry in notebook:
            for name in ("J", "F", "JF", "R", "R_bin"):
                assert evaluator[entry["key"]][name] == pytest.approx(entry[name], abs=1e-9), (
                    row,
                    entry["key"],
                    name,
                )


@pytest.mark.slow
def test_curves_and_failure_gallery_are_drawn(smoke_run: Path) -> None:
    assert (stage_dir(smoke_run, "curves") / "training_curves.png").stat().st_size > 10_000
    gallery = nbformat.read(stage_dir(smoke_run, "failures") / NOTEBOOKS["failures"], as_version=4)
    images = [o for c in gallery.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the worst expressions are shown as strips of frames"
    counts = json.loads((stage_dir(smoke_run, "failures") / "metrics.json").read_text())["categories"]
    assert sum(counts.values()) == load_profile(SMOKE, "eval").max_expressions


def test_a_typo_in_a_profile_fails_before_any_stage_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from veason_lib.pipeline import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("common:\n  num_frame: 8\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--params", str(bad), "--out-root", str(tmp_path / "outputs")])
    assert exit_info.value.code == 2
    assert "bad.yaml [cot]: unknown parameter(s) ['num_frame']" in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists(), (
        "nothing runs (or is written) before the whole profile resolves"
    )
    with pytest.raises(SystemExit):
        main(["--params", str(SMOKE), "--stages", "grpoo"])
