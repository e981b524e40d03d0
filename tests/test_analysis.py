"""Ablation tables, failure categories, failure strips and the prediction browser on a tiny fake run.

The fixture is a tiny ReVOS split (2 videos x 6 frames of 24 x 32, three expressions each) with one hand-
made record and PNG tree per expression, built so that each failure category occurs; the scores come
from the real evaluator on those PNGs, laid out as stage 4 writes ``04_eval/metrics.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures_data import tiny_videos, write_revos

from veason_lib import analysis
from veason_lib.analysis import (
    CATEGORIES,
    KEYFRAME_WITHOUT_TARGET,
    NO_ANSWER,
    OK,
    SEGMENTER_LOST,
    WRONG_OBJECT,
    ablation_table,
    categorize_failures,
    category_counts,
    failure_strip,
    figure_png,
    paper_table,
    prediction_browser,
    read_eval_metrics,
    read_eval_records,
    strip_frame_indices,
    worst_expressions,
)
from veason_lib.answer import parse_answer
from veason_lib.data import DataError, load_benchmark
from veason_lib.evaluate import evaluate_predictions
from veason_lib.inference import (
    MERGED_RECORDS,
    METRICS_FILE,
    MODEL_ROW,
    ROW_DIRS,
    expression_record,
    write_masks,
)
from veason_lib.samples import build_sample, object_boxes

FRAME_SIZE = 56  # the canvas the fake answers' boxes are expressed in
FAR_BOX = [44.0, 44.0, 56.0, 56.0]  # bottom-right corner: no object of the tiny videos goes there
EXPECTED = {
    "video_0/0": KEYFRAME_WITHOUT_TARGET,  # keyframe 4, where object 0 was removed
    "video_0/1": OK,  # prediction = GT
    "video_0/2": NO_ANSWER,  # unparsable (no target: the empty masks score 100, still no answer)
    "video_1/0": WRONG_OBJECT,  # a box in the empty corner
    "video_1/1": SEGMENTER_LOST,  # right boxes, masks only at the keyframe
    "video_1/2": OK,  # no target, no box, empty masks
}


def fake_record(
    expr, keyframe: int | None, boxes: list, reasoning: str = "The red box is on the left."
) -> dict:
    answered = keyframe is not None
    return {
        "key": expr.key,
        "video": expr.video,
        "exp_id": expr.exp_id,
        "type_id": expr.type_id,
        "query": expr.text,
        "frame_indices": list(range(6)),
        "timestamps": list(range(6)),  # fps 1: timestamp = frame index
        "completion": f"<think>{reasoning}</think><answer>...</answer>" if answered else "I cannot tell $5 {",
        "keyframe": keyframe,
        "keyframe_index": keyframe,
        "boxes": boxes,
        "reasoning": reasoning if answered else None,
        "reason": None if answered else "no <answer> block",
        "parse_failure": not answered,
        "keyframe_hit": None,
        "gt_keyframe": 3,
        "gt_boxes": [],
    }


def fake_answer(benchmark, expr) -> tuple[dict, np.ndarray]:
    """The record and the (T, H, W) predicted masks that make ``expr`` fall in its EXPECTED category."""
    gt = benchmark.target_mask(expr)  # (T, H, W)
    category = EXPECTED[expr.key]
    if category == NO_ANSWER:
        return fake_record(expr, None, []), np.zeros_like(gt)
    if category == KEYFRAME_WITHOUT_TARGET:
        return fake_record(expr, 4, [[0.0, 0.0, 20.0, 20.0]]), np.zeros_like(gt)
    if category == WRONG_OBJECT:
        wrong = np.zeros_like(gt)
        wrong[:, -4:, -4:] = True
        return fake_record(expr, 1, [FAR_BOX]), wrong
    boxes = object_boxes(benchmark.object_masks(expr, [1])[:, 0], FRAME_SIZE)
    if category == SEGMENTER_LOST:
        lost = np.zeros_like(gt)
        lost[1] = gt[1]
        return fake_record(expr, 1, boxes), lost
    return fake_record(expr, 1, boxes), gt.copy()


def write_eval_run(run_dir: Path, benchmark) -> Path:
    """``<run>/04_eval`` as stage 4 leaves it: PNG tree, merged records, metrics with a model row."""
    eval_dir = run_dir / "04_eval"
    pred_root = eval_dir / ROW_DIRS[MODEL_ROW]
    records = []
    for expr in benchmark.expressions:
        record, masks = fake_answer(benchmark, expr)
        write_masks(
            benchmark.prediction_dir(pred_root, expr), benchmark.videos[expr.video].frame_names, masks
        )
        records.append(record)
    (eval_dir / MERGED_RECORDS).write_text("".join(json.dumps(r) + "\n" for r in records))
    metrics = {"benchmark": "revos", "rows": {MODEL_ROW: evaluate_predictions(benchmark, pred_root)}}
    (eval_dir / METRICS_FILE).write_text(json.dumps(metrics))
    return eval_dir


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    videos = tiny_videos()
    videos[0].objects[0].masks[4] = False  # object 0 is out of frame 4 of video_0
    write_revos(root / "revos", videos)
    benchmark = load_benchmark("revos", root / "revos", "valid")
    eval_dir = write_eval_run(root / "outputs" / "full", benchmark)
    return benchmark, eval_dir


@pytest.fixture(scope="module")
def failures(fake_run):
    benchmark, eval_dir = fake_run
    return categorize_failures(
        read_eval_records(eval_dir.parent), read_eval_metrics(eval_dir.parent), benchmark, FRAME_SIZE
    )


# ----------------------------------------------------------------------------------------------------
# Failure categories
# ----------------------------------------------------------------------------------------------------


def test_every_category_is_recognised(failures):
    assert dict(zip(failures["key"], failures["category"], strict=True)) == EXPECTED


def test_keyframe_evidence_columns(failures):
    rows = failures.set_index("key")
    assert rows.loc["video_0/0", "gt_area"] == 0
    assert rows.loc["video_1/0", "best_iou"] == 0
    assert rows.loc["video_1/1", "best_iou"] == pytest.approx(1.0)
    assert np.isnan(rows.loc["video_0/2", "gt_area"])  # no answer: no keyframe to look at
    assert rows.loc["video_1/1", "J&F"] < analysis.OK_JF_THRESHOLD <= rows.loc["video_0/1", "J&F"]
    assert list(rows["subset"]) == ["referring", "reasoning", "no_target"] * 2


def test_ok_threshold_moves_expressions_out_of_ok(fake_run):
    benchmark, eval_dir = fake_run
    records, metrics = read_eval_records(eval_dir), read_eval_metrics(eval_dir)
    strict = categorize_failures(records, metrics, benchmark, FRAME_SIZE, ok_threshold=100.01)
    assert OK not in set(strict["category"])
    assert strict.set_index("key").loc["video_0/1", "category"] == SEGMENTER_LOST  # right boxes, imperfect


def test_category_counts_list_every_category(failures):
    counts = category_counts(failures)
    assert list(counts.index) == list(CATEGORIES)
    assert counts["count"].to_dict() == {
        NO_ANSWER: 1,
        KEYFRAME_WITHOUT_TARGET: 1,
        WRONG_OBJECT: 1,
        SEGMENTER_LOST: 1,
        OK: 2,
    }
    assert counts["share (%)"].sum() == pytest.approx(100.0, abs=0.2)
    by_subset = category_counts(failures, by="subset")
    assert by_subset.loc[OK, "no_target"] == 1 and by_subset.loc[OK, "reasoning"] == 1
    assert by_subset.to_numpy().sum() == len(failures)


def test_worst_expressions_are_lowest_jf_first(failures):
    worst = worst_expressions(failures, 3)
    assert len(worst) == 3
    assert list(worst["J&F"]) == sorted(failures["J&F"])[:3]
    assert OK not in set(worst["category"])


def test_unknown_record_key_names_the_file(fake_run):
    benchmark, eval_dir = fake_run
    records, metrics = read_eval_records(eval_dir), read_eval_metrics(eval_dir)
    stranger = analysis.EvalRecord(**{**records[0].__dict__, "key": "video_9/0"})
    with pytest.raises(DataError, match="records.jsonl: video_9/0"):
        categorize_failures([stranger], metrics, benchmark, FRAME_SIZE)


def test_record_missing_a_field_names_file_line_and_field(tmp_path):
    eval_dir = tmp_path / "04_eval"
    eval_dir.mkdir()
    (eval_dir / MERGED_RECORDS).write_text(json.dumps({"key": "v/0", "video": "v"}) + "\n")
    with pytest.raises(DataError, match=r"records.jsonl: line 1: exp_id: missing"):
        read_eval_records(tmp_path)


# ----------------------------------------------------------------------------------------------------
# Ablation tables
# ----------------------------------------------------------------------------------------------------


def evaluator_output(referring_jf: float, reasoning_jf: float) -> dict:
    def subset(jf: float) -> dict:
        return {"J": jf - 2, "F": jf + 2, "JF": jf, "R": 50.0, "R_bin": 60.0}

    return {"referring": subset(referring_jf), "reasoning": subset(reasoning_jf), "per_expression": []}


def test_ablation_table_layout_from_folders_and_dicts(fake_run):
    _, eval_dir = fake_run
    other = {"rows": {MODEL_ROW: evaluator_output(40.04, 30.0)}}
    table = ablation_table(
        {"w/o R_k": other, "Ours": eval_dir.parent, "bare evaluator": evaluator_output(1, 2)}
    )
    assert list(table.index) == ["w/o R_k", "Ours", "bare evaluator"]
    assert list(table.columns) == [(s, m) for s in ("referring", "reasoning") for m in ("J", "F", "J&F")]
    assert table.loc["w/o R_k", ("referring", "J&F")] == 40.0  # rounded to one decimal, as the paper
    assert table.loc["w/o R_k", ("reasoning", "F")] == 32.0
    metrics = read_eval_metrics(eval_dir)["rows"][MODEL_ROW]
    assert table.loc["Ours", ("reasoning", "J&F")] == round(metrics["reasoning"]["JF"], 1)


def test_ablation_table_from_a_list_labels_by_run_name(fake_run):
    _, eval_dir = fake_run
    table = ablation_table([eval_dir], decimals=None)
    assert list(table.index) == ["full"]
    scores = read_eval_metrics(eval_dir)["rows"][MODEL_ROW]["referring"]
    assert table.loc["full", ("referring", "J")] == scores["J"]
    with pytest.raises(ValueError, match="repeat"):
        ablation_table([eval_dir, eval_dir.parent])  # both are run "full"


def test_ablation_table_names_the_missing_file_and_row(tmp_path, fake_run):
    with pytest.raises(DataError, match=r"04_eval/metrics.json: \(file\): not found"):
        ablation_table({"missing": tmp_path / "nothing"})
    _, eval_dir = fake_run
    with pytest.raises(DataError, match="rows.oracle"):
        ablation_table([eval_dir], row="oracle")


def test_paper_tables_have_the_ablation_layout():
    table = paper_table(5)
    assert table.shape == (6, 6)
    assert table.loc["CoT-SFT+GRPO", ("reasoning", "J&F")] == 56.8
    for number in (4, 5, 6):  # J&F = (J + F) / 2 up to the paper's rounding
        t = paper_table(number)
        for subset in ("referring", "reasoning"):
            mean = (t[(subset, "J")] + t[(subset, "F")]) / 2
            assert np.allclose(mean, t[(subset, "J&F")], atol=0.051)
    with pytest.raises(ValueError, match="paper_table"):
        paper_table(7)


# ----------------------------------------------------------------------------------------------------
# Strips and the browser
# ----------------------------------------------------------------------------------------------------


def test_strip_frames_include_the_keyframe():
    assert strip_frame_indices(10, 4, None) == [0, 3, 6, 9]
    assert strip_frame_indices(10, 4, 4) == [0, 4, 6, 9]
    assert strip_frame_indices(3, 6, 1) == [0, 1, 2]


def test_failure_strip_marks_keyframe_and_shows_trace(fake_run):
    benchmark, eval_dir = fake_run
    record = read_eval_records(eval_dir)[4]  # video_1/1: keyframe 1, masks only there
    fig = failure_strip(benchmark, record, eval_dir / "predictions", n_frames=4, frame_size=FRAME_SIZE)
    *frames, text = fig.axes
    assert [ax.get_title() for ax in frames] == ["frame 1 (keyframe)", "frame 2", "frame 3", "frame 5"]
    assert len(frames[0].patches) == len(record.boxes) == 2  # the answered boxes on the keyframe
    keyframe_image = frames[0].get_images()[0].get_array()  # (H, W, 3)
    assert (keyframe_image == analysis.overlay_masks(*keyframe_inputs(benchmark, record))).all()
    trace = text.texts[0].get_text()
    assert record.query in trace and "The red box is on the left." in trace
    assert figure_png(fig).startswith(b"\x89PNG")


def keyframe_inputs(benchmark, record):
    expr = next(e for e in benchmark.expressions if e.key == record.key)
    frame = benchmark.videos[expr.video].load_frames([1])[0]  # (H, W, 3)
    gt = benchmark.target_mask(expr, [1])[0]  # (H, W)
    return frame, gt, gt  # the fake prediction equals the GT at the keyframe


def test_strip_of_an_unparsed_answer_shows_the_raw_completion(fake_run):
    benchmark, eval_dir = fake_run
    record = read_eval_records(eval_dir)[2]  # video_0/2: no answer; the text has an unbalanced '$'
    fig = failure_strip(benchmark, record, eval_dir / "predictions", n_frames=3)
    assert not any("keyframe" in ax.get_title() for ax in fig.axes)
    assert "I cannot tell $5 {" in fig.axes[-1].texts[0].get_text()
    assert figure_png(fig).startswith(b"\x89PNG")  # the model's text renders as plain text


def test_prediction_browser_builds_and_follows_the_dropdown(fake_run, failures):
    benchmark, eval_dir = fake_run
    records = read_eval_records(eval_dir)
    browser = prediction_browser(benchmark, records, eval_dir / "predictions", failures, n_frames=3)
    chooser, image, _, completion = browser.children
    assert len(chooser.options) == len(records)
    assert f"[{WRONG_OBJECT}]" in chooser.options[3][0]
    first = bytes(image.value)
    assert first.startswith(b"\x89PNG")
    chooser.value = 2
    assert bytes(image.value) != first
    assert "I cannot tell $5 {" in completion.value


def test_inference_records_read_as_eval_records(fake_run):
    """Alignment with stage 4: a record written by inference has every field the analysis reads."""
    benchmark, _ = fake_run
    expr = benchmark.expressions[0]
    sample = build_sample(benchmark, expr, num_frames=4, frame_size=FRAME_SIZE)
    text = f'<think>left</think><answer>{{"keyframe_timestamp": {sample.timestamps[1]}, "bbox_2d_list": []}}</answer>'
    record = expression_record(sample, text, parse_answer(text, sample.timestamps, canvas=FRAME_SIZE))
    parsed = analysis.EvalRecord.from_dict(json.loads(json.dumps(record)), "records.jsonl: line 1")
    assert parsed.keyframe_index == sample.frame_indices[1] and parsed.reasoning == "left"
