"""Crash-safe JSON Lines: durable appends, tolerant reads, atomic rewrites.

A line is appended in one write, flushed and fsynced before the next item is reported as done, so a crash
loses at most the line being written. Reading cuts off a truncated last line (that crash's trace) so the
next append starts on a fresh line; a broken line anywhere else is a :class:`DataError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from veason_lib.data.errors import DataError


def read_jsonl(path: Path, repair: bool = False, strict: bool = False) -> list[dict[str, Any]]:
    """The objects of a JSONL file ([] if missing); ``repair`` also fixes the file's end for appends;
    ``strict`` refuses a truncated last line too (files written whole, never appended to)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    records, offset = [], 0
    lines = data.split(b"\n")
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        try:
            if line.strip():
                records.append(_object(json.loads(line), path, number))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            if not last or strict:
                raise DataError.at(path, f"line {number}", f"not valid JSON ({error})") from error
            if repair:  # a crash mid-write: drop the partial line, its item is simply redone
                _truncate(path, offset)
            return records
        offset += len(line) + 1
    if repair and data and not data.endswith(b"\n"):  # a complete last object that lost its newline
        with path.open("ab") as handle:
            handle.write(b"\n")
    return records


def _object(value: Any, path: Path, number: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError.at(path, f"line {number}", f"expected a JSON object, got {type(value).__name__}")
    return value


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as handle:
        handle.truncate(size)
        os.fsync(handle.fileno())


def append_line(handle: IO[str], record: dict[str, Any]) -> None:
    """Append one record durably (one write, flush, fsync)."""
    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Replace ``path`` atomically with ``records``; returns how many were written."""
    temporary = path.with_name(path.name + ".tmp")
    count = 0
    with temporary.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return count


def read_records(path: str | Path, fields: Iterable[str]) -> list[dict[str, Any]]:
    """A stage's hand-over file: it must exist, and every record must carry ``fields``."""
    path = Path(path)
    if not path.is_file():
        raise DataError.at(path, "(file)", "not found (run the stage that writes it first)")
    records = read_jsonl(path, strict=True)
    for number, record in enumerate(records, 1):
        missing = [name for name in fields if name not in record]
        if missing:
            raise DataError.at(path, f"line {number}", f"{missing[0]}: missing field")
    return records
