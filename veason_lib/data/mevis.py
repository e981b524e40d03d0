"""MeViS reader: the ReVOS layout without ``type_id`` or a foreground file (DATA.md).

The release keeps one folder per split (``valid_u/``, ``valid/``) with unsuffixed names, so ``root`` is
that folder: ``<root>/JPEGImages/``, ``<root>/meta_expressions.json``, ``<root>/mask_dict.json`` (absent
for ``valid``, which the benchmark's server scores). Height and width come from the first frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from veason_lib.data.errors import DataError
from veason_lib.data.revos import RevosBenchmark


class MevisBenchmark(RevosBenchmark):
    """A MeViS split folder; ``split`` only names it (the folder is the split)."""

    has_type_id = False

    def __init__(self, root: str | Path, split: str, name: str = "mevis") -> None:
        super().__init__(root, split, name)

    @staticmethod
    def meta_file(root: Path, split: str) -> Path:
        path = root / "meta_expressions.json"
        if not path.is_file():
            raise DataError.at(
                path, f"split {split!r}", "not found (the root is the split folder, e.g. valid_u/)"
            )
        return path

    def foreground(self, video: str, indices: Sequence[int] | None = None) -> np.ndarray | None:
        return None
