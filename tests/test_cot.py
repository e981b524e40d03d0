"""Stage 1 (CoT data): selection, pseudo keyframes, teacher prompts, teachers, resumable generation.

The OpenAI-compatible teacher is tested against a real HTTP server on 127.0.0.1 that this file starts and
that misbehaves on request (HTTP 500, a response slower than the timeout, malformed bodies, a trace that
fails validation, an echo of the API key). The offline teacher and ``build_stage1`` run on the tiny
ReVOS-layout fixture of ``fixtures_data`` plus a ``scene_facts.json`` written here.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fixtures_data import write_json, write_revos
from PIL import Image

from veason_lib.answer import parse_answer
from veason_lib.config import ConfigError, CoTConfig
from veason_lib.cot import (
    API_KEY_ENV,
    GRPO_PROMPTS,
    SFT_RECORDS,
    SUMMARY,
    TEACHER_TEMPLATES,
    CoTItem,
    OfflineTeacher,
    OpenAITeacher,
    TeacherError,
    TraceRequest,
    build_stage1,
    generate_traces,
    make_teacher,
    pseudo_keyframe,
    render_teacher_images,
    stratified_sample,
    summary_table,
    teacher_messages,
    validate_trace,
)
from veason_lib.cot.offline import location
from veason_lib.cot.stage import trace_request
from veason_lib.cot.teachers import redact
from veason_lib.data import DataError, Expression, load_benchmark
from veason_lib.jsonl import read_jsonl
from veason_lib.samples import Sample

SECRET = "sk-test-SECRET-0123456789abcdef"
GOOD_TRACE = (
    "The video shows two shapes drifting to the right over a grey background. At <2s> the target is "
    "fully visible and largest, so this frame shows it best; it moves right in the upper left."
)
CANVAS = 56
BOX = [10.0, 10.0, 40.0, 30.0]


# ----------------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------------


def fake_sample(key: str = "video_0/0", num_frames: int = 4, query: str = "the moving shape") -> Sample:
    """A Sample with grey canvas frames and one target box per frame, growing to its largest at position 2."""
    images = [Image.new("RGB", (CANVAS, CANVAS), (128, 128, 128)) for _ in range(num_frames)]
    return Sample(
        video=key.split("/")[0],
        exp_id=key.split("/")[-1],
        key=key,
        query=query,
        type_id=0,
        frame_indices=[2 * i for i in range(num_frames)],
        timestamps=[2 * i for i in range(num_frames)],
        images=images,
        gt_boxes=[[list(BOX)] for _ in range(num_frames)],
        areas=[10.0, 20.0, 40.0, 30.0][:num_frames],
        gt_masks_rle=[{} for _ in range(num_frames)],
    )


def fake_item(key: str, query: str = "the moving shape") -> CoTItem:
    return CoTItem(key, lambda: TraceRequest(fake_sample(key, query=query), ("0",), 2, 0))


class ChatServer(ThreadingHTTPServer):
    """OpenAI chat completions that plays ``script`` (one behaviour per request), then rules by query.

    Behaviours: ok, 500 (body echoes the Authorization header), 400, slow (sleeps past the client
    timeout, then answers), badjson, nochoices, html, invalid (a trace naming the red boxes), leak (a
    trace that contains the caller's API key). Without a script, a query containing ``#broken`` gets
    500, ``#mention`` gets invalid, ``#leak`` gets leak, anything else ok.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.script: list[str] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"

    def behaviour(self, body: dict) -> str:
        with self.lock:
            self.requests.append(body)
            if self.script:
                return self.script.pop(0)
        text = body["messages"][-1]["content"][-1]["text"]
        for marker, behaviour in (("#broken", "500"), ("#mention", "invalid"), ("#leak", "leak")):
            if marker in text:
                return behaviour
        return "ok"


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, *args: object) -> None:  # keep pytest's output clean
        return

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization", "")
        behaviour = self.server.behaviour({**body, "auth": auth})
        if behaviour == "slow":
            time.sleep(1.0)
        status, payload, kind = self.response(behaviour, auth)
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out first: nothing to answer
            return

    @staticmethod
    def response(behaviour: str, auth: str) -> tuple[int, bytes, str]:
        if behaviour == "500":
            return 500, json.dumps({"error": f"overloaded; you sent {auth}"}).encode(), "application/json"
        if behaviour == "400":
            return 400, json.dumps({"error": f"unknown model; you sent {auth}"}).encode(), "application/json"
        if behaviour == "badjson":
            return 200, b'{"choices": [{"mess', "application/json"
        if behaviour == "html":
            return 200, b"<html>gateway</html>", "text/html"
        if behaviour == "nochoices":
            return 200, json.dumps({"id": "x", "object": "chat.completion"}).encode(), "application/json"
        content = {
            "invalid": "Inside the red bounding box at <2s> the shape is largest and clearly moving right.",
            "leak": f"{GOOD_TRACE} Token: {auth}",
        }.get(behaviour, GOOD_TRACE)
        message = {"role": "assistant", "content": content}
        choice = {"index": 0, "finish_reason": "stop", "message": message}
        completion = {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}
        return 200, json.dumps(completion).encode(), "application/json"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer()
    thread = threading.Thread(target=chat.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield chat
    chat.shutdown()
    chat.server_close()


@pytest.fixture
def teacher(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> OpenAITeacher:
    monkeypatch.setenv(API_KEY_ENV, SECRET)
    return OpenAITeacher(
        server.base_url, "teacher-model", timeout_s=0.3, retries=2, concurrency=2, backoff_s=0.01
    )


SCENE_FACTS = {
    "video_0": {
        "summary": "two shapes drift to the right over a grey background",
        "objects": {
            "0": {
                "description": "small red square",
                "color": "red",
                "shape": "square",
                "size": "small",
                "motion": "moves steadily to the right",
                "first_frame": 0,
                "last_frame": 5,
            },
            "1": {
                "description": "the blue rectangle",
                "color": "blue",
                "shape": "rectangle",
                "size": "small",
                "motion": "follows it to the right",
                "first_frame": 1,
                "last_frame": 5,
            },
        },
        "expressions": {
            "0": {"kind": "referring", "rationale": "only one object is red"},
            "1": {"kind": "reasoning", "rationale": "both shapes keep moving right for the whole video"},
            "2": {"kind": "no_target", "rationale": "there is no green circle"},
        },
    }
}


@pytest.fixture
def revos_root(tmp_path: Path) -> Path:
    """The tiny ReVOS fixture (2 videos x 3 expressions, one of them type 2) with scene facts."""
    root = tmp_path / "revos"
    write_revos(root, splits=("train",))
    facts = {"video_0": SCENE_FACTS["video_0"], "video_1": SCENE_FACTS["video_0"]}
    write_json(root / "scene_facts.json", facts)
    return root


def stage_config(**overrides: object) -> CoTConfig:
    values = {"num_samples": 10, "num_frames": 4, "frame_size": 28, "teacher_concurrency": 2, "seed": 0}
    return CoTConfig(**{**values, **overrides})


# ----------------------------------------------------------------------------------------------------
# Selection and pseudo keyframes
# ----------------------------------------------------------------------------------------------------


def expression(i: int, type_id: int, objects: int) -> Expression:
    obj_ids = tuple(str(k) for k in range(objects))
    return Expression(f"v{i}", "0", f"query {i}", obj_ids, obj_ids, type_id, f"v{i}/0")


def test_stratified_sample_is_proportional_seeded_and_drops_no_target() -> None:
    sizes = {(0, 1): 60, (0, 2): 20, (1, 1): 15, (1, 3): 5, (2, 1): 10}
    expressions = [
        expression(i, t, k) for i, (t, k) in enumerate(kind for kind, n in sizes.items() for _ in range(n))
    ]
    benchmark = SimpleNamespace(expressions=expressions)
    chosen = stratified_sample(benchmark, 20, seed=1)
    strata = Counter((e.type_id, len(e.obj_ids) > 1) for e in chosen)
    assert strata == {(0, False): 12, (0, True): 4, (1, False): 3, (1, True): 1}
    assert [e.key for e in chosen] == [e.key for e in stratified_sample(benchmark, 20, seed=1)]
    assert [e.key for e in chosen] != [e.key for e in stratified_sample(benchmark, 20, seed=2)]
    assert len({e.key for e in chosen}) == 20
    everything = stratified_sample(benchmark, 1000, seed=1)
    assert len(everything) == 100 and all(e.type_id != 2 for e in everything)


def test_pseudo_keyframe_picks_only_among_the_top_k_present_frames() -> None:
    areas = [0.0, 5.0, 50.0, 40.0, 30.0, 20.0, 10.0, 0.0]
    picks = {pseudo_keyframe(areas, 3, np.random.default_rng(seed)) for seed in range(60)}
    assert picks == {2, 3, 4}
    sparse = {pseudo_keyframe([0.0, 7.0, 0.0, 0.0], 5, np.random.default_rng(seed)) for seed in range(20)}
    assert sparse == {1}  # absent frames never qualify, even inside the top k
    with pytest.raises(ValueError, match="absent"):
        pseudo_keyframe([0.0, 0.0], 5, np.random.default_rng(0))


# ----------------------------------------------------------------------------------------------------
# Teacher prompt
# ----------------------------------------------------------------------------------------------------


def decode_data_url(url: str) -> np.ndarray:
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    return np.asarray(
        Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))).convert("RGB")
    )  # (H, W, 3)


