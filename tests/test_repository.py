"""Repository hygiene: every module imports, notebooks are clean views over the library."""

import importlib
import pkgutil
from pathlib import Path

import nbformat
import pytest

import veason_lib
from veason_lib.notebooks import NOTEBOOK_DIR, NOTEBOOKS, parameters_cell, sync

MODULES = sorted(m.name for m in pkgutil.walk_packages(veason_lib.__path__, "veason_lib."))
NOTEBOOK_PATHS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module: str) -> None:
    importlib.import_module(module)


def test_every_stage_has_its_notebook() -> None:
    assert sorted(p.name for p in NOTEBOOK_PATHS) == sorted(NOTEBOOKS.values())


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.name)
def test_notebook_shape(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert code[0] is parameters_cell(nb), "the first code cell must be the parameters cell"
    for cell in code[1:]:
        lines = cell.source.splitlines()
        assert not any(line.lstrip().startswith(("def ", "class ")) for line in lines), (
            "no logic in notebooks"
        )
        assert len(lines) <= 12, f"{path.name}: keep cells short, move logic into veason_lib:\n{cell.source}"


def test_parameters_cells_match_the_configs() -> None:
    assert sync(check=True) == [], "run `python -m veason_lib.notebooks sync`"
