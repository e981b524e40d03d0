"""Readers of ReVOS / MeViS / ReasonVOS, RLE decoding and frame sampling, on tiny fixtures in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_data import tiny_videos, write_mevis, write_reasonvos, write_revos
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as mask_utils

from veason_lib.data import DataError, Expression, load_benchmark
from veason_lib.data.rle import _compressed_runs, decode_rle, encode_rle
from veason_lib.data.sampling import sample_frames, timestamp


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def truth_masks(video, expr: Expression) -> np.ndarray:
    by_anno = {o.anno_id: o.masks for o in video.objects}
    return np.array([by_anno[a] for a in expr.anno_ids], dtype=bool).reshape(-1, *video.frames.shape[:3])


# ---------------------------------------------------------------------------------------------- ReVOS


@pytest.fixture
def revos(tmp_path):
    videos = write_revos(tmp_path / "ReVOS")
    return load_benchmark("revos", tmp_path / "ReVOS", "valid"), videos


def test_revos_records(revos):
    bench, _ = revos
    assert len(bench) == 6 and sorted(bench.videos) == ["video_0", "video_1"]
    expr = bench.expressions[1]
    assert expr.key == "video_0/1" and expr.anno_ids == ("100", "101") and expr.obj_ids == ("0", "1")
    assert expr.type_id == 1 and expr.is_multi_object
    assert bench.videos["video_0"].height == 24 and bench.videos["video_0"].width == 32
    assert bench.summary() == {
        "videos": 2,
        "expressions": 6,
        "referring": 2,
        "reasoning": 2,
        "no_target": 2,
        "single_object": 2,
        "multi_object": 2,
        "no_object": 2,
    }


def test_revos_masks_match_what_was_written(revos):
    bench, videos = revos
    for expr in bench.expressions:
        truth = truth_masks(videos[int(expr.video[-1])], expr)  # (K, T, H, W)
        assert np.array_equal(bench.object_masks(expr), truth)
        assert np.array_equal(bench.target_mask(expr), truth.any(axis=0))


def test_revos_masks_at_requested_frames_only(revos):
    bench, videos = revos
    expr = bench.expressions[1]
    masks = bench.object_masks(expr, [2, 0])  # frame 2: list RLE; frame 0: object 1 null
    assert masks.shape == (2, 2, 24, 32) and masks.dtype == bool
    assert np.array_equal(masks[1, 0], videos[0].objects[1].masks[2]) and not masks[1, 1].any()
    assert bench.target_mask(bench.expressions[2], np.array([1, 3])).shape == (2, 24, 32)  # no target: empty
    assert not bench.target_mask(bench.expressions[2]).any()


def test_revos_foreground(revos):
    bench, videos = revos
    assert np.array_equal(bench.foreground("video_1"), videos[1].foreground)
    assert bench.foreground("video_1", [4]).shape == (1, 24, 32)


def test_frames_load_as_rgb_of_the_declared_size(revos):
    bench, videos = revos
    frames = bench.videos["video_1"].load_frames([0, 5])
    assert frames.shape == (2, 24, 32, 3) and frames.dtype == np.uint8
    assert np.abs(frames.astype(int) - videos[1].frames[[0, 5]]).mean() < 3  # JPEG loss only
    assert bench.videos["video_1"].load_frames().shape == (6, 24, 32, 3)


def test_frame_index_outside_the_video(revos):
    bench, _ = revos
    with pytest.raises(IndexError, match="video_0"):
        bench.target_mask(bench.expressions[0], [6])


def test_prediction_dirs(tmp_path, revos):
    bench, _ = revos
    assert bench.prediction_dir(Path("pred"), bench.expressions[1]) == Path("pred/video_0/1")
    write_reasonvos(tmp_path / "RV", source="mevis")
    reason = load_benchmark("reasonvos", tmp_path / "RV", "test")
    assert reason.prediction_dir(Path("pred"), reason.expressions[1]) == Path("pred/mevis_video_0_1/0")


def test_synthetic_uses_the_revos_reader(tmp_path):
    write_revos(tmp_path / "syn", splits=("train",))
    bench = load_benchmark("synthetic", tmp_path / "syn", "train")
    assert bench.name == "synthetic" and len(bench) == 6 and bench.foreground("video_0") is not None


def test_unknown_benchmark(tmp_path):
    with pytest.raises(ValueError, match="unknown benchmark 'davis'"):
        load_benchmark("davis", tmp_path, "valid")


# ------------------------------------------------------------------------------------ ReVOS: errors


def _drop_height(meta):
    meta["videos"]["video_0"]["height"] = "24"


REVOS_META_ERRORS = {
    "bad type_id": (lambda m: m["videos"]["video_0"]["expressions"]["0"].update(type_id=3), "type_id"),
    "boolean type_id": (lambda m: m["videos"]["video_0"]["expressions"]["0"].update(type_id=True), "type_id"),
    "missing exp": (lambda m: m["videos"]["video_0"]["expressions"]["1"].pop("exp"), r"expressions\.1\.exp"),
    "frames not a list": (lambda m: m["videos"]["video_1"].update(frames="00000"), r"video_1\.frames"),
    "empty frames": (lambda m: m["videos"]["video_1"].update(frames=[]), r"video_1\.frames"),
    "height not int": (_drop_height, r"video_0\.height"),
    "anno_id not an id": (
        lambda m: m["videos"]["video_0"]["expressions"]["0"].update(anno_id=[1.5]),
        "anno_id",
    ),
    "no videos": (lambda m: m.pop("videos"), "videos: missing"),
}


@pytest.mark.parametrize("case", REVOS_META_ERRORS)
def test_revos_meta_errors_name_file_and_field(tmp_path, case):
    change, field = REVOS_META_ERRORS[case]
    write_revos(tmp_path)
    edit_json(tmp_path / "meta_expressions_valid_.json", change)
    with pytest.raises(DataError, match=rf"meta_expressions_valid_\.json: .*{field}"):
        load_benchmark("revos", tmp_path, "valid")


def test_missing_split_file_lists_what_exists(tmp_path):
    write_revos(tmp_path, splits=("train",))
    with pytest.raises(DataError, match=r"meta_expressions_valid_\.json: split 'valid'.*train"):
        load_benchmark("revos", tmp_path, "valid")


def test_invalid_json(tmp_path):
    write_revos(tmp_path)
    (tmp_path / "meta_expressions_valid_.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_benchmark("revos", tmp_path, "valid")


def test_missing_frame_folder(tmp_path):
    write_revos(tmp_path)
    (tmp_path / "JPEGImages" / "video_1").rename(tmp_path / "elsewhere")
    with pytest.raises(DataError, match=r"JPEGImages/video_1: videos\.video_1.*frame folder not found"):
        load_benchmark("revos", tmp_path, "valid")


def test_missing_frame_jpeg(tmp_path):
    write_revos(tmp_path)
    (tmp_path / "JPEGImages" / "video_0" / "00003.jpg").unlink()
    bench = load_benchmark("revos", tmp_path, "valid")
    bench.videos["video_0"].load_frames([0, 2])  # the missing frame is not read
    with pytest.raises(DataError, match=r"00003\.jpg: frame: file not found"):
        bench.videos["video_0"].load_frames()


def test_unreadable_jpeg(tmp_path):
    write_revos(tmp_path)
    (tmp_path / "JPEGImages" / "video_0" / "00001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"00001\.jpg: frame: unreadable image"):
        load_benchmark("revos", tmp_path, "valid").videos["video_0"].load_frames([1])


def test_jpeg_of_another_size(tmp_path):
    write_revos(tmp_path)
    Image.new("RGB", (16, 24)).save(tmp_path / "JPEGImages" / "video_0" / "00001.jpg")
    with pytest.raises(DataError, match=r"00001\.jpg: size: 16x24 \(WxH\), the video is 32x24"):
        load_benchmark("revos", tmp_path, "valid").videos["video_0"].load_frames([1])


def _mask_dict_case(change: Callable[[dict], None], field: str, tmp_path: Path) -> None:
    write_revos(tmp_path)
    edit_json(tmp_path / "mask_dict.json", change)
    bench = load_benchmark("revos", tmp_path, "valid")
    with pytest.raises(DataError, match=rf"mask_dict\.json: {field}"):
        bench.object_masks(bench.expressions[0])  # video_0, anno_id 100


def test_anno_id_without_masks(tmp_path):
    _mask_dict_case(lambda d: d.pop("100"), "anno_id 100: no masks", tmp_path)


def test_mask_list_length_differs_from_frame_count(tmp_path):
    _mask_dict_case(lambda d: d["100"].pop(), "anno_id 100: 5 masks for a video of 6 frames", tmp_path)


def test_rle_size_disagrees_with_video(tmp_path):
    _mask_dict_case(lambda d: d["100"][3].update(size=[32, 24]), r"anno_id 100\[3\]\.size", tmp_path)


def test_rle_counts_do_not_cover_the_frame(tmp_path):
    _mask_dict_case(lambda d: d["100"][1].update(counts="0"), r"anno_id 100\[1\]\.counts", tmp_path)


def test_rle_without_counts(tmp_path):
    _mask_dict_case(lambda d: d["100"][0].pop("counts"), r"anno_id 100\[0\]: expected an RLE", tmp_path)


def test_foreground_errors(tmp_path):
    write_revos(tmp_path)
    edit_json(tmp_path / "mask_dict_foreground.json", lambda d: d.pop("video_1"))
    bench = load_benchmark("revos", tmp_path, "valid")
    with pytest.raises(DataError, match=r"mask_dict_foreground\.json: video video_1: no masks"):
        bench.foreground("video_1")
    (tmp_path / "mask_dict_foreground.json").unlink()
    with pytest.raises(DataError, match=r"mask_dict_foreground\.json: \(file\): not found"):
        load_benchmark("revos", tmp_path, "valid").foreground("video_0")


def test_duplicate_expression_key(tmp_path):
    write_reasonvos(tmp_path)
    edit_json(
        tmp_path / "meta_expressions.json",
        lambda m: m["videos"]["video_0"]["expressions"].append(m["videos"]["video_0"]["expressions"][0]),
    )
    with pytest.raises(DataError, match="expression video_0/0/0: appears twice"):
        load_benchmark("reasonvos", tmp_path, "test")


# ---------------------------------------------------------------------------------------------- MeViS


@pytest.mark.parametrize("string_ids", [False, True])
def test_mevis_reads_split_folder(tmp_path, string_ids):
    videos = write_mevis(tmp_path / "valid_u", string_ids=string_ids)
    bench = load_benchmark("mevis", tmp_path / "valid_u", "valid_u")
    assert len(bench) == 6 and {e.type_id for e in bench.expressions} == {None}
    assert bench.videos["video_0"].height == 24 and bench.videos["video_0"].width == 32  # from the JPEG
    expr = bench.expressions[1]
    assert expr.anno_ids == ("100", "101")
    assert np.array_equal(bench.object_masks(expr), truth_masks(videos[0], expr))
    assert bench.foreground("video_0") is None
    assert bench.prediction_dir(Path("out"), expr) == Path("out/video_0/1")


def test_mevis_valid_without_masks(tmp_path):
    write_mevis(tmp_path / "valid", with_masks=False)
    bench = load_benchmark("mevis", tmp_path / "valid", "valid")
    assert len(bench) == 6
    with pytest.raises(DataError, match=r"mask_dict\.json: \(file\): not found"):
        bench.target_mask(bench.expressions[0])


def test_mevis_missing_meta(tmp_path):
    write_mevis(tmp_path)
    with pytest.raises(DataError, match=r"meta_expressions\.json: split 'valid_u': not found"):
        load_benchmark("mevis", tmp_path / "no_such_split", "valid_u")


# ------------------------------------------------------------------------------------------ ReasonVOS


@pytest.mark.parametrize("png_style", ["255", "01", "palette"])
def test_reasonvos_reads_png_styles_and_sparse_frames(tmp_path, png_style):
    videos = write_reasonvos(tmp_path, png_style=png_style)
    bench = load_benchmark("reasonvos", tmp_path, "test")
    assert [e.key for e in bench.expressions] == ["video_0/0/0", "video_0/1/0", "video_1/0/0", "video_1/1/0"]
    assert bench.videos["video_0"].frame_names[:2] == ("00000", "00005")
    for expr in bench.expressions:
        truth = next(o.masks for o in videos[int(expr.video[-1])].objects if o.obj_id == expr.obj_ids[0])
        assert np.array_equal(bench.object_masks(expr), truth[None])
    assert bench.target_mask(bench.expressions[1], [0]).sum() == 0  # object 1 absent in frame 0
    assert bench.summary() == {"videos": 2, "expressions": 4, "single_object": 4}


def test_reasonvos_missing_annotation(tmp_path):
    write_reasonvos(tmp_path)
    (tmp_path / "Annotations" / "revos_video_1_0" / "00010.png").unlink()
    bench = load_benchmark("reasonvos", tmp_path, "test")
    with pytest.raises(DataError, match=r"revos_video_1_0/00010\.png: annotation: file not found"):
        bench.object_masks(bench.expressions[2])


def test_reasonvos_annotation_of_another_size(tmp_path):
    write_reasonvos(tmp_path)
    Image.new("L", (8, 8)).save(tmp_path / "Annotations" / "revos_video_0_1" / "00005.png")
    bench = load_benchmark("reasonvos", tmp_path, "test")
    with pytest.raises(DataError, match=r"00005\.png: size: 8x8"):
        bench.object_masks(bench.expressions[1], [1])


def test_reasonvos_missing_source(tmp_path):
    write_reasonvos(tmp_path)
    edit_json(tmp_path / "meta_expressions.json", lambda m: m["videos"]["video_1"].pop("source"))
    with pytest.raises(DataError, match=r"meta_expressions\.json: videos\.video_1\.source: missing"):
        load_benchmark("reasonvos", tmp_path, "test")


# ------------------------------------------------------------------------------------------------ RLE


def test_rle_round_trip_and_run_lengths():
    rng = np.random.default_rng(0)
    for _ in range(50):
        height, width = rng.integers(1, 30, size=2)
        mask = rng.random((height, width)) < rng.random()  # (H, W)
        rle = encode_rle(mask)
        assert isinstance(rle["counts"], str) and rle["size"] == [height, width]
        runs = _compressed_runs(rle["counts"].encode(), Path("x"), "f")
        assert runs.sum() == height * width and runs.min() >= 0
        assert np.array_equal(decode_rle(rle, height, width, Path("x"), "f"), mask)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' numpy-2 notice
def test_rle_list_reduces_to_one_mask_and_uncompressed_counts():
    a, b = np.zeros((4, 5), dtype=bool), np.zeros((4, 5), dtype=bool)
    a[0, 0], b[3, 4] = True, True
    union = decode_rle([encode_rle(a), encode_rle(b)], 4, 5, Path("x"), "f")
    assert union.shape == (4, 5) and union.sum() == 2 and union[0, 0] and union[3, 4]
    assert mask_utils.decode([encode_rle(a), encode_rle(b)]).shape == (4, 5, 2)  # why the reduction is needed
    uncompressed = {"size": [4, 5], "counts": [6, 2, 2, 2, 8]}  # column-major runs
    assert decode_rle(uncompressed, 4, 5, Path("x"), "f").sum() == 4
    assert not decode_rle(None, 4, 5, Path("x"), "f").any()
    with pytest.raises(DataError, match=r"x: f\.counts"):
        decode_rle({"size": [4, 5], "counts": [6, 2, 2]}, 4, 5, Path("x"), "f")


# ------------------------------------------------------------------------------------------- sampling


def test_uniform_sampling_is_rounded_linspace():
    indices, stamps = sample_frames(100, 8)
    assert indices == [int(x) for x in np.round(np.linspace(0, 99, 8))] and stamps == indices


def test_short_video_gives_all_frames():
    assert sample_frames(5, 8) == ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4])
    assert sample_frames(5, 8, strategy="keyframe_anchored", keyframe=2)[0] == [0, 1, 2, 3, 4]


def test_keyframe_anchored_grid_contains_the_keyframe():
    indices, _ = sample_frames(100, 8, strategy="keyframe_anchored", keyframe=7)
    assert indices == [0, 7, 22, 37, 52, 67, 82, 97]  # step ceil(100 / 7) = 15 through 7, filled with 0
    assert sample_frames(10, 1, strategy="keyframe_anchored", keyframe=4)[0] == [4]


def test_timestamps_distinct_when_fps_above_one():
    indices, stamps = sample_frames(10, 8, fps=2.0)
    assert stamps == [0, 1, 2, 3, 4, 5] and [timestamp(i, 2.0) for i in indices] == stamps
    assert sample_frames(30, 4, fps=0.5)[1] == [0, 20, 38, 58]


@settings(max_examples=150, deadline=None)
@given(
    num_video_frames=st.integers(1, 300),
    num_frames=st.integers(1, 16),
    fps=st.sampled_from([0.5, 1.0, 2.0, 3.0, 6.0]),
    anchored=st.booleans(),
    data=st.data(),
)
def test_sampling_properties(num_video_frames, num_frames, fps, anchored, data):
    keyframe = data.draw(st.integers(0, num_video_frames - 1)) if anchored else None
    strategy = "keyframe_anchored" if anchored else "uniform"
    indices, stamps = sample_frames(num_video_frames, num_frames, fps, strategy, keyframe)
    slots = len({timestamp(i, fps) for i in range(num_video_frames)})
    assert len(indices) == min(num_frames, slots)
    assert indices == sorted(set(indices)) and indices[0] >= 0 and indices[-1] < num_video_frames
    assert stamps == [timestamp(i, fps) for i in indices] and len(set(stamps)) == len(stamps)
    if anchored:
        assert keyframe in indices


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_video_frames": 0, "num_frames": 8},
        {"num_video_frames": 10, "num_frames": 0},
        {"num_video_frames": 10, "num_frames": 4, "fps": 0.0},
        {"num_video_frames": 10, "num_frames": 4, "strategy": "random"},
        {"num_video_frames": 10, "num_frames": 4, "strategy": "keyframe_anchored"},
        {"num_video_frames": 10, "num_frames": 4, "strategy": "keyframe_anchored", "keyframe": 10},
    ],
)
def test_sampling_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="sample_frames"):
        sample_frames(**kwargs)


def test_fixture_videos_are_deterministic():
    first, second = tiny_videos(), tiny_videos()
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(first, second, strict=True))
