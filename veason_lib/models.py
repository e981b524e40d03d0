"""Policy models: Qwen2.5-VL checkpoints, and a tiny random Qwen2.5-VL for CPU tests and smoke runs.

Real checkpoints and the tiny model take the same path (`from_pretrained` on a directory), so everything
downstream (SFT, GRPO, inference) runs the real code even on a laptop. The tiny model has random weights:
its results test plumbing and learning dynamics, never accuracy (:data:`TINY_NOTICE`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoProcessor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

log = logging.getLogger(__name__)

TINY_MODEL = "tiny-random"
TINY_DIR_NAME = "tiny-random-qwen2.5-vl"
TINY_NOTICE = (
    "NOTICE: tiny RANDOM Qwen2.5-VL in use: results test plumbing and learning dynamics, not accuracy."
)

# Qwen's control tokens, in Qwen's order; <|endoftext|> pads, <|im_end|> ends a turn.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Ordinary tokens: TRL decodes completions with skip_special_tokens=True, and rewards must see the tags.
REASONING_TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
TINY_VOCAB_SIZE = 1536
TINY_MIN_PIXELS = 56 * 56
TINY_MAX_PIXELS = 224 * 224

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORDS = (
    "the a an of in on at to and or is are was were it its this that which who what where when why how "
    "object objects target targets frame frames video videos timestamp timestamps second seconds first last "
    "left right top bottom middle center small large big tiny red green blue yellow orange purple white "
    "black "
    "gray circle square triangle star shape shapes moves moving moved leaves appears enters hidden behind "
    "fastest slowest both all each one two three best represented visible largest clearly because so then "
    "summary summarise video shows scene background foreground box boxes location action reasoning answer"
)


def _tokenizer_corpus() -> list[str]:
    """Text the tiny BPE is trained on: our prompt template when available, answers, digits, English."""
    corpus = [_WORDS, " ".join(str(i) for i in range(1000))]
    corpus += [
        f'<think>The target is clear at {t}s.</think><answer>{{"keyframe_timestamp": {t}, '
        f'"bbox_2d_list": [[{t}, {2 * t}, {3 * t + 10}, {4 * t + 20}]]}}</answer>'
        for t in range(0, 120, 3)
    ]
    try:
        from veason_lib import prompts
    except ImportError:  # the prompt module is optional here: it only enriches the corpus
        return corpus
    messages = prompts.build_messages("the small blue square on the left", [0, 4, 8, 12])
    for message in messages:
        items = message["content"] if isinstance(message["content"], list) else [message]
        corpus += [str(item.get("text", item.get("content", ""))) for item in items]
    return corpus


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE trained locally, Qwen's special tokens, reasoning tags as ordinary tokens."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    bpe.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in REASONING_TAGS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=32768,
    )
    tokenizer.padding_side = "left"  # generation pads on the left
    return tokenizer


def build_tiny_processor(max_pixels: int = TINY_MAX_PIXELS) -> Qwen2_5_VLProcessor:
    """The tiny tokenizer wrapped with Qwen's image/video processors (small frames unless ``max_pixels``)."""
    size = {"shortest_edge": TINY_MIN_PIXELS, "longest_edge": max_pixels}
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=size),
        tokenizer=build_tiny_tokenizer(),
        video_processor=Qwen2VLVideoProcessor(size=size),
        chat_template=CHAT_TEMPLATE,
    )


def special_token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    return {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}


def match_vision_tokens(config: Qwen2_5_VLConfig, tokenizer: PreTrainedTokenizerFast) -> Qwen2_5_VLConfig:
    """Point a config's image/video/vision-boundary ids at ``tokenizer``'s (e.g. a real architecture
    driven by the tiny tokenizer in random-weight benchmarks)."""
    ids = special_token_ids(tokenizer)
    config.image_token_id = ids["<|image_pad|>"]
    config.video_token_id = ids["<|video_pad|>"]
    config.vision_start_token_id = ids["<|vision_start|>"]
    config.vision_end_token_id = ids["<|vision_end|>"]
    return config


def tiny_config(tokenizer: PreTrainedTokenizerFast, hidden: int = 64) -> Qwen2_5_VLConfig:
    """A 2-layer Qwen2.5-VL whose token ids match ``tokenizer`` (head_dim 16, mrope 2+3+3 = 8)."""
    ids = special_token_ids(tokenizer)
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": 2 * hidden,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": hidden,
        "fullatt_block_indexes": [1],
        "window_size": 56,
    }
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False)
    return match_vision_tokens(config, tokenizer)


def ensure_tiny_model(cache_dir: str | Path, seed: int = 0) -> Path:
    """Build and save the tiny random model + processor under ``cache_dir`` once; return its directory."""
    out = Path(cache_dir) / TINY_DIR_NAME
    if (out / "config.json").is_file() and (out / "processor_config.json").is_file():
        return out
    torch.manual_seed(seed)
    processor = build_tiny_processor()
    model = Qwen2_5_VLForConditionalGeneration(tiny_config(processor.tokenizer))
    eos = [processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def qwen25vl_config(size: Literal["3b", "7b"]) -> Qwen2_5_VLConfig:
    """The published Qwen2.5-VL-3B/7B-Instruct architectures, for random-weight GPU benchmarks."""
    text = {
        "3b": {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
               "num_attention_heads": 16, "num_key_value_heads": 2, "vocab_size": 151936},
        "7b": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
               "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064},
    }  # fmt: skip
    if size not in text:
        raise ValueError(f"qwen25vl_config: size must be '3b' or '7b', got {size!r}")
    text_config = {
        **text[size],
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
        "bos_token_id": 151643,
        "eos_token_id": 151645,
    }
    vision = {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": text[size]["hidden_size"],
        "fullatt_block_indexes": [7, 15, 23, 31],
        "window_size": 112,
        "tokens_per_second": 2,
    }
    return Qwen2_5_VLConfig(text_config=text_config, vision_config=vision, tie_word_embeddings=size == "3b")


def resolve_model_path(name_or_path: str, cache_dir: str | Path, seed: int = 0) -> str:
    """A hub id or local path unchanged; ``tiny-random`` becomes its saved directory (built if missing)."""
    if name_or_path != TINY_MODEL:
        return name_or_path
    log.warning(TINY_NOTICE)
    return str(ensure_tiny_model(cache_dir, seed))


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when present."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_model(
    name_or_path: str,
    *,
    cache_dir: str | Path,
    dtype: str | torch.dtype = "auto",
    device: str = "auto",
    seed: int = 0,
) -> tuple[Qwen2_5_VLForConditionalGeneration, Any]:
    """Load (model, processor) from a hub id, a local directory, or ``tiny-random``."""
    path = resolve_model_path(name_or_path, cache_dir, seed)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=dtype, cache_dir=cache_dir)
    processor = AutoProcessor.from_pretrained(path, cache_dir=cache_dir)
    return model.to(resolve_device(device)), processor


def is_tiny(model_path: str | Path) -> bool:
    """Whether a model directory is the tiny random model (so outputs can carry :data:`TINY_NOTICE`)."""
    return str(model_path) == TINY_MODEL or Path(model_path).name == TINY_DIR_NAME
