"""A teacher without a model: faithful traces from the synthetic benchmark's own scene facts.

The generator knows every object's description and motion and why each expression points at its target
(``scene_facts.json``); with the pseudo keyframe and the GT boxes this gives a trace that follows the
same three steps as a teacher model's (summary, why this frame, action and location), in one of three
phrasings chosen by the request's template id. Expected text forms: ``summary`` and ``rationale`` are
sentences, ``description`` a noun phrase ("small blue square"), ``motion`` a present-tense verb phrase
("moves slowly to the right").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from veason_lib.cot.teachers import TraceRequest
from veason_lib.data.errors import DataError, read_json, require

SCENE_FACTS = "scene_facts.json"
OBJECT_FIELDS = {"description": str, "color": str, "shape": str, "size": str, "motion": str}
OBJECT_FRAMES = ("first_frame", "last_frame")

OFFLINE_TEMPLATES = (
    '{summary} The query "{query}" refers to {targets}: {rationale} {span} At <{t}s> {targets} {be} '
    "{size}, so this frame shows {them} most clearly. In this frame {actions}.",
    'Let me look at the whole video first. {summary} Now the query: "{query}". {rationale} That points '
    "to {targets}. {span} The frame at <{t}s> is the best choice, because there {targets} {be} {size}. "
    "Looking at <{t}s>, {actions}.",
    'Video: {summary} Target: {rationale} So the query "{query}" means {targets}. {span} Keyframe: <{t}s>, '
    "where {targets} {be} {size}. Action and location: {actions}.",
)

# The target, its keyframe and where it is, in one sentence: traces of a few dozen tokens, for tiny-model
# smoke runs whose completions must stay short on a CPU.
BRIEF_TEMPLATES = (
    "Target: {targets}, {where} at <{t}s>.",
    "At <{t}s> {targets} {be} {where}.",
    "{Targets} {be} clearest at <{t}s>, {where}.",
)
TRACE_STYLES = {"full": OFFLINE_TEMPLATES, "brief": BRIEF_TEMPLATES}


def sentence(text: str) -> str:
    """``text`` stripped, capitalised and ending with a full stop."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def noun(description: str) -> str:
    """A description without its leading article, so that it reads after "the"."""
    words = description.strip().rstrip(".").split(" ", 1)
    return words[1] if len(words) == 2 and words[0].lower() in {"the", "a", "an"} else description.strip()


def enumerate_phrases(phrases: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]


def location(box: list[float], canvas: tuple[int, int]) -> str:
    """Where a box's centre lies in the frame, in thirds: "in the top left", "in the centre", ...

    >>> location([0, 0, 10, 10], (90, 90)), location([40, 40, 50, 50], (90, 90))
    ('in the top left', 'in the centre')
    """
    width, height = canvas
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    column = ("left", "centre", "right")[min(2, int(3 * cx / width))]
    row = ("top", "middle", "bottom")[min(2, int(3 * cy / height))]
    if row == "middle":
        return "in the centre" if column == "centre" else f"on the {column}"
    return f"at the {row}" if column == "centre" else f"in the {row} {column}"


def union_box(boxes: list[list[float]]) -> list[float]:
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


class OfflineTeacher:
    """Writes traces from ``scene_facts.json``; see the module docstring for its schema."""

    def __init__(self, facts_path: str | Path, fps: float = 1.0, style: str = "full") -> None:
        if style not in TRACE_STYLES:
            raise ValueError(f"offline trace style: {style!r} is not one of {sorted(TRACE_STYLES)}")
        self.path = Path(facts_path)
        self.fps = fps
        self.templates = TRACE_STYLES[style]
        self.name = "offline" if style == "full" else f"offline-{style}"  # recorded with every trace
        self.facts = read_json(self.path)
        if not isinstance(self.facts, dict):
            raise DataError.at(self.path, "(file)", "expected an object keyed by video name")

    def __repr__(self) -> str:
        return f"OfflineTeacher({str(self.path)!r})"

    def write_trace(self, request: TraceRequest) -> str:
        sample = request.sample
        video = require(self.facts, sample.video, dict, self.path, "(file)")
        objects = [self._object(video, sample.video, obj_id) for obj_id in request.obj_ids]
        expression = require(
            require(video, "expressions", dict, self.path, sample.video),
            sample.exp_id,
            dict,
            self.path,
            f"{sample.video}.expressions",
        )
        where = f"{sample.video}.expressions.{sample.exp_id}"
        plural = len(objects) > 1
        fields = {
            "summary": sentence(require(video, "summary", str, self.path, sample.video)),
            "query": sample.query.strip(),
            "rationale": sentence(require(expression, "rationale", str, self.path, where)),
            "targets": enumerate_phrases([f"the {noun(o['description'])}" for o in objects]),
            "span": self._span(objects),
            "t": request.keyframe_ts,
            "be": "are" if plural else "is",
            "them": "them" if plural else "it",
            "size": self._size(request, plural),
            "actions": self._actions(request, objects),
        }
        fields["Targets"] = sentence(fields["targets"])[:-1]
        keyframe_canvas = sample.images[request.keyframe_pos].size
        fields["where"] = location(union_box(request.keyframe_boxes), keyframe_canvas)
        return self.templates[request.template_id % len(self.templates)].format(**fields)

    def _object(self, video: dict, video_name: str, obj_id: str) -> dict[str, Any]:
        objects = require(video, "objects", dict, self.path, video_name)
        facts = require(objects, obj_id, dict, self.path, f"{video_name}.objects")
        where = f"{video_name}.objects.{obj_id}"
        for name, kind in OBJECT_FIELDS.items():
            require(facts, name, kind, self.path, where)
        for name in OBJECT_FRAMES:
            require(facts, name, int, self.path, where)
        return facts

    def _span(self, objects: list[dict]) -> str:
        spans = [
            f"the {noun(o['description'])} is in view from {round(o['first_frame'] / self.fps)}s "
            f"to {round(o['last_frame'] / self.fps)}s"
            for o in objects
        ]
        return sentence(enumerate_phrases(spans))

    @staticmethod
    def _size(request: TraceRequest, plural: bool) -> str:
        areas = request.sample.areas  # original pixels: only their ratios are meaningful
        their = "their" if plural else "its"
        peak = round(100 * areas[request.keyframe_pos] / max(areas))
        if peak >= 100:
            return f"at {their} largest among the sampled frames"
        return f"close to {their} largest size ({peak}% of the peak)"

    def _actions(self, request: TraceRequest, objects: list[dict]) -> str:
        canvas = request.sample.images[request.keyframe_pos].size
        boxes = request.keyframe_boxes
        frame = request.sample.frame_indices[request.keyframe_pos]
        present = [o for o in objects if o["first_frame"] <= frame <= o["last_frame"]]
        if len(present) == len(boxes):  # one box per present object, in the expression's object order
            return "; ".join(
                f"the {noun(o['description'])} {o['motion'].strip().rstrip('.')} {location(box, canvas)}"
                for o, box in zip(present, boxes, strict=True)
            )
        # the facts' visibility spans disagree with the masks: place the group, not each object
        motions = [f"the {noun(o['description'])} {o['motion'].strip().rstrip('.')}" for o in objects]
        return f"{enumerate_phrases(motions)}, {location(union_box(boxes), canvas)} of the frame"
