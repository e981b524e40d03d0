"""Config validation: a typo or a wrong type in a params file fails at once, naming the file."""

from pathlib import Path

import pytest

from veason_lib.config import STAGES, ConfigError, GRPOConfig, load_profile, read_params_file, resolve_path

PARAMS = Path(__file__).resolve().parent.parent / "params"


@pytest.mark.parametrize("profile", sorted(p.relative_to(PARAMS) for p in PARAMS.rglob("*.yaml")))
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_profile_resolves_for_every_stage(profile: Path, stage: str) -> None:
    cfg = load_profile(PARAMS / profile, stage)
    assert cfg.frame_size % 28 == 0, "Qwen2.5-VL frames must be a multiple of 28 px"
    assert cfg.num_frames >= 2


def test_unknown_parameter_names_file_and_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("grpo:\n  num_generation: 4\n")
    with pytest.raises(ConfigError, match=r"bad.yaml \[grpo\].*num_generation"):
        load_profile(path, "grpo")


def test_wrong_type_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("common:\n  num_frames: '8'\n")
    with pytest.raises(ConfigError, match="num_frames: expected int"):
        load_profile(path, "sft")


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("grpoo:\n  beta: 0.1\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_profile(path, "grpo")


def test_int_is_accepted_for_float_and_stage_overrides_common(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("common:\n  frame_size: 112\ngrpo:\n  beta: 0\n  frame_size: 224\n")
    cfg = load_profile(path, "grpo")
    assert isinstance(cfg, GRPOConfig) and cfg.beta == 0.0 and isinstance(cfg.beta, float)
    assert cfg.frame_size == 224


def test_inherit_merges_sections(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("common:\n  num_frames: 8\n  seed: 3\ngrpo:\n  beta: 0.005\n")
    (tmp_path / "child.yaml").write_text("inherit: base.yaml\ncommon:\n  seed: 4\n")
    data = read_params_file(tmp_path / "child.yaml")
    assert data["common"] == {"num_frames": 8, "seed": 4}
    assert data["grpo"] == {"beta": 0.005}


def test_missing_params_file() -> None:
    with pytest.raises(ConfigError, match="params file not found"):
        read_params_file("does/not/exist.yaml")


def test_relative_paths_resolve_against_the_project() -> None:
    assert resolve_path("outputs") == PARAMS.parent / "outputs"
    cfg = load_profile(PARAMS / "smoke.yaml", "sft")
    assert cfg.stage_dir("sft") == PARAMS.parent / "outputs" / cfg.run / "02_sft"


def test_paper_profiles_carry_the_paper_settings() -> None:
    cfg = load_profile(PARAMS / "paper_3b.yaml", "grpo")
    assert (cfg.num_generations, cfg.prompts_per_step, cfg.learning_rate, cfg.beta) == (8, 16, 1e-6, 0.005)
    assert (cfg.max_completion_length, cfg.frame_size, cfg.loss_type) == (1024, 560, "grpo")
    sft = load_profile(PARAMS / "paper_7b.yaml", "sft")
    assert (sft.lora_rank, sft.learning_rate, sft.grad_accum) == (8, 1e-4, 8)
    assert "7B" in sft.model


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_help_texts_parse_as_papermill_parameters(stage: str) -> None:
    """papermill skips a parameters line with a second '=' (it would vanish from --help-notebook)."""
    for name, text in STAGES[stage].field_help().items():
        assert text and "=" not in text, f"{stage}.{name}: help must be non-empty and free of '='"
