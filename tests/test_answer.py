"""Answer parsing: the rules of METHOD.md section 3, and fuzzing (it must never raise on any text).

The fuzz tests run 10,000 generated examples in total (3,000 + 3,500 + 3,000 + 300 + 200); most parse
two or three strings made from each example (26,200 parses), each checked against
:func:`check_invariants`.
"""

import doctest
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import veason_lib.answer
from veason_lib.answer import MAX_BOXES, MAX_CHARS, Answer, parse_answer
from veason_lib.prompts import format_completion
from veason_lib.rewards import answer_format_score

TIMESTAMPS = [0, 3, 6, 9]
CANVAS = 100


def wrap(body: str, think: str = "ok") -> str:
    return f"<think>{think}</think><answer>{body}</answer>"


def answer_json(keyframe, boxes) -> str:
    return json.dumps({"keyframe_timestamp": keyframe, "bbox_2d_list": boxes})


# ----------------------------------------------------------------------------------------------------
# Rules, one row each: (text, expected keyframe, expected boxes, structure_ok, schema_ok)
# ----------------------------------------------------------------------------------------------------

GOOD = answer_json(3, [[10, 20, 30, 40]])
CASES = {
    "well formed": (wrap(GOOD), 3, [(10, 20, 30, 40)], True, True),
    "whitespace around and between": (
        f"\n <think>a</think>\n\n<answer> {GOOD} </answer>",
        3,
        [(10, 20, 30, 40)],
        True,
        True,
    ),
    "missing think: content still read": (f"<answer>{GOOD}</answer>", 3, [(10, 20, 30, 40)], False, True),
    "trailing text": (wrap(GOOD) + " done", 3, [(10, 20, 30, 40)], False, True),
    "trailing whitespace is 'something else'": (wrap(GOOD) + "\n", 3, [(10, 20, 30, 40)], False, True),
    "text before think": ("so " + wrap(GOOD), 3, [(10, 20, 30, 40)], False, True),
    "answer before think": (f"<answer>{GOOD}</answer><think>a</think>", 3, [(10, 20, 30, 40)], False, True),
    "two answers: the last one counts": (
        wrap("{}") + f"<answer>{answer_json(6, [])}</answer>",
        6,
        [],
        False,
        True,
    ),
    "tag inside think": (wrap(GOOD, think="I will <answer> later"), 3, [(10, 20, 30, 40)], False, True),
    "single quotes": (wrap(GOOD.replace('"', "'")), 3, [(10, 20, 30, 40)], True, True),
    "mixed quotes are not rewritten": (wrap("{'keyframe_timestamp\": 3}"), None, [], True, False),
    "integral float keyframe": (wrap(answer_json(3.0, [])), 3, [], True, True),
    "fractional keyframe": (wrap(answer_json(3.5, [])), None, [], True, False),
    "bool keyframe": (wrap(answer_json(True, [])), None, [], True, False),
    "string keyframe": (wrap(answer_json("3", [])), None, [], True, False),
    "keyframe not shown": (wrap(answer_json(4, [[1, 1, 5, 5]])), None, [(1, 1, 5, 5)], True, True),
    "keyframe missing": (wrap(json.dumps({"bbox_2d_list": []})), None, [], True, False),
    "boxes missing": (wrap(json.dumps({"keyframe_timestamp": 3})), 3, [], True, False),
    "boxes not a list": (wrap(answer_json(3, "none")), 3, [], True, False),
    "empty box list": (wrap(answer_json(3, [])), 3, [], True, True),
    "not JSON": (wrap("keyframe 3, box 1 2 3 4"), None, [], True, False),
    "JSON but not an object": (wrap("[3, [[1, 2, 3, 4]]]"), None, [], True, False),
    "no answer block": ("<think>hmm</think>", None, [], False, False),
    "empty string": ("", None, [], False, False),
    "clipped to the canvas": (
        wrap(answer_json(0, [[-5, -1, 150, 99.5]])),
        0,
        [(0, 0, 100, 99.5)],
        True,
        True,
    ),
    "inverted box": (wrap(answer_json(0, [[30, 10, 20, 40]])), 0, [], True, True),
    "zero-width box": (wrap(answer_json(0, [[20, 10, 20, 40]])), 0, [], True, True),
    "box outside the canvas": (wrap(answer_json(0, [[120, 10, 140, 40]])), 0, [], True, True),
    "box of three numbers": (wrap(answer_json(0, [[1, 2, 3]])), 0, [], True, True),
    "box with a string": (wrap(answer_json(0, [[1, 2, "3", 4]])), 0, [], True, True),
    "box with a bool": (wrap(answer_json(0, [[1, 2, True, 4]])), 0, [], True, True),
    "box as a dict": (wrap(answer_json(0, [{"bbox_2d": [1, 2, 3, 4]}])), 0, [], True, True),
    "NaN and Infinity": (
        wrap('{"keyframe_timestamp": NaN, "bbox_2d_list": [[0, 0, Infinity, 5]]}'),
        None,
        [],
        True,
        False,
    ),
    "huge float": (
        wrap('{"keyframe_timestamp": 1e400, "bbox_2d_list": [[0, 0, 1e400, 5]]}'),
        None,
        [],
        True,
        False,
    ),
    "huge int box": (wrap(answer_json(0, [[0, 0, 10**400, 5]])), 0, [], True, True),
    "huge int keyframe": (wrap(answer_json(10**400, [])), None, [], True, True),
    "int beyond the digit limit": (wrap('{"keyframe_timestamp": ' + "9" * 5000 + "}"), None, [], True, False),
    "deep nesting": (wrap("[" * 30_000 + "]" * 30_000), None, [], True, False),
}