def test_render_teacher_images_draws_red_boxes_on_copies() -> None:
    sample = fake_sample()
    drawn = [np.asarray(image) for image in render_teacher_images(sample, keyframe_pos=2)]  # (H, W, 3) each
    assert all(tuple(frame[20, 10]) == (255, 0, 0) for frame in drawn)  # the box's left edge
    assert tuple(drawn[2][20, 14]) == (255, 0, 0) and tuple(drawn[0][20, 14]) != (
        255,
        0,
        0,
    )  # keyframe heavier
    assert tuple(drawn[0][20, 25]) == (128, 128, 128)  # inside the box stays visible
    assert tuple(np.asarray(sample.images[0])[20, 10]) == (128, 128, 128)  # the student's frames stay clean


def test_teacher_messages_interleave_timestamps_and_frames_then_instruct() -> None:
    sample = fake_sample(query="the shape that moves first")
    texts = set()
    for template_id in range(len(TEACHER_TEMPLATES)):
        (turn,) = teacher_messages(sample, keyframe_ts=4, template_id=template_id)
        content = turn["content"]
        assert [item["type"] for item in content] == ["text", "image_url"] * 4 + ["text"]
        assert [content[2 * i]["text"] for i in range(4)] == ["<0s>", "<2s>", "<4s>", "<6s>"]
        frame = decode_data_url(content[1]["image_url"]["url"])  # (H, W, 3)
        assert frame[20, 10, 0] > 180 and frame[20, 10, 1] < 90  # red survives JPEG
        instruction = content[-1]["text"]
        assert '"the shape that moves first"' in instruction and "<4s>" in instruction
        texts.add(instruction)
    assert len(texts) == 3
    with pytest.raises(ValueError, match="keyframe_ts"):
        teacher_messages(sample, keyframe_ts=5, template_id=0)


