"""Stage-4 inference: generation, full-video segmentation, PNG trees, oracle rows, shards and resume.

The model and the segmenter are small fakes (a model that answers a fixed text, a segmenter that fills
the prompted box on every frame), so that each expected mask can be computed by hand. The last test runs
the real tiny random Qwen2.5-VL and the classical segmenter end to end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fixtures_data import write_revos
from PIL import Image

from veason_lib import inference
from veason_lib.answer import Answer
from veason_lib.config import EvalConfig
from veason_lib.data import load_benchmark
from veason_lib.inference import (
    MODEL_ROW,
    ORACLE_BOXES_ROW,
    ORACLE_KEYFRAME_ROW,
    ROW_DIRS,
    SegmentationPrompt,
    generate_completions,
    keyframe_hit,
    merge_shards,
    results_table,
    run_inference,
    segment_union,
    select_shard,
    shard_path,
)
from veason_lib.prompts import build_messages
from veason_lib.samples import build_sample
from veason_lib.segmentation import segmenter_for

FRAME_SIZE = 32  # the fixture's frames are 24 x 32: the canvas stretches y by 32 / 24
GOOD_BOX = [8.0, 4.0, 16.0, 12.0]  # canvas px -> video x 8..16, y 3..9


def answer_text(keyframe: int, boxes: list[list[float]]) -> str:
    return (
        f'<think>It is clearest at {keyframe}s.</think><answer>{{"keyframe_timestamp": {keyframe}, '
        f'"bbox_2d_list": {json.dumps(boxes)}}}</answer>'
    )


# --------------------------------------------------------------------------------------------------
# Fakes: a character-level processor, a model that answers by rule, a box-filling segmenter
# --------------------------------------------------------------------------------------------------


class FakeInputs(dict):
    def to(self, device):
        return self


class FakeProcessor:
    """Characters are tokens (0 pads); the chat template is the text items plus one mark per image."""

    def __init__(self):
        self.calls: list[dict] = []

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        assert not tokenize and add_generation_prompt
        items = messages[0]["content"]
        return "".join("#" if item["type"] == "image" else item["text"] for item in items)

    def __call__(self, text, images, padding, padding_side, return_tensors):
        self.calls.append({"num_images": [len(i) for i in images], "padding_side": padding_side})
        width = max(len(t) for t in text)
        ids = torch.zeros((len(text), width), dtype=torch.long)  # (B, L)
        for b, prompt in enumerate(text):
            codes = [ord(c) for c in prompt]
            if padding_side == "left":
                ids[b, width - len(codes) :] = torch.tensor(codes)
            else:
                ids[b, : len(codes)] = torch.tensor(codes)
        return FakeInputs(input_ids=ids)

    def batch_decode(self, tokens, skip_special_tokens=True):
        return ["".join(chr(int(t)) for t in row if int(t) != 0) for row in tokens]


@dataclass
class FakeModel:
    """Answers ``respond(prompt text)``; it sees the whole left-padded prompt, as a real model would."""

    respond: Callable[[str], str]
    device: torch.device = torch.device("cpu")
    prompts: list[str] = field(default_factory=list)

    def generate(self, input_ids, max_new_tokens, do_sample):
        assert do_sample is False  # greedy
        texts = ["".join(chr(int(t)) for t in row if int(t) != 0) for row in input_ids]
        self.prompts += texts
        answers = [self.respond(t)[:max_new_tokens] for t in texts]
        width = max(len(a) for a in answers)
        new = torch.zeros((len(texts), width), dtype=torch.long)  # (B, N), right-padded like EOS padding
        for b, a in enumerate(answers):
            new[b, : len(a)] = torch.tensor([ord(c) for c in a])
        return torch.cat([input_ids, new], dim=1)  # (B, L + N)


def last_timestamp_answer(prompt: str) -> str:
    """Keyframe = the last shown timestamp, one fixed box."""
    last = re.findall(r"<(\d+)s>#", prompt)[-1]  # a timestamp followed by its image
    return answer_text(int(last), [GOOD_BOX])


class FillSegmenter:
    """Each box is filled (pixel-exact, integer bounds) on every frame; calls are recorded."""

    def __init__(self):
        self.prepared = 0
        self.calls: list[tuple[int, np.ndarray]] = []

    def prepare(self, frames):
        self.prepared += 1
        return frames.shape[:3]

    def segment(self, state, keyframe, boxes):
        self.calls.append((keyframe, np.asarray(boxes)))
        masks = np.zeros((len(boxes), *state), dtype=bool)  # (K, T, H, W)
        for k, (x1, y1, x2, y2) in enumerate(np.asarray(boxes)):
            masks[k, :, round(y1) : round(y2), round(x1) : round(x2)] = True
        return masks


class FakeEvaluator:
    """Stands in for ``veason_lib.evaluate.evaluate_predictions``: the mean of the model PNGs, per type."""

    def __init__(self):
        self.calls: list[tuple[Path, list[str]]] = []

    def __call__(self, benchmark, pred_root, processes=1, expressions=None):
        self.calls.append((Path(pred_root), [e.key for e in expressions]))
        scores = {"J": 50.0, "F": 60.0, "JF": 55.0, "R": 10.0, "R_bin": 90.0}
        return {"referring": scores, "reasoning": scores, "overall": scores}


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def benchmark(tmp_path):
    """Two videos of 6 frames (24 x 32), three expressions each: referring, reasoning (2 objects), none."""
    write_revos(tmp_path / "revos", splits=("valid",))
    return load_benchmark("revos", tmp_path / "revos", "valid")


@pytest.fixture
def evaluator(monkeypatch):
    fake = FakeEvaluator()
    monkeypatch.setattr(inference, "evaluate_predictions", fake)
    return fake


def eval_config(**overrides) -> EvalConfig:
    values = {"num_frames": 4, "frame_size": FRAME_SIZE, "batch_size": 2, "max_new_tokens": 400}
    return EvalConfig.from_dict({**values, **overrides})


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def row_masks(benchmark, out_dir: Path, row: str, expr) -> np.ndarray:
    folder = benchmark.prediction_dir(out_dir / ROW_DIRS[row], expr)
    video = benchmark.videos[expr.video]
    return np.stack([read_png(folder / f"{name}.png") for name in video.frame_names])  # (T, H, W)


def run(benchmark, out_dir, respond=last_timestamp_answer, segmenter=None, **overrides):
    model, segmenter = FakeModel(respond), segmenter or FillSegmenter()
    results = run_inference(eval_config(**overrides), model, FakeProcessor(), benchmark, segmenter, out_dir)
    return results, model, segmenter


# --------------------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------------------


def test_select_shard_partitions_by_video(benchmark):
    expressions = benchmark.expressions
    shards = [select_shard(expressions, 2, s) for s in range(2)]
    assert sorted(e.key for s in shards for e in s) == sorted(e.key for e in expressions)
    assert [{e.video for e in s} for s in shards] == [{"video_0"}, {"video_1"}]
    with pytest.raises(ValueError, match="shard"):
        select_shard(expressions, 2, 2)


def test_keyframe_hit_is_area_ratio_and_none_without_target():
    sample = SimpleNamespace(areas=[0.0, 2.0, 4.0])
    assert keyframe_hit(sample, 1) == 0.5
    assert keyframe_hit(sample, 2) == 1.0
    assert keyframe_hit(sample, None) == 0.0
    assert keyframe_hit(SimpleNamespace(areas=[0.0, 0.0]), 0) is None


def test_generate_completions_pads_left_and_returns_only_new_text():
    processor, model = FakeProcessor(), FakeModel(lambda prompt: f"<{len(prompt)}>")
    images = [Image.new("RGB", (8, 8))] * 2
    prompts = [
        (build_messages("short", [0, 1]), images),
        (build_messages("a much longer query text", [0, 1]), images),
    ]
    texts = generate_completions(model, processor, prompts, max_new_tokens=10)
    assert processor.calls == [{"num_images": [2, 2], "padding_side": "left"}]
    assert texts == [f"<{len(p)}>" for p in model.prompts]
    assert texts[0] != texts[1]


def test_segment_union_maps_canvas_boxes_to_video_pixels():
    segmenter = FillSegmenter()
    prompt = SegmentationPrompt(keyframe_index=3, boxes=[GOOD_BOX, [0.0, 0.0, 4.0, 4.0]])
    masks = segment_union(segmenter, (6, 24, 32), prompt, FRAME_SIZE, (6, 24, 32))
    keyframe, boxes = segmenter.calls[0]
    assert keyframe == 3
    np.testing.assert_allclose(boxes, [[8, 3, 16, 9], [0, 0, 4, 3]])
    assert masks.shape == (6, 24, 32) and masks.dtype == bool
    assert masks[0].sum() == 8 * 6 + 4 * 3
    empty = segment_union(
        segmenter, (6, 24, 32), SegmentationPrompt(None, [GOOD_BOX]), FRAME_SIZE, (6, 24, 32)
    )
    assert not empty.any() and len(segmenter.calls) == 1  # no keyframe: the segmenter is not asked


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------


def test_run_writes_png_trees_records_and_metrics(benchmark, tmp_path, evaluator):
    out = tmp_path / "eval"
    results, model, segmenter = run(benchmark, out)
    assert segmenter.prepared == 2  # once per video, shared by the expressions and the oracle rows
    assert len(model.prompts) == 6 and all(p.count("#") == 4 for p in model.prompts)
    assert [r["key"] for r in results.records] == [e.key for e in benchmark.expressions]
    assert {r["type_id"] for r in results.records} == {0, 1, 2}  # no-target expressions are answered
    for expr in benchmark.expressions:
        for row in ROW_DIRS:
            masks = row_masks(benchmark, out, row, expr)
            assert masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 255}
        model_masks = row_masks(benchmark, out, MODEL_ROW, expr)
        assert (model_masks[:, 3:9, 8:16] == 255).all() and model_masks.sum() == 255 * 6 * 48
    record = results.records[0]
    assert record["keyframe"] == 5 and record["keyframe_index"] == 5 and not record["parse_failure"]
    assert record["boxes"] == [GOOD_BOX] and record["reasoning"] == "It is clearest at 5s."
    assert record["keyframe_hit"] == pytest.approx(1.0)  # object 0 has the same area in every frame
    assert results.records[2]["keyframe_hit"] is None  # type 2: no target in any sampled frame
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == results.metrics
    assert metrics["parse_failure_rate"] == 0.0 and metrics["num_expressions"] == 6
    assert list(metrics["rows"]) == [MODEL_ROW, ORACLE_KEYFRAME_ROW, ORACLE_BOXES_ROW]
    assert [(p.name, len(k)) for p, k in evaluator.calls] == [
        ("predictions", 6),
        ("oracle_gt_keyframe", 6),
        ("oracle_gt_boxes", 6),
    ]


def test_oracle_rows_use_gt_keyframe_and_gt_boxes(benchmark, tmp_path, evaluator):
    out = tmp_path / "eval"
    run(benchmark, out, respond=lambda prompt: answer_text(0, [GOOD_BOX]))
    expr = benchmark.expressions[1]  # two objects; object 1 is absent from frame 0
    sample = build_sample(benchmark, expr, 4, FRAME_SIZE)
    gt_position = int(np.argmax(sample.areas))
    assert gt_position != 0  # the GT keyframe differs from the answered one
    gt = benchmark.object_masks(expr)  # (K, T, H, W)
    expected = np.zeros(gt.shape[1:], dtype=bool)  # (T, H, W): the filled GT boxes at the GT keyframe
    for obj in gt[:, sample.frame_indices[gt_position]]:
        ys, xs = np.nonzero(obj)
        expected[:, ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
    np.testing.assert_array_equal(row_masks(benchmark, out, ORACLE_BOXES_ROW, expr) > 0, expected)
    np.testing.assert_array_equal(
        row_masks(benchmark, out, ORACLE_KEYFRAME_ROW, expr), row_masks(benchmark, out, MODEL_ROW, expr)
    )  # the fill segmenter ignores the keyframe: same predicted boxes, same masks


def test_unparsable_answer_gives_empty_masks_and_a_parse_failure(benchmark, tmp_path, evaluator):
    out = tmp_path / "eval"
    results, _, _ = run(benchmark, out, respond=lambda prompt: "I cannot tell {'keyframe': ")
    assert all(r["parse_failure"] and r["reason"] for r in results.records)
    assert results.metrics["parse_failure_rate"] == 1.0 and results.metrics["keyframe_hit_rate"] == 0.0
    for expr in benchmark.expressions:
        assert not row_masks(benchmark, out, MODEL_ROW, expr).any()
        assert not row_masks(benchmark, out, ORACLE_KEYFRAME_ROW, expr).any()
    assert row_masks(benchmark, out, ORACLE_BOXES_ROW, benchmark.expressions[0]).any()


def test_rerun_resumes_and_redoes_only_incomplete_expressions(benchmark, tmp_path, evaluator):
    out = tmp_path / "eval"
    run(benchmark, out)
    _, model, segmenter = run(benchmark, out)
    assert model.prompts == [] and segmenter.prepared == 0
    expr = benchmark.expressions[4]
    (benchmark.prediction_dir(out / ROW_DIRS[ORACLE_BOXES_ROW], expr) / "00003.png").unlink()
    with shard_path(out, 0, 1).open("a") as handle:
        handle.write('{"key": "video_0/0", "trunc')  # a crash in the middle of a record
    results, model, segmenter = run(benchmark, out)
    assert len(model.prompts) == 1 and segmenter.prepared == 1 and results.skipped == 5
    assert len(merge_shards(out)) == 6
    assert len((out / "records.jsonl").read_text().splitlines()) == 6


def test_shards_merge_and_score_once_complete(benchmark, tmp_path, evaluator):
    out = tmp_path / "eval"
    first, _, _ = run(benchmark, out, num_shards=2, shard=0)
    assert first.metrics is None and {r["video"] for r in first.records} == {"video_0"}
    second, _, _ = run(benchmark, out, num_shards=2, shard=1)
    assert second.metrics is not None and second.metrics["num_expressions"] == 6
    with shard_path(out, 1, 2).open("a") as handle:  # a record repeated across files counts once
        handle.write(shard_path(out, 0, 2).read_text().splitlines()[0] + "\n")
    assert sorted(r["key"] for r in merge_shards(out)) == sorted(e.key for e in benchmark.expressions)


def test_max_expressions_and_no_oracle_rows(benchmark, tmp_path, evaluator):
    out = tmp_path / "eval"
    results, _, _ = run(benchmark, out, max_expressions=2, oracle_rows=False)
    assert len(results.records) == 2 and list(results.metrics["rows"]) == [MODEL_ROW]
    assert not (out / ROW_DIRS[ORACLE_BOXES_ROW]).exists()
    assert evaluator.calls[0][1] == [e.key for e in benchmark.expressions[:2]]


def test_results_table_has_table_1_layout():
    scores = {"J": 50.0, "F": 60.0, "JF": 55.0, "R": 10.0, "R_bin": 90.0}
    metrics = {
        "parse_failure_rate": 0.0,
        "rows": {
            MODEL_ROW: {"referring": scores, "reasoning": scores, "overall": scores},
            ORACLE_BOXES_ROW: {"referring": scores, "reasoning": scores, "overall": {**scores, "J": 1.0}},
        },
    }
    table = results_table(metrics)
    assert list(table.index) == [MODEL_ROW, ORACLE_BOXES_ROW]
    assert list(table.columns.get_level_values(0).unique()) == ["referring", "reasoning", "overall"]
    assert list(table.columns[:5]) == [("referring", m) for m in ("J", "F", "J&F", "R", "R_bin")]
    assert table.loc[ORACLE_BOXES_ROW, ("overall", "J")] == 1.0
    flat = results_table({"rows": {MODEL_ROW: {"overall": {"J": 1.0, "F": 2.0, "JF": 1.5}, "missing": 0}}})
    assert list(flat.columns) == [("overall", "J"), ("overall", "F"), ("overall", "J&F")]


def test_keyframe_index_of_maps_the_timestamp_to_its_video_frame():
    assert inference.keyframe_index_of(Answer(keyframe=2), [0, 3, 6], [0, 1, 2]) == 6
    assert inference.keyframe_index_of(Answer(), [0, 3, 6], [0, 1, 2]) is None


def test_tiny_random_model_and_classical_segmenter_end_to_end(benchmark, tmp_path):
    """The real path: Qwen2.5-VL processor, left padding in a batch, HF generate, GrabCut, the evaluator."""
    from veason_lib.segmentation import build_segmenter

    torch.manual_seed(0)
    model, processor = inference.load_model("tiny-random", cache_dir=tmp_path / "models", device="cpu")
    cfg = eval_config(num_frames=2, frame_size=56, max_new_tokens=6, batch_size=3)
    out = tmp_path / "eval"
    results = run_inference(cfg, model, processor, benchmark, build_segmenter("classical"), out)
    assert len(results.records) == 6 and all(isinstance(r["completion"], str) for r in results.records)
    assert all(r["parse_failure"] for r in results.records)  # 6 random tokens never make an answer
    assert results.metrics["parse_failure_rate"] == 1.0
    model_row, oracle_row = results.metrics["rows"][MODEL_ROW], results.metrics["rows"][ORACLE_BOXES_ROW]
    assert model_row["overall"]["J"] == 0.0 and model_row["overall"]["R"] == 100.0  # empty masks
    assert oracle_row["overall"]["J"] > 0.0  # GT boxes reach the segmenter and its masks are scored
    assert model_row["missing"] == 0 and len(model_row["per_expression"]) == 6
    table = results_table(json.loads((out / "metrics.json").read_text()))
    assert table.shape == (3, 15) and table.loc[MODEL_ROW, ("overall", "J&F")] == pytest.approx(0.0)


def test_eval_model_path_and_segmenter_follow_the_profile(tmp_path):
    cfg = eval_config(out_root=str(tmp_path), model="tiny-random", eval_model="base", segmenter="classical")
    assert inference.eval_model_path(cfg) == "tiny-random"
    assert inference.eval_model_path(eval_config(eval_model="some/checkpoint")) == "some/checkpoint"
    with pytest.raises(FileNotFoundError, match="03_grpo/final"):
        inference.eval_model_path(eval_config(out_root=str(tmp_path), eval_model="grpo"))
    assert type(segmenter_for(cfg)).__name__ == "ClassicalSegmenter"