@pytest.mark.parametrize("name", CASES)
def test_rule(name: str) -> None:
    text, keyframe, boxes, structure_ok, schema_ok = CASES[name]
    answer = parse_answer(text, TIMESTAMPS, canvas=CANVAS)
    assert (answer.keyframe, answer.boxes) == (keyframe, [tuple(map(float, b)) for b in boxes])
    assert (answer.structure_ok, answer.schema_ok) == (structure_ok, schema_ok)
    assert (answer.reason is None) == (
        structure_ok and schema_ok and keyframe is not None and answer.raw_boxes_count == len(answer.boxes)
    )


def test_think_is_returned_when_the_structure_holds() -> None:
    assert parse_answer(wrap(GOOD, think=" step 1\nstep 2 "), TIMESTAMPS, CANVAS).think == " step 1\nstep 2 "
    assert parse_answer(f"<answer>{GOOD}</answer>", TIMESTAMPS, CANVAS).think is None


def test_raw_count_and_max_boxes() -> None:
    many = [[i % 50, 0, i % 50 + 1, 1] for i in range(100)] + [[5, 5, 1, 1]]
    answer = parse_answer(wrap(answer_json(0, many)), TIMESTAMPS, CANVAS)
    assert answer.raw_boxes_count == 101 and len(answer.boxes) == MAX_BOXES
    assert len(parse_answer(wrap(answer_json(0, many)), TIMESTAMPS, CANVAS, max_boxes=3).boxes) == 3
    mixed = parse_answer(wrap(answer_json(0, [[1, 1, 5, 5], [5, 5, 1, 1]])), TIMESTAMPS, CANVAS)
    assert (mixed.raw_boxes_count, len(mixed.boxes), mixed.reason) == (2, 1, "some boxes are invalid")


def test_too_long_and_not_text() -> None:
    long = wrap(GOOD, think="x" * MAX_CHARS)
    assert parse_answer(long, TIMESTAMPS, CANVAS) == Answer(reason="too long")
    assert parse_answer(None, TIMESTAMPS, CANVAS) == Answer(reason="not text")
    assert parse_answer(b"<think>", TIMESTAMPS, CANVAS).reason == "not text"


def test_canvas_bounds_the_boxes() -> None:
    text = wrap(answer_json(0, [[10, 10, 500, 500]]))
    assert parse_answer(text, TIMESTAMPS, canvas=560).boxes == [(10, 10, 500, 500)]
    assert parse_answer(text, TIMESTAMPS, canvas=112).boxes == [(10, 10, 112, 112)]


def test_doctests() -> None:
    result = doctest.testmod(veason_lib.answer)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------------------------------------
# Fuzzing
# ----------------------------------------------------------------------------------------------------


def fuzz(examples: int) -> settings:
    """Many examples, no deadline (the machine is shared), no example database written into the repo."""
    return settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )


SHOWN = st.lists(st.integers(0, 200), min_size=1, max_size=8, unique=True)


