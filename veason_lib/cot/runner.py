"""Trace generation over many items: bounded concurrency, resumable output, failures kept apart.

One line per finished item goes to the traces JSONL as soon as it is done; a rerun skips the keys already
there, so a crash (or Ctrl-C) loses nothing that was reported done and duplicates nothing. An item that
fails (teacher error, invalid trace, no target in the sampled frames) is recorded with its reason in the
failures JSONL and counted; it is retried by the next run. Only this thread writes files.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from veason_lib.cot.teachers import Teacher, TeacherError, TraceRequest, redact, validate_trace
from veason_lib.data.errors import DataError
from veason_lib.jsonl import append_line, read_jsonl

ITEM_FAILURES = (TeacherError, DataError, ValueError, OSError)  # what one item's teacher or data can raise


@dataclass(frozen=True)
class CoTItem:
    """One item to trace. ``load`` runs in a worker, so frames are decoded only for items not done yet."""

    key: str
    load: Callable[[], TraceRequest]


def failures_path(out_jsonl: Path) -> Path:
    """``traces.jsonl`` -> ``traces.failures.jsonl``."""
    return out_jsonl.with_name(f"{out_jsonl.stem}.failures{out_jsonl.suffix}")


def done_keys(out_jsonl: Path) -> set[str]:
    """Keys already traced; repairs a truncated last line so that appends stay line-aligned."""
    keys = set()
    for number, record in enumerate(read_jsonl(out_jsonl, repair=True), 1):
        if not isinstance(record.get("key"), str):
            raise DataError.at(out_jsonl, f"record {number}.key", "missing or not a string")
        keys.add(record["key"])
    return keys


def trace_item(item: CoTItem, teacher: Teacher) -> dict[str, Any]:
    """The traces-file record of one item, or an exception saying why there is none."""
    request = item.load()
    trace = teacher.write_trace(request).strip()
    if redact(trace) != trace:
        raise TeacherError("the trace contains the API key")
    reason = validate_trace(trace, request.sample.query)
    if reason is not None:
        raise TeacherError(f"invalid trace: {reason}")
    return request.record(trace, teacher.name)


def failure_reason(error: Exception) -> str:
    return redact(f"{type(error).__name__}: {error}")


def generate_traces(
    items: Iterable[CoTItem],
    teacher: Teacher,
    out_jsonl: str | Path,
    concurrency: int = 1,
    failures_jsonl: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Trace every item not yet in ``out_jsonl``; returns items, skipped, written, failed, failure_kinds."""
    out_jsonl = Path(out_jsonl)
    failures_jsonl = Path(failures_jsonl) if failures_jsonl else failures_path(out_jsonl)
    out_jsonl.parent.mkdir(parents=True, exist_ok=True)
    items = list(items)
    if len({item.key for item in items}) != len(items):
        raise ValueError("items: keys must be unique (a duplicate key would be traced twice)")
    done = done_keys(out_jsonl)
    todo = [item for item in items if item.key not in done]
    summary: dict[str, Any] = {
        "items": len(items),
        "skipped": len(items) - len(todo),
        "written": 0,
        "failed": 0,
    }
    reasons: Counter[str] = Counter()
    start = time.perf_counter()
    with (
        out_jsonl.open("a", encoding="utf-8") as out,
        failures_jsonl.open("a", encoding="utf-8") as failures,
        ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool,
        tqdm(total=len(todo), desc=f"traces ({teacher.name})", disable=not progress) as bar,
    ):
        futures: dict[Future, str] = {pool.submit(trace_item, item, teacher): item.key for item in todo}
        try:
            for future in as_completed(futures):
                bar.update(1)
                try:
                    record = future.result()
                # one bad item must not end a run of thousands: it is recorded, counted and redone next run;
                # anything else (a bug) stops the run
                except ITEM_FAILURES as error:
                    reason = failure_reason(error)
                    append_line(failures, {"key": futures[future], "reason": reason, "teacher": teacher.name})
                    reasons[reason.split(" (")[0][:100]] += 1
                    summary["failed"] += 1
                    continue
                append_line(out, _redacted(record))
                summary["written"] += 1
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: drop queued items, keep what is written
    summary["failure_kinds"] = dict(reasons)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    return summary


def _redacted(record: dict[str, Any]) -> dict[str, Any]:
    """Belt and braces: no string field of a written record may carry the API key."""
    return {k: redact(v) if isinstance(v, str) else v for k, v in record.items()}
