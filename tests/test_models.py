"""The tiny random Qwen2.5-VL (built, saved, reloaded like a real checkpoint) and the real configs."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from veason_lib.models import (
    REASONING_TAGS,
    SPECIAL_TOKENS,
    TINY_DIR_NAME,
    TINY_MODEL,
    is_tiny,
    load_model,
    qwen25vl_config,
)

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cache = tmp_path_factory.mktemp("models")
    model, processor = load_model(TINY_MODEL, cache_dir=cache, device="cpu")
    return cache, model, processor


def test_tiny_model_is_saved_and_reloaded_from_disk(tiny):
    cache, model, _ = tiny
    assert (cache / TINY_DIR_NAME / "config.json").is_file()
    assert model.config._name_or_path == str(cache / TINY_DIR_NAME)  # TRL reloads the reference from here
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    assert is_tiny(cache / TINY_DIR_NAME) and not is_tiny("Qwen/Qwen2.5-VL-3B-Instruct")


def test_tiny_model_is_built_once(tiny):
    cache, _, _ = tiny
    stamp = (cache / TINY_DIR_NAME / "model.safetensors").stat().st_mtime_ns
    load_model(TINY_MODEL, cache_dir=cache, device="cpu")
    assert (cache / TINY_DIR_NAME / "model.safetensors").stat().st_mtime_ns == stamp


def test_special_tokens_are_special_and_tags_are_ordinary(tiny):
    _, model, processor = tiny
    tokenizer = processor.tokenizer
    for token in SPECIAL_TOKENS:
        assert tokenizer.convert_tokens_to_ids(token) != tokenizer.unk_token_id
    text = "<think>red at 4s</think><answer>{}</answer>"
    ids = tokenizer(text)["input_ids"]
    assert all(tokenizer.convert_tokens_to_ids(tag) in ids for tag in REASONING_TAGS)  # one token each
    assert tokenizer.decode(ids, skip_special_tokens=True) == text  # TRL decodes like this for rewards
    assert model.config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert len(tokenizer) <= model.config.text_config.vocab_size


def test_multi_image_prompt_runs_through_generate(tiny):
    _, model, processor = tiny
    content = [{"type": "text", "text": "<0s>"}, {"type": "image"}, {"type": "text", "text": "<4s>"}]
    content += [{"type": "image"}, {"type": "text", "text": "Find the red square."}]
    text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
    assert text.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert text.endswith("<|im_start|>assistant\n")
    frames = [Image.new("RGB", (112, 112), (40 * i, 0, 0)) for i in range(2)]
    inputs = processor(text=[text], images=frames, return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 8, 8], [1, 8, 8]]  # 112 px / 14 = 8 patches a side
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)  # (1, prompt + new)
    assert out.shape[1] > inputs["input_ids"].shape[1]


@pytest.mark.parametrize(
    ("size", "hidden", "layers", "kv_heads", "tied"), [("3b", 2048, 36, 2, True), ("7b", 3584, 28, 4, False)]
)
def test_real_architectures(size, hidden, layers, kv_heads, tied):
    config = qwen25vl_config(size)
    text = config.text_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_key_value_heads) == (hidden, layers, kv_heads)
    assert config.vision_config.out_hidden_size == hidden and config.vision_config.depth == 32
    head_dim = text.hidden_size // text.num_attention_heads
    assert sum(text.rope_parameters["mrope_section"]) == head_dim // 2
    assert config.tie_word_embeddings is tied
    assert json.loads(config.to_json_string())["model_type"] == "qwen2_5_vl"


def test_unknown_size_is_rejected():
    with pytest.raises(ValueError, match="3b"):
        qwen25vl_config("13b")