def test_template_exemplars_are_valid_traces_and_differ() -> None:
    assert all(validate_trace(t.exemplar) is None for t in TEACHER_TEMPLATES)
    assert len({t.exemplar for t in TEACHER_TEMPLATES}) == len({t.intro for t in TEACHER_TEMPLATES}) == 3


@pytest.mark.parametrize(
    ("text", "query", "reason"),
    [
        (GOOD_TRACE, "", None),
        ("   ", "", "empty"),
        ("Too short.", "", "too short"),
        ("word " * 1000, "", "too long"),
        (GOOD_TRACE + " The red box marks it.", "", "mentions the drawn boxes"),
        (GOOD_TRACE + " Its bounding box is tight.", "", "mentions the drawn boxes"),
        (GOOD_TRACE + " The bbox is wide.", "", "mentions the drawn boxes"),
        ("<think>" + GOOD_TRACE + "</think>", "", "contains <think>/<answer> tags"),
        (GOOD_TRACE + " <answer>{}</answer>", "", "contains <think>/<answer> tags"),
        (GOOD_TRACE + " The red box is the one on the left.", "the red box", None),
        (GOOD_TRACE + " Its bounding box is tight.", "the red box", "mentions the drawn boxes"),
    ],
)
def test_validate_trace(text: str, query: str, reason: str | None) -> None:
    found = validate_trace(text, query)
    assert found == reason if reason is None else found.startswith(reason)


