"""The evaluator against hand-computed aggregates on a tiny fake benchmark, and end to end via its CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from veason_lib.data import Benchmark, DataError, Expression, Video, load_benchmark, synthetic
from veason_lib.evaluate import evaluate_predictions, format_table, main

HEIGHT, WIDTH = 8, 10  # tolerance r = 1


def square(top: int, left: int, size: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


A, B = square(1, 1, 2), square(4, 3, 3)  # 4 and 9 pixels, apart
STRAY = square(6, 8, 1)  # a false positive, outside every object
EMPTY = np.zeros((HEIGHT, WIDTH), dtype=bool)


class FakeBenchmark(Benchmark):
    """One video of 2 frames with objects A and B in both; ReVOS layout and rules."""

    objects = {"a": np.stack([A, A]), "b": np.stack([B, B])}  # (T, H, W) each

    def __init__(self, root: Path, name: str = "revos") -> None:
        video = Video("v", ("00000", "00001"), HEIGHT, WIDTH, root / "JPEGImages" / "v")
        expressions = [
            _expression("0", ("a",), 0),  # referring
            _expression("1", ("b",), 0),  # referring, no prediction
            _expression("2", ("a", "b"), 1),  # reasoning, two objects
            _expression("3", (), 2),  # no target
        ]
        super().__init__(name, root, "valid", {"v": video}, expressions)

    def object_masks(self, expr: Expression, indices: Sequence[int] | None = None) -> np.ndarray:
        masks = [self.objects[anno_id] for anno_id in expr.anno_ids]
        return np.array(masks, dtype=bool).reshape(len(masks), 2, HEIGHT, WIDTH)  # (K, T, H, W)

    def foreground(self, video: str, indices: Sequence[int] | None = None) -> np.ndarray | None:
        return (self.objects["a"] | self.objects["b"]) if self.name == "revos" else None  # (T, H, W)

    def prediction_dir(self, pred_root: Path, expr: Expression) -> Path:
        return Path(pred_root) / expr.video / expr.exp_id


def _expression(exp_id: str, anno_ids: tuple[str, ...], type_id: int) -> Expression:
    return Expression("v", exp_id, f"query {exp_id}", anno_ids, anno_ids, type_id, f"v/{exp_id}")


def write_prediction(folder: Path, frames: Sequence[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for name, mask in zip(("00000", "00001"), frames, strict=True):
        cv2.imwrite(str(folder / f"{name}.png"), mask.astype(np.uint8) * 255)


@pytest.fixture
def predictions(tmp_path: Path) -> Path:
    root = tmp_path / "pred"
    write_prediction(root / "v" / "0", [A | STRAY, A])  # J 0.8 and 1; F 0.8 (precision 8/12) and 1
    write_prediction(root / "v" / "2", [A | B, A])  # frame 1: J 4/13, F from precision 1, recall 9/20
    write_prediction(root / "v" / "3", [STRAY, EMPTY])  # type 2: enters no number
    return root


# Hand-computed, per expression (percent, rounded to 0.01 as ReVOS does):
#   0 (referring): J 90, F 90, R: frame 0 has FP 255 >= FG 13 -> 0, frame 1 -> 1: 50; R_bin (1 - 1/13 + 1) / 2
#   1 (referring): missing -> 0 everywhere
#   2 (reasoning): J (1 + 4/13) / 2 = 65.38; F (1 + 0.9 / 1.45) / 2 = 81.03; JF 73.21; R 100, R_bin 100
REFERRING = {"J": 45.0, "F": 45.0, "JF": 45.0, "R": 25.0, "R_bin": 96.15 / 2}
REASONING = {"J": 65.38, "F": 81.03, "JF": (65.38 + 81.03) / 2, "R": 100.0, "R_bin": 100.0}


def test_revos_aggregates_match_the_hand_computed_values(tmp_path: Path, predictions: Path) -> None:
    metrics = evaluate_predictions(FakeBenchmark(tmp_path), predictions)
    assert metrics["referring"] == pytest.approx(REFERRING)
    assert metrics["reasoning"] == pytest.approx(REASONING)
    overall = {key: (REFERRING[key] + REASONING[key]) / 2 for key in REFERRING}
    assert metrics["overall"] == pytest.approx(overall)
    assert metrics["missing"] == 1
    rows = {row["exp_id"]: row for row in metrics["per_expression"]}
    assert rows["2"]["JF"] == 73.21  # rounded from the unrounded J and F, as the standard script
    assert rows["0"]["R_bin"] == 96.15
    assert rows["3"]["J"] == 50.0 and rows["3"]["type_id"] == 2  # listed, but in no aggregate
    assert rows["1"]["missing"] and rows["1"]["R"] == 0.0


def test_pool_gives_the_same_result(tmp_path: Path, predictions: Path) -> None:
    benchmark = FakeBenchmark(tmp_path)
    assert evaluate_predictions(benchmark, predictions, processes=2) == evaluate_predictions(
        benchmark, predictions
    )


def test_mevis_rules_plain_mean_with_missing_as_zero(tmp_path: Path, predictions: Path) -> None:
    metrics = evaluate_predictions(FakeBenchmark(tmp_path, name="mevis"), predictions)
    j = [90.0, 0.0, 100 * 17 / 26, 50.0]  # every expression, the missing one as 0
    assert metrics["overall"]["J"] == pytest.approx(np.mean(j))
    assert metrics["missing"] == 1 and "R" not in metrics["overall"]


def test_reasonvos_rules_skip_missing_predictions(tmp_path: Path, predictions: Path) -> None:
    metrics = evaluate_predictions(FakeBenchmark(tmp_path, name="reasonvos"), predictions)
    assert metrics["overall"]["J"] == pytest.approx(np.mean([90.0, 100 * 17 / 26, 50.0]))
    assert metrics["skipped"] == 1


def test_partial_prediction_folder_is_an_error_naming_the_file(tmp_path: Path, predictions: Path) -> None:
    (predictions / "v" / "0" / "00001.png").unlink()
    with pytest.raises(DataError, match="00001.png"):
        evaluate_predictions(FakeBenchmark(tmp_path), predictions)


def test_table_names_both_robustness_conventions(tmp_path: Path, predictions: Path) -> None:
    table = format_table(evaluate_predictions(FakeBenchmark(tmp_path), predictions), "fake valid")
    assert "R: published convention" in table and "R_bin" in table
    assert "referring" in table and "45.00" in table


def test_cli_scores_ground_truth_predictions_as_perfect(tmp_path: Path) -> None:
    root = synthetic.ensure(tmp_path / "synthetic", seed=0, videos=1)
    benchmark = load_benchmark("synthetic", root, "valid")
    skipped = benchmark.expressions[0]
    for expr in benchmark.expressions[1:]:
        folder = benchmark.prediction_dir(tmp_path / "pred", expr)
        folder.mkdir(parents=True)
        for name, mask in zip(
            benchmark.videos[expr.video].frame_names, benchmark.target_mask(expr), strict=True
        ):
            cv2.imwrite(str(folder / f"{name}.png"), mask.astype(np.uint8) * 255)
    out = tmp_path / "metrics.json"
    args = [
        "--benchmark",
        "synthetic",
        "--root",
        str(root),
        "--pred",
        str(tmp_path / "pred"),
        "--out",
        str(out),
    ]
    main([*args, "--processes", "1"])
    metrics = json.loads(out.read_text())
    assert metrics["missing"] == 1
    for row in metrics["per_expression"]:
        expected = 0.0 if row["key"] == skipped.key else 100.0
        assert (row["J"], row["F"], row["R"], row["R_bin"]) == (expected,) * 4, row