def check_invariants(answer: Answer, timestamps: list[int], canvas: float) -> None:
    assert isinstance(answer, Answer)
    assert answer.keyframe is None or answer.keyframe in timestamps
    assert len(answer.boxes) <= min(answer.raw_boxes_count, MAX_BOXES)
    for x1, y1, x2, y2 in answer.boxes:
        assert all(math.isfinite(v) for v in (x1, y1, x2, y2))
        assert 0 <= x1 < x2 <= canvas and 0 <= y1 < y2 <= canvas
    assert answer.structure_ok == (answer.think is not None)
    assert (answer.reason is None) <= (
        answer.structure_ok and answer.schema_ok and answer.keyframe is not None
    )
    assert 0.0 <= answer_format_score(answer) <= 2.0


@fuzz(3000)
@given(text=st.text(max_size=300), timestamps=SHOWN)
def test_fuzz_random_text(text: str, timestamps: list[int]) -> None:
    for variant in (text, wrap(text, think=text), wrap(GOOD, think=text)):
        check_invariants(parse_answer(variant, timestamps, 100), timestamps, 100)


TAG_BITS = ["<think>", "</think>", "<answer>", "</answer>", "<think", "answer>", " ", "\n"]
JSON_BITS = [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "'",
    '"',
    '"keyframe_timestamp"',
    '"bbox_2d_list"',
    "'bbox_2d_list'",
]
VALUE_BITS = ["NaN", "Infinity", "-Infinity", "1e309", "-1", "0", "3", "3.0", "2.5", "9" * 20, "true", "null"]
BOX_BITS = [
    "[[1, 2, 3, 4]]",
    "[[50, 50, 10, 10]]",
    "[[-10, -10, 500, 500]]",
    "[[0, 0, 0, 0]]",
    "[1, 2, 3, 4]",
]
FRAGMENTS = st.sampled_from(TAG_BITS + JSON_BITS + VALUE_BITS + BOX_BITS)


@fuzz(3500)
@given(parts=st.lists(FRAGMENTS, max_size=30), timestamps=SHOWN, canvas=st.integers(1, 1000))
def test_fuzz_tag_and_json_fragments(parts: list[str], timestamps: list[int], canvas: int) -> None:
    text = "".join(parts)
    for variant in (text, wrap(text), text * 3):
        check_invariants(parse_answer(variant, timestamps, canvas), timestamps, canvas)


NUMBER = st.one_of(
    st.integers(-(10**30), 10**30), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none()
)
BOX = st.one_of(st.lists(NUMBER, min_size=0, max_size=6), NUMBER, st.text(max_size=5))
BODY = st.fixed_dictionaries(
    {},
    optional={
        "keyframe_timestamp": st.one_of(NUMBER, st.text(max_size=3)),
        "bbox_2d_list": st.one_of(st.lists(BOX, max_size=40), NUMBER),
    },
)


@fuzz(3000)
@given(body=BODY, timestamps=SHOWN, quotes=st.booleans(), truncate=st.integers(0, 400))
def test_fuzz_answer_objects(body: dict, timestamps: list[int], quotes: bool, truncate: int) -> None:
    text = wrap(json.dumps(body).replace('"', "'") if quotes else json.dumps(body))
    check_invariants(parse_answer(text, timestamps, 100), timestamps, 100)
    check_invariants(parse_answer(text[:truncate], timestamps, 100), timestamps, 100)


@fuzz(300)
@given(
    timestamps=SHOWN,
    data=st.data(),
    boxes=st.lists(st.tuples(*[st.integers(0, 99)] * 4), max_size=MAX_BOXES),
    think=st.text(max_size=50).filter(lambda t: "<" not in t),
)
def test_fuzz_round_trip(timestamps: list[int], data, boxes, think: str) -> None:
    keyframe = data.draw(st.sampled_from(timestamps))
    valid = [(x1, y1, x1 + 1 + x2 % 5, y1 + 1 + y2 % 5) for x1, y1, x2, y2 in boxes]
    answer = parse_answer(format_completion(think, keyframe, valid), timestamps, canvas=200)
    assert (answer.keyframe, answer.boxes, answer.reason) == (
        keyframe,
        [tuple(map(float, b)) for b in valid],
        None,
    )


@fuzz(200)
@given(fragment=st.one_of(FRAGMENTS, st.text(min_size=1, max_size=20)), megabytes=st.integers(1, 4))
def test_fuzz_multi_megabyte_strings(fragment: str, megabytes: int) -> None:
    text = fragment * (megabytes * 2**20 // len(fragment) + 1)
    assert parse_answer(text, TIMESTAMPS, CANVAS) == Answer(reason="too long")
    assert parse_answer(text[: MAX_CHARS - 1], TIMESTAMPS, CANVAS).reason != "too long"