# ----------------------------------------------------------------------------------------------------
# OpenAI-compatible teacher against a misbehaving local server
# ----------------------------------------------------------------------------------------------------


def request_for(query: str = "the moving shape") -> TraceRequest:
    return TraceRequest(fake_sample(query=query), ("0",), 2, 1)


def test_openai_teacher_sends_frames_and_key_and_returns_the_trace(teacher, server) -> None:
    assert teacher.write_trace(request_for()) == GOOD_TRACE
    (sent,) = server.requests
    assert sent["model"] == "teacher-model" and sent["auth"] == f"Bearer {SECRET}"
    assert sum(item["type"] == "image_url" for item in sent["messages"][0]["content"]) == 4


@pytest.mark.parametrize(
    "script", [["500", "ok"], ["slow", "ok"], ["badjson", "ok"], ["nochoices", "html", "ok"]], ids=str
)
def test_openai_teacher_retries_transient_failures(teacher, server, script: list[str]) -> None:
    server.script = list(script)
    assert teacher.write_trace(request_for()) == GOOD_TRACE
    assert len(server.requests) == len(script)


def test_openai_teacher_gives_up_after_its_retries_without_leaking_the_key(teacher, server) -> None:
    server.script = ["500", "500", "500", "ok"]
    with pytest.raises(TeacherError, match="gave up after 3 attempts: HTTP 500") as error:
        teacher.write_trace(request_for())
    assert len(server.requests) == 3
    assert (
        SECRET not in str(error.value) and error.value.__cause__ is None and error.value.__context__ is None
    )


def test_openai_teacher_backs_off_exponentially_with_jitter(teacher) -> None:
    delays = np.array([[teacher.backoff_delay(a) for a in range(4)] for _ in range(50)])  # (50, 4)
    base = teacher.backoff_s * 2 ** np.arange(4)  # (4,)
    assert np.all(delays >= 0.5 * base) and np.all(delays <= 1.5 * base)
    assert all(len(set(column)) > 1 for column in delays.T)  # jittered


def test_openai_teacher_fails_fast_on_client_errors(teacher, server) -> None:
    server.script = ["400", "ok"]
    with pytest.raises(TeacherError, match="HTTP 400") as error:
        teacher.write_trace(request_for())
    assert len(server.requests) == 1 and SECRET not in str(error.value)


