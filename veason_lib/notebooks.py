"""The stage notebooks: their parameters cells and their headless execution with papermill.

A notebook's ``parameters`` cell is a generated view of its stage config (``veason_lib.config``) resolved
on the smoke profile, one ``name: type = value  # help`` line per field, so ``papermill --help-notebook``
lists every knob and a notebook opened in JupyterLab runs the smoke profile as it is. The values live in
the config dataclasses and ``params/*.yaml``; ``python -m veason_lib.notebooks sync`` rewrites the cells and
``... check`` (run by the tests) fails when they drift.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import nbformat

from veason_lib.config import PROJECT_ROOT, CommonConfig, load_profile

REPO = PROJECT_ROOT
NOTEBOOK_DIR = REPO / "notebooks"
SMOKE_PARAMS = REPO / "params" / "smoke.yaml"

NOTEBOOKS: dict[str, str] = {
    "cot": "01_cot_generation.ipynb",
    "sft": "02_sft.ipynb",
    "grpo": "03_grpo.ipynb",
    "eval": "04_evaluation.ipynb",
    "curves": "05_training_curves.ipynb",
    "failures": "06_failure_analysis.ipynb",
}


def _annotation(field: dataclasses.Field) -> str:
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    return "str" if kind.startswith("Literal") else kind


def _literal(value: object) -> str:
    """A Python literal in the formatter's style (double quotes), so ``ruff format`` leaves it alone."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def parameters_source(cfg: CommonConfig) -> str:
    """The text of a parameters cell: one typed literal per config field, with its help."""
    lines = []
    for field in dataclasses.fields(cfg):
        help_text = field.metadata.get("help", "")
        lines.append(
            f"{field.name}: {_annotation(field)} = {_literal(getattr(cfg, field.name))}  # {help_text}"
        )
    return "\n".join(lines)


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook's cell tagged ``parameters`` (exactly one must exist)."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"expected exactly one cell tagged 'parameters', found {len(cells)}")
    return cells[0]


def sync(check: bool = False, params_file: Path = SMOKE_PARAMS) -> list[str]:
    """Rewrite (or with ``check``, only compare) every notebook's parameters cell; return the stale ones."""
    stale = []
    for stage, name in NOTEBOOKS.items():
        path = NOTEBOOK_DIR / name
        nb = nbformat.read(path, as_version=4)
        cell = parameters_cell(nb)
        expected = parameters_source(load_profile(params_file, stage))
        if cell.source != expected:
            stale.append(name)
            if not check:
                cell.source = expected
                nbformat.write(nb, path)
    return stale


def execute(stage: str, cfg: CommonConfig, progress: bool = True) -> Path:
    """Run one stage's notebook headlessly into its stage folder, beside its resolved config."""
    import papermill

    out_dir = cfg.stage_dir(stage)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(out_dir / "config.json")
    output = out_dir / NOTEBOOKS[stage]
    papermill.execute_notebook(
        str(NOTEBOOK_DIR / NOTEBOOKS[stage]),
        str(output),
        parameters=cfg.to_dict(),
        cwd=str(REPO),
        progress_bar=progress,
        kernel_name="python3",
    )
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["sync", "check"])
    args = parser.parse_args(argv)
    stale = sync(check=args.action == "check")
    verb = "stale" if args.action == "check" else "rewritten"
    for name in stale:
        print(f"{verb}: notebooks/{name}")
    return 1 if stale and args.action == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
