"""Parsing the model's answer (METHOD.md section 3). Model output is untrusted: this never raises on text.

Rules:
- ``structure_ok``: the whole text is optional whitespace, ``<think>...</think>``, optional whitespace,
  ``<answer>...</answer>`` and nothing else, each tag exactly once.
- The answer body is the last ``<answer>...</answer>`` block, read even when the structure is broken
  (the format reward scores the structure; the other rewards score the content). It must be JSON; a body
  without double quotes has its single quotes turned into double quotes (JSON never needs both).
- ``schema_ok``: the body is an object with an integer ``keyframe_timestamp`` (an integral float is
  accepted) and a list ``bbox_2d_list``.
- ``keyframe`` is set only when it equals one of the shown timestamps.
- ``boxes``: the first ``max_boxes`` entries of ``bbox_2d_list`` that are 4 finite numbers, clipped to
  ``[0, canvas]``, with x2 > x1 and y2 > y1 after clipping. ``raw_boxes_count`` counts every entry.
- Texts longer than ``MAX_CHARS`` are not read at all (reason ``"too long"``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_CHARS = 64 * 1024
MAX_BOXES = 32
TAGS = ("<think>", "</think>", "<answer>", "</answer>")
STRUCTURE = re.compile(r"\s*<think>(.*)</think>\s*<answer>(.*)</answer>", re.DOTALL)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Answer:
    """What a completion says, with the first problem found (``reason``) or None when all is well."""

    think: str | None = None
    keyframe: int | None = None
    boxes: list[Box] = field(default_factory=list)
    raw_boxes_count: int = 0
    structure_ok: bool = False
    schema_ok: bool = False
    reason: str | None = None


def parse_answer(text: Any, timestamps: Sequence[int], canvas: float, max_boxes: int = MAX_BOXES) -> Answer:
    """Parse one completion against the shown ``timestamps`` and a ``canvas`` x ``canvas`` frame.

    >>> a = parse_answer('<think>hi</think><answer>{"keyframe_timestamp": 2, '
    ...                  '"bbox_2d_list": [[1, 2, 30, 40], [5, 5, 5, 9]]}</answer>', [0, 2], canvas=32)
    >>> a.keyframe, a.boxes, a.raw_boxes_count, a.structure_ok, a.schema_ok
    (2, [(1.0, 2.0, 30.0, 32.0)], 2, True, True)
    """
    if not isinstance(text, str):
        return Answer(reason="not text")
    if len(text) > MAX_CHARS:
        return Answer(reason="too long")
    think = think_of(text)
    body = answer_body(text)
    if body is None:
        return Answer(think=think, reason="no <answer> block")
    content = parse_json(body)
    if not isinstance(content, dict):
        reason = "answer is not JSON" if content is None else "answer is not a JSON object"
        return Answer(think=think, structure_ok=think is not None, reason=reason)
    return read_content(content, think, timestamps, canvas, max_boxes)


def think_of(text: str) -> str | None:
    """The reasoning trace when the full tag structure holds, else None."""
    if any(text.count(tag) != 1 for tag in TAGS):
        return None
    match = STRUCTURE.fullmatch(text)
    return match.group(1) if match else None


def answer_body(text: str) -> str | None:
    """The text of the last ``<answer>...</answer>`` block (linear scans; no regex backtracking)."""
    end = text.rfind("</answer>")
    start = text.rfind("<answer>", 0, end) if end >= 0 else -1
    return text[start + len("<answer>") : end] if start >= 0 else None


def parse_json(body: str) -> Any | None:
    """The JSON value of the body, or None when it is not JSON (also for absurd nesting)."""
    body = body.strip()
    if '"' not in body:
        body = body.replace("'", '"')
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers malformed JSON and integers beyond Python's digit limit; RecursionError
        # covers bracket towers. Both are model output errors, scored by rule, never raised.
        return None


def read_content(
    content: dict, think: str | None, timestamps: Sequence[int], canvas: float, max_boxes: int
) -> Answer:
    """Read the keyframe and boxes of an answer object."""
    stamp = as_integer(content.get("keyframe_timestamp"))
    raw = content.get("bbox_2d_list")
    boxes = read_boxes(raw, canvas, max_boxes) if isinstance(raw, list) else []
    keyframe = stamp if stamp is not None and stamp in set(timestamps) else None
    answer = Answer(
        think=think,
        keyframe=keyframe,
        boxes=boxes,
        raw_boxes_count=len(raw) if isinstance(raw, list) else 0,
        structure_ok=think is not None,
        schema_ok=stamp is not None and isinstance(raw, list),
    )
    return dataclasses.replace(answer, reason=first_problem(answer, stamp, raw))


def first_problem(answer: Answer, stamp: int | None, raw: Any) -> str | None:
    """The reason reported for an answer, in reading order."""
    if not answer.structure_ok:
        return "tag structure is not <think>...</think><answer>...</answer>"
    if stamp is None:
        return "keyframe_timestamp missing or not an integer"
    if not isinstance(raw, list):
        return "bbox_2d_list missing or not a list"
    if answer.keyframe is None:
        return "keyframe_timestamp is not a shown timestamp"
    if len(answer.boxes) < answer.raw_boxes_count:
        return "some boxes are invalid"
    return None


def as_integer(value: Any) -> int | None:
    """An int, or a float with an integral value; bools and everything else give None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def read_boxes(raw: list, canvas: float, max_boxes: int) -> list[Box]:
    """The valid boxes among the first ``max_boxes`` entries, clipped to the canvas."""
    boxes = []
    for entry in raw[:max_boxes]:
        box = read_box(entry, canvas)
        if box is not None:
            boxes.append(box)
    return boxes


def read_box(entry: Any, canvas: float) -> Box | None:
    """One [x1, y1, x2, y2] entry clipped to the canvas, or None when it is not a valid box."""
    if not isinstance(entry, list) or len(entry) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in entry):
        return None
    try:
        values = [float(v) for v in entry]
    except OverflowError:  # an int too large for a float
        return None
    if not all(math.isfinite(v) for v in values):
        return None
    x1, y1, x2, y2 = (min(max(v, 0.0), float(canvas)) for v in values)
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)
