"""The question template and the SFT/GRPO conversation formats."""

import doctest
import json

import pytest

import veason_lib.prompts
from veason_lib.answer import parse_answer
from veason_lib.prompts import (
    ANSWER_SCHEMA,
    build_messages,
    format_answer,
    format_completion,
    question_text,
    sft_messages,
)


def test_one_user_turn_alternating_timestamps_and_frames() -> None:
    messages = build_messages("the dog that jumps", [0, 4, 9])
    assert len(messages) == 1 and messages[0]["role"] == "user"
    content = messages[0]["content"]
    assert content[:6] == [
        {"type": "text", "text": "<0s>"},
        {"type": "image"},
        {"type": "text", "text": "<4s>"},
        {"type": "image"},
        {"type": "text", "text": "<9s>"},
        {"type": "image"},
    ]
    assert len(content) == 7 and content[6] == {
        "type": "text",
        "text": question_text("the dog that jumps", [0, 4, 9]),
    }


def test_instruction_states_the_task_and_shows_the_schema() -> None:
    text = question_text("  the dog that jumps ", [2, 5])
    assert text.startswith("The 2 images above are frames sampled from a video")
    assert "Query: the dog that jumps\n" in text
    for needle in (
        "timestamp",
        "best represented",
        "bounding box",
        "<think>",
        "</think>",
        "<answer>",
        "</answer>",
    ):
        assert needle in text
    assert f"<answer>{ANSWER_SCHEMA}</answer>" in text
    assert '"keyframe_timestamp"' in ANSWER_SCHEMA and '"bbox_2d_list"' in ANSWER_SCHEMA


def test_query_with_braces_is_inserted_verbatim() -> None:
    assert "Query: the {red} car\n" in question_text("the {red} car", [0])


def test_no_frames_is_an_error() -> None:
    with pytest.raises(ValueError, match="timestamps"):
        build_messages("q", [])


def test_format_answer_is_json_with_rounded_boxes() -> None:
    body = json.loads(format_answer(4, [[1.4, 2.6, 30, 40.5], [0, 0, 5, 5]]))
    assert body == {"keyframe_timestamp": 4, "bbox_2d_list": [[1, 3, 30, 40], [0, 0, 5, 5]]}
    with pytest.raises(ValueError, match="boxes"):
        format_answer(4, [[1, 2, 3]])


def test_format_completion_parses_back() -> None:
    completion = format_completion("The dog is largest at 4s.", 4, [[10, 20, 30, 40]])
    answer = parse_answer(completion, [0, 4, 9], canvas=56)
    assert (answer.think, answer.keyframe, answer.boxes, answer.reason) == (
        "The dog is largest at 4s.",
        4,
        [(10.0, 20.0, 30.0, 40.0)],
        None,
    )
    assert parse_answer(format_completion("", 0, []), [0], canvas=56).structure_ok  # 'SFT without CoT'


@pytest.mark.parametrize("tag", ["<think>", "</think>", "<answer>", "</answer>"])
def test_format_completion_rejects_tags_in_the_trace(tag: str) -> None:
    with pytest.raises(ValueError, match="think"):
        format_completion(f"see {tag} here", 0, [])


def test_sft_messages_are_trl_language_modeling_rows() -> None:
    from PIL import Image
    from trl.data_utils import prepare_multimodal_messages

    prompt = build_messages("q", [0, 1])
    messages = sft_messages(prompt, "<think>x</think><answer>{}</answer>")
    assert [m["role"] for m in messages] == ["user", "assistant"] and messages[0] is prompt[0]
    assert messages[1]["content"] == [{"type": "text", "text": "<think>x</think><answer>{}</answer>"}]
    filled = prepare_multimodal_messages(messages, images=[Image.new("RGB", (8, 8))] * 2)
    assert [item["type"] for item in filled[0]["content"]].count("image") == 2
    with pytest.raises(ValueError, match="user turn"):
        sft_messages(messages, "again")


def test_doctests() -> None:
    result = doctest.testmod(veason_lib.prompts)
    assert result.attempted > 0 and result.failed == 0


def test_grounding_only_prompt_gives_the_keyframe() -> None:
    from veason_lib.prompts import FIXED_KEYFRAME_SENTENCE, question_text

    chosen, given = question_text("the dog", [0, 4, 8]), question_text("the dog", [0, 4, 8], keyframe=4)
    assert FIXED_KEYFRAME_SENTENCE in chosen and FIXED_KEYFRAME_SENTENCE not in given
    assert "The keyframe is <4s>" in given and "<4s>" not in chosen
    with pytest.raises(ValueError, match="keyframe"):
        question_text("the dog", [0, 4, 8], keyframe=5)
