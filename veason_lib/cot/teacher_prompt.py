"""The teacher's prompt: frames with the targets drawn, the query, the pseudo keyframe, three CoT steps.

Paper, appendix A: the teacher sees the sampled frames with their timestamps, every referred object drawn
as a box, the expression and the pre-selected keyframe, and writes (i) a summary of the video, (ii) why that
frame best shows the target, (iii) the target's action and location there. The teacher imitates its
exemplar closely, so three templates with different phrasing and flow are rotated (one per sample, chosen
by the caller) to keep the traces diverse. The boxes only help the teacher find the target: the trace must
read as if the student found it alone, so it must never mention them.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from veason_lib.samples import Sample

BOX_COLOR = (255, 0, 0)
BOX_WIDTH = 3
KEYFRAME_BOX_WIDTH = 5  # a heavier outline on the pseudo keyframe matches the frame named in the text
JPEG_QUALITY = 90


@dataclass(frozen=True)
class TeacherTemplate:
    """One phrasing of the CoT instruction, with its few-shot exemplar."""

    intro: str
    steps: tuple[str, str, str]  # (i) summary, (ii) keyframe justification, (iii) action and location
    exemplar: str


TEACHER_TEMPLATES: tuple[TeacherTemplate, ...] = (
    TeacherTemplate(
        intro="You are writing the reasoning that leads from a video and a query to the frame and the "
        "position of the referred object.",
        steps=(
            "Briefly summarise what happens in the whole video.",
            "Explain why the frame at {keyframe} is the one where the target of the query is best shown.",
            "Describe what the target is doing in that frame and where it is in the frame.",
        ),
        exemplar="The video shows a street where several cars drive past a bus stop while two people wait. "
        'The query asks for "the car that stops to pick someone up", so I need the car whose motion '
        "changes near the bus stop. At <6s> the grey hatchback has come to a halt beside the stop and is "
        "seen from the side without any occlusion, which makes it the clearest view of that car. In this "
        "frame it stands still in the lower centre, its rear door open toward the waiting people.",
    ),
    TeacherTemplate(
        intro="Think step by step, as if you were watching the video yourself for the first time.",
        steps=(
            "Start with an overview of the scene and the events across the frames.",
            "Argue which evidence makes {keyframe} the best frame for the query.",
            "Localise the target in that frame: its action and its position (left, right, top, bottom, "
            "centre), relative to other things in view.",
        ),
        exemplar="Looking across the frames, a dog runs around a garden, a child throws a ball and later "
        'a cat climbs onto the fence. "The animal that chases the ball" must be the dog, because the cat '
        "never moves toward the ball. Around <4s> the dog is closest to the camera and fully visible, "
        "mid-sprint, while in later frames it is partly hidden by a bush, so <4s> is the frame to use. "
        "There the dog is running to the right across the left half of the lawn, just below the child.",
    ),
    TeacherTemplate(
        intro="Write a concise chain of thought in three short parts: the video, the frame, the target.",
        steps=(
            "The video: what is shown and how it changes over time.",
            "The frame: what in {keyframe} makes the target easiest to recognise there.",
            "The target: its action in that frame and its location in the image.",
        ),
        exemplar="The video: a kitchen counter where a person chops vegetables, then reaches for a pan on "
        'the stove. The query, "the utensil used to cut", points to the knife, which is only in use '
        "during the first half. The frame: at <2s> the knife is raised above the board and seen edge on, "
        "large and unobstructed by the hand. The target: the knife is being lifted for the next cut, "
        "held in the upper right of the frame above the cutting board.",
    ),
)

RULES = (
    "Write one plain paragraph of 60 to 200 words. Never mention the red outlines, boxes or any other "
    "drawing on the frames: reason as if you found the target yourself. Do not write coordinates, tags "
    "or lists."
)


def render_teacher_images(sample: Sample, keyframe_pos: int) -> list[Image.Image]:
    """Copies of the sampled frames with every target object drawn as a red box (canvas pixels)."""
    if not 0 <= keyframe_pos < len(sample.images):
        raise ValueError(f"keyframe_pos: {keyframe_pos} is outside the {len(sample.images)} sampled frames")
    drawn = []
    for position, (image, boxes) in enumerate(zip(sample.images, sample.gt_boxes, strict=True)):
        frame = image.convert("RGB")  # a copy: the sample's images stay clean for the student
        pen = ImageDraw.Draw(frame)
        width = KEYFRAME_BOX_WIDTH if position == keyframe_pos else BOX_WIDTH
        for x1, y1, x2, y2 in boxes:
            pen.rectangle((x1, y1, x2, y2), outline=BOX_COLOR, width=width)
        drawn.append(frame)
    return drawn


def image_data_url(image: Image.Image) -> str:
    """A JPEG ``data:`` URL, the inline image form every OpenAI-compatible endpoint accepts."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def teacher_instruction(query: str, keyframe_ts: int, template_id: int) -> str:
    """The text after the frames: the task, the query, the keyframe, the three steps and the exemplar."""
    template = TEACHER_TEMPLATES[template_id]
    keyframe = f"<{int(keyframe_ts)}s>"
    steps = "\n".join(
        f"({n}) {step.format(keyframe=keyframe)}"
        for n, step in zip(("i", "ii", "iii"), template.steps, strict=True)
    )
    return (
        f"{template.intro}\n"
        "The frames above are sampled from a video in time order, each preceded by its timestamp; the "
        "referred object(s) are outlined in red to help you find them.\n"
        f'Query: "{query.strip()}"\n'
        f"Selected keyframe: {keyframe}\n"
        f"Write the reasoning in three steps:\n{steps}\n"
        f"{RULES}\n"
        f"Example of the expected style (a different video):\n{template.exemplar}"
    )


def teacher_messages(sample: Sample, keyframe_ts: int, template_id: int) -> list[dict]:
    """OpenAI chat messages: one user turn of ``<{t}s>`` texts and frame images, then the instruction."""
    if not 0 <= template_id < len(TEACHER_TEMPLATES):
        raise ValueError(f"template_id: expected 0..{len(TEACHER_TEMPLATES) - 1}, got {template_id}")
    if keyframe_ts not in sample.timestamps:
        raise ValueError(
            f"keyframe_ts: {keyframe_ts} is not one of the sampled timestamps {sample.timestamps}"
        )
    frames = render_teacher_images(sample, sample.timestamps.index(keyframe_ts))
    content: list[dict] = []
    for t, frame in zip(sample.timestamps, frames, strict=True):
        content.append({"type": "text", "text": f"<{int(t)}s>"})
        content.append({"type": "image_url", "image_url": {"url": image_data_url(frame)}})
    content.append({"type": "text", "text": teacher_instruction(sample.query, keyframe_ts, template_id)})
    return [{"role": "user", "content": content}]
