"""The question template shared by SFT, GRPO and evaluation (METHOD.md section 2).

The frames go to Qwen2.5-VL as several images in ONE user turn, each preceded by a text item holding its
timestamp ``<{t}s>``; the instruction follows the last frame. Image items carry no pixels: TRL (and our
inference code) fill them, in order, from the dataset's ``images`` column.

Conversation formats (checked against TRL 1.16, ``trl.data_utils.prepare_multimodal_messages``):

- GRPO (``GRPOTrainer``): a conversational ``prompt`` column (:func:`build_messages`) plus an ``images``
  column with as many images as there are ``{"type": "image"}`` placeholders.
- SFT (``SFTTrainer``, language-modeling type): a ``messages`` column holding the user turn followed by
  the assistant turn (:func:`sft_messages`) plus the same ``images`` column. TRL's vision collator fills
  the placeholders (their count must equal the number of images) and applies the processor's chat
  template; the loss covers the whole conversation unless ``assistant_only_loss`` is set. Assistant
  content is a list of text blocks, like the user's, so that both turns have one Arrow schema.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

ANSWER_SCHEMA = '{"keyframe_timestamp": t, "bbox_2d_list": [[x1, y1, x2, y2], ...]}'

QUESTION_TEMPLATE = (
    "The {num_frames} images above are frames sampled from a video, in time order; each frame is preceded by "
    "its timestamp in seconds, like <{first}s>.\n"
    "Query: {query}\n"
    "First identify the timestamp of the frame in which the target of the query is best represented. "
    "Then locate every target object in that frame with a bounding box [x1, y1, x2, y2] in pixel "
    "coordinates of the frame.\n"
    "Write your reasoning between <think> and </think>, then the answer between <answer> and </answer> "
    "as JSON with this schema:\n"
    "<answer>{schema}</answer>\n"
    "where t is one of the timestamps shown (an integer, without the 's') and bbox_2d_list holds one box "
    "per target object (an empty list if no target is visible)."
)

# The "grounding-only" ablation (paper Table 6) fixes the keyframe: the prompt names it instead of asking.
FIXED_KEYFRAME_SENTENCE = (
    "First identify the timestamp of the frame in which the target of the query is best represented. "
)
GIVEN_KEYFRAME_SENTENCE = "The keyframe is <{keyframe}s>: answer it as keyframe_timestamp. "

TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def question_text(query: str, timestamps: Sequence[int], keyframe: int | None = None) -> str:
    """The instruction that follows the frames (``keyframe``: the grounding-only variant names it)."""
    text = QUESTION_TEMPLATE.format(
        num_frames=len(timestamps), first=timestamps[0], query=query.strip(), schema=ANSWER_SCHEMA
    )
    if keyframe is None:
        return text
    if keyframe not in timestamps:
        raise ValueError(f"keyframe: <{keyframe}s> is not one of the shown timestamps {list(timestamps)}")
    return text.replace(FIXED_KEYFRAME_SENTENCE, GIVEN_KEYFRAME_SENTENCE.format(keyframe=int(keyframe)))


def build_messages(query: str, timestamps: Sequence[int], keyframe: int | None = None) -> list[dict]:
    """The prompt conversation: one user turn alternating ``<{t}s>`` text and image placeholders.

    ``keyframe`` gives the keyframe in the instruction (the grounding-only ablation); by default the
    model chooses it.

    >>> content = build_messages("the red car", [0, 3])[0]["content"]
    >>> [item["type"] for item in content]
    ['text', 'image', 'text', 'image', 'text']
    >>> content[2]["text"]
    '<3s>'
    """
    if not timestamps:
        raise ValueError("timestamps: at least one frame is needed to build a prompt")
    content: list[dict] = []
    for t in timestamps:
        content.append({"type": "text", "text": f"<{int(t)}s>"})
        content.append({"type": "image"})
    content.append({"type": "text", "text": question_text(query, timestamps, keyframe)})
    return [{"role": "user", "content": content}]


def format_answer(keyframe: int, boxes: Sequence[Sequence[float]]) -> str:
    """The ``<answer>`` JSON body; box coordinates are rounded to whole canvas pixels (short targets).

    >>> format_answer(3, [[10.4, 20.0, 50.6, 80.0]])
    '{"keyframe_timestamp": 3, "bbox_2d_list": [[10, 20, 51, 80]]}'
    """
    rounded = [[round(float(v)) for v in box] for box in boxes]
    if any(len(box) != 4 for box in rounded):
        raise ValueError(f"boxes: expected [x1, y1, x2, y2] per box, got {boxes!r}")
    return json.dumps({"keyframe_timestamp": int(keyframe), "bbox_2d_list": rounded})


def format_completion(think: str, keyframe: int, boxes: Sequence[Sequence[float]]) -> str:
    """A full target completion ``<think>...</think><answer>...</answer>`` (SFT targets).

    >>> print(format_completion("The car is largest at 3s.", 3, []))
    <think>The car is largest at 3s.</think>
    <answer>{"keyframe_timestamp": 3, "bbox_2d_list": []}</answer>
    """
    # A tag inside the trace would make the target unparseable: a data error, not something to train on.
    leaked = [tag for tag in TAGS if tag in think]
    if leaked:
        raise ValueError(f"think: the reasoning trace contains the tag(s) {leaked}")
    return f"<think>{think.strip()}</think>\n<answer>{format_answer(keyframe, boxes)}</answer>"


def sft_messages(prompt: list[dict], completion: str) -> list[dict]:
    """The SFT conversation for TRL's ``messages`` column: the prompt's user turn + the assistant turn."""
    if not prompt or prompt[-1].get("role") != "user":
        raise ValueError("prompt: expected a conversation ending with the user turn")
    return [*prompt, {"role": "assistant", "content": [{"type": "text", "text": completion}]}]
