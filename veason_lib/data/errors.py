"""The one error type of the readers, and the JSON field checks that raise it.

Every message reads ``<file>: <field>: what is wrong`` so that a broken dataset is fixed at the source
instead of debugged from a ``KeyError`` deep inside a training run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class DataError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the field."""

    @classmethod
    def at(cls, file: str | Path, field: str, problem: str) -> DataError:
        """Build the error in the standard ``<file>: <field>: problem`` form."""
        return cls(f"{file}: {field}: {problem}")


def read_json(path: Path) -> Any:
    """Parse one JSON file; a missing or unparsable file is a :class:`DataError`."""
    if not path.is_file():
        raise DataError.at(path, "(file)", "not found")
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError.at(path, "(file)", f"not valid JSON ({error})") from error


def require(mapping: Any, key: str, kind: type | tuple[type, ...], file: Path, where: str) -> Any:
    """``mapping[key]`` checked to be of ``kind``; ``where`` locates the mapping inside ``file``."""
    if not isinstance(mapping, dict):
        raise DataError.at(file, where, f"expected an object, got {type(mapping).__name__}")
    if key not in mapping:
        raise DataError.at(file, f"{where}.{key}", "missing")
    value = mapping[key]
    # bool is an int subclass: a true/false in an integer field is a data error, not 1/0
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise DataError.at(file, f"{where}.{key}", f"expected {_kind_name(kind)}, got {value!r:.80}")
    return value


def require_id(mapping: Any, key: str, file: Path, where: str) -> str:
    """An id that may be a string or an integer (the releases mix both), as a string."""
    return str(require(mapping, key, (str, int), file, where))


def require_id_list(mapping: Any, key: str, file: Path, where: str) -> tuple[str, ...]:
    """A list of string-or-integer ids (ReVOS/MeViS ``obj_id``, ``anno_id``), as strings."""
    values = require(mapping, key, list, file, where)
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise DataError.at(
                file, f"{where}.{key}[{i}]", f"expected a string or integer id, got {value!r:.80}"
            )
    return tuple(str(value) for value in values)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))