def test_openai_teacher_needs_the_key_from_the_environment(server, monkeypatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(TeacherError, match=API_KEY_ENV):
        OpenAITeacher(server.base_url, "teacher-model")
    with pytest.raises(TeacherError, match=API_KEY_ENV):
        make_teacher(
            stage_config(teacher="openai", teacher_base_url=server.base_url, teacher_model="m"), None
        )
    with pytest.raises(ConfigError, match="teacher"):
        make_teacher(stage_config(teacher="oracle"), None)


def test_generation_with_a_misbehaving_server_records_failures_and_never_leaks_the_key(
    teacher, server, tmp_path, caplog, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    queries = ["the moving shape", "the #broken one", "a #mention case", "the #leak case", "the last shape"]
    items = [fake_item(f"video_{i}/0", query) for i, query in enumerate(queries)]
    out = tmp_path / "traces.jsonl"
    summary = generate_traces(items, teacher, out, concurrency=2)
    assert (summary["written"], summary["failed"], summary["skipped"]) == (2, 3, 0)
    assert sorted(r["key"] for r in read_jsonl(out)) == ["video_0/0", "video_4/0"]
    failures = {f["key"]: f["reason"] for f in read_jsonl(tmp_path / "traces.failures.jsonl")}
    assert "gave up after 3 attempts" in failures["video_1/0"]
    assert "invalid trace: mentions the drawn boxes" in failures["video_2/0"]
    assert "contains the API key" in failures["video_3/0"]
    assert any(f"Bearer {SECRET}" in r["auth"] for r in server.requests)  # the server did see (and echo) it
    written = "".join(p.read_text() for p in tmp_path.iterdir())
    captured = capsys.readouterr()
    for text in (written, json.dumps(summary), caplog.text, captured.out, captured.err, repr(teacher)):
        assert SECRET not in text


# ----------------------------------------------------------------------------------------------------
# Resumable generation
# ----------------------------------------------------------------------------------------------------


class ScriptedTeacher:
    """Writes a good trace per item; ``stop_after`` calls later it raises KeyboardInterrupt (a kill)."""

    name = "scripted"

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after, self.calls, self.lock = stop_after, 0, threading.Lock()

    def write_trace(self, request: TraceRequest) -> str:
        with self.lock:
            self.calls += 1
            if self.stop_after is not None and self.calls > self.stop_after:
                raise KeyboardInterrupt
        return f"{GOOD_TRACE} ({request.sample.key})"


def test_generation_resumes_after_a_kill_without_loss_or_duplicates(tmp_path) -> None:
    items = [fake_item(f"video_{i}/0") for i in range(12)]
    out = tmp_path / "traces.jsonl"
    with pytest.raises(KeyboardInterrupt):
        generate_traces(items, ScriptedTeacher(stop_after=5), out, concurrency=1, progress=False)
    finished = [r["key"] for r in read_jsonl(out)]
    assert finished == [item.key for item in items[:5]]  # one worker: the kill comes at the sixth item
    with out.open("a") as handle:
        handle.write('{"key": "video_11/0", "think": "cut off by the cra')  # killed mid-write
    teacher = ScriptedTeacher()
    summary = generate_traces(items, teacher, out, concurrency=3, progress=False)
    assert summary["skipped"] == len(finished) and summary["written"] == 12 - len(finished)
    assert teacher.calls == 12 - len(finished)
    keys = [r["key"] for r in read_jsonl(out)]
    assert sorted(keys) == sorted(item.key for item in items)  # nothing lost, nothing twice
    again = generate_traces(items, ScriptedTeacher(stop_after=0), out, progress=False)
    assert (again["skipped"], again["written"]) == (12, 0)


def test_a_broken_line_inside_the_traces_is_a_data_error(tmp_path) -> None:
    out = tmp_path / "traces.jsonl"
    out.write_text('{"key": "a"}\n{"key": \n{"key": "c"}\n')
    with pytest.raises(DataError, match="traces.jsonl: line 2"):
        generate_traces([fake_item("video_0/0")], ScriptedTeacher(), out, progress=False)


# ----------------------------------------------------------------------------------------------------
# Offline teacher and the whole stage on the tiny ReVOS fixture
# ----------------------------------------------------------------------------------------------------


def test_offline_teacher_traces_describe_the_target_and_pass_validation(revos_root) -> None:
    benchmark = load_benchmark("revos", revos_root, "train")
    teacher = OfflineTeacher(revos_root / "scene_facts.json")
    for expr in (e for e in benchmark.expressions if e.type_id != 2):
        request = trace_request(benchmark, expr, stage_config())
        traces = {
            teacher.write_trace(TraceRequest(request.sample, expr.obj_ids, request.keyframe_pos, t))
            for t in range(3)
        }
        assert len(traces) == 3
        for trace in traces:
            assert validate_trace(trace, expr.text) is None, trace
            assert "small red square" in trace and f"<{request.keyframe_ts}s>" in trace
            assert ("blue rectangle" in trace) == (len(expr.obj_ids) == 2)
            box = request.keyframe_boxes[0]
            assert f"moves steadily to the right {location(box, (28, 28))}" in trace  # per-object location
            assert "the the" not in trace


def test_offline_teacher_names_the_file_and_field_of_missing_facts(tmp_path) -> None:
    facts = json.loads(json.dumps(SCENE_FACTS))
    del facts["video_0"]["objects"]["0"]["motion"]
    write_json(tmp_path / "scene_facts.json", facts)
    teacher = OfflineTeacher(tmp_path / "scene_facts.json")
    with pytest.raises(DataError, match=r"scene_facts.json: video_0.objects.0.motion: missing"):
        teacher.write_trace(TraceRequest(fake_sample("video_0/0"), ("0",), 2, 0))


def test_build_stage1_writes_records_prompts_and_summary_and_reruns_idempotently(
    revos_root, tmp_path
) -> None:
    benchmark = load_benchmark("revos", revos_root, "train")
    cfg = stage_config()
    out = tmp_path / "01_cot"
    summary = build_stage1(cfg, benchmark, make_teacher(cfg, benchmark), out)
    records = read_jsonl(out / SFT_RECORDS)
    prompts = read_jsonl(out / GRPO_PROMPTS)
    assert summary["records"] == len(records) == 4 and len(prompts) == 4
    assert all(p["type_id"] in (0, 1) for p in prompts)
    for record in records:
        assert set(record) == {*prompts[0], "keyframe", "boxes", "think", "completion"}
        answer = parse_answer(record["completion"], record["timestamps"], canvas=cfg.frame_size)
        assert answer.structure_ok and answer.keyframe == record["keyframe"]
        assert len(answer.boxes) == len(record["boxes"]) >= 1 and answer.think.strip() == record["think"]
    assert json.loads((out / SUMMARY).read_text()) == summary
    table = summary_table(summary)
    assert {row["stratum"] for row in table} == {"referring/single", "reasoning/multi", "total"}
    assert table[-1]["records"] == 4
    rerun = build_stage1(cfg, benchmark, make_teacher(cfg, benchmark), out)
    assert rerun["traces"]["skipped"] == 4 and rerun["traces"]["written"] == 0
    assert read_jsonl(out / SFT_RECORDS) == records


def test_build_stage1_empty_think_ablation(revos_root, tmp_path) -> None:
    benchmark = load_benchmark("revos", revos_root, "train")
    cfg = stage_config(empty_think=True, num_samples=2)
    build_stage1(cfg, benchmark, make_teacher(cfg, benchmark), tmp_path)
    records = read_jsonl(tmp_path / SFT_RECORDS)
    assert len(records) == 2
    assert all(r["think"] == "" and r["completion"].startswith("<think></think>\n<answer>") for r in records)


def test_build_stage1_sft_keyframe_ablation(revos_root, tmp_path) -> None:
    benchmark = load_benchmark("revos", revos_root, "train")
    cfg = stage_config(sft_target="keyframe_only", num_samples=2)
    build_stage1(cfg, benchmark, make_teacher(cfg, benchmark), tmp_path)
    records = read_jsonl(tmp_path / SFT_RECORDS)
    assert records and all(r["boxes"] == [] and r["think"] for r in records)
    assert all('"bbox_2d_list": []' in r["completion"] for r in records)
    with pytest.raises(ConfigError, match="sft_target"):
        build_stage1(stage_config(sft_target="boxes"), benchmark, make_teacher(cfg, benchmark), tmp_path)


def test_traces_of_another_frame_sampling_are_refused(revos_root, tmp_path) -> None:
    benchmark = load_benchmark("revos", revos_root, "train")
    cfg = stage_config(num_samples=2)
    build_stage1(cfg, benchmark, make_teacher(cfg, benchmark), tmp_path)
    changed = stage_config(num_samples=2, num_frames=3)
    with pytest.raises(DataError, match="traces.jsonl: .*frame_indices: differ"):
        build_stage1(changed, benchmark, make_teacher(changed, benchmark), tmp_path)


def test_redaction_spares_placeholder_keys_of_local_servers(monkeypatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "EMPTY")
    assert redact("EMPTY handed over") == "EMPTY handed over"
    monkeypatch.setenv(API_KEY_ENV, SECRET)
    assert redact(f"key={SECRET}!") == "key=[redacted]!"


def test_offline_brief_traces_are_short_and_named_apart(revos_root, tmp_path) -> None:
    benchmark = load_benchmark("revos", revos_root, "train")
    full, brief = stage_config(num_samples=3), stage_config(num_samples=3, offline_trace_style="brief")
    build_stage1(brief, benchmark, make_teacher(brief, benchmark), tmp_path / "brief")
    build_stage1(full, benchmark, make_teacher(full, benchmark), tmp_path / "full")
    short = {r["key"]: r["think"] for r in read_jsonl(tmp_path / "brief" / SFT_RECORDS)}
    long = {r["key"]: r["think"] for r in read_jsonl(tmp_path / "full" / SFT_RECORDS)}
    assert short.keys() == long.keys() and short
    assert all(validate_trace(t) is None and len(t) < len(long[k]) / 2 for k, t in short.items())
    with pytest.raises(DataError, match="teacher"):  # traces of another teacher style are not mixed in
        build_stage1(full, benchmark, make_teacher(full, benchmark), tmp_path / "brief")
