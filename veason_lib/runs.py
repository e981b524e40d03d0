"""Run bookkeeping shared by the stage notebooks: the stage folder, its config.json and metrics.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from veason_lib.config import CommonConfig
from veason_lib.jsonl import read_records
from veason_lib.models import TINY_MODEL, TINY_NOTICE


def uses_tiny_models(cfg: CommonConfig) -> bool:
    return cfg.model == TINY_MODEL


def start_stage(cfg: CommonConfig, stage: str) -> Path:
    """Create the stage folder, save the resolved config beside it, and say what the run is."""
    out_dir = cfg.stage_dir(stage)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(out_dir / "config.json")
    print(f"run {cfg.run!r}, stage {stage!r} -> {out_dir}")
    if uses_tiny_models(cfg):
        print(TINY_NOTICE)
    return out_dir


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy / torch scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def finish_stage(cfg: CommonConfig, stage: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """Write the stage's key scalars to ``metrics.json`` (what tests and ablation tables read)."""
    record = {"run": cfg.run, "stage": stage, "tiny_models": uses_tiny_models(cfg), **_plain(metrics)}
    path = cfg.stage_dir(stage) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def read_metrics(cfg: CommonConfig, stage: str) -> dict[str, Any]:
    path = cfg.stage_dir(stage) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: stage {stage!r} of run {cfg.run!r} has not finished (no metrics.json)"
        )
    return json.loads(path.read_text())


def table(rows: Any) -> Any:
    """A list of dicts (or one dict) as a pandas DataFrame, for display in a notebook."""
    import pandas as pd

    return pd.DataFrame([rows] if isinstance(rows, dict) else list(rows))


def head_jsonl(path: str | Path, n: int, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """The first ``n`` records of a JSONL file, restricted to ``fields`` (a peek at a stage's hand-over)."""
    return [{name: record.get(name) for name in fields} for record in read_records(path, ())[:n]]
