"""Which expressions become CoT items, and which sampled frame is each item's pseudo keyframe.

METHOD.md section 5: a seeded sample stratified by expression kind (referring / reasoning) and target
count (single / multi object), proportional to the strata's sizes, without the type-2 (no target)
expressions; the pseudo keyframe is a random pick among the top-k sampled frames by GT union area, so that
the SFT model does not learn a fixed keyframe position.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from veason_lib.data import Benchmark, Expression

NO_TARGET_TYPE = 2
KIND_NAMES = {0: "referring", 1: "reasoning", None: "untyped"}


def stratum(expr: Expression) -> str:
    """``"<kind>/<single|multi>"``, e.g. ``"reasoning/multi"``."""
    kind = KIND_NAMES.get(expr.type_id, f"type{expr.type_id}")
    return f"{kind}/{'single' if len(expr.obj_ids) == 1 else 'multi'}"


def proportional_quotas(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Split ``n`` over strata in proportion to their sizes (largest remainder, ties by name).

    >>> proportional_quotas({"a": 50, "b": 30, "c": 20}, 7)
    {'a': 4, 'b': 2, 'c': 1}
    """
    total = sum(sizes.values())
    exact = {name: n * size / total for name, size in sizes.items()}
    quotas = {name: int(np.floor(value)) for name, value in exact.items()}
    leftover = n - sum(quotas.values())
    by_remainder = sorted(exact, key=lambda name: (-(exact[name] - quotas[name]), name))
    for name in by_remainder[:leftover]:
        quotas[name] += 1
    return quotas


def stratified_sample(benchmark: Benchmark, n: int, seed: int) -> list[Expression]:
    """``n`` expressions of ``benchmark`` (all eligible ones if fewer), in the benchmark's order.

    Type-2 expressions (no target) are never chosen: there is nothing to reason about or to box.
    """
    if n <= 0:
        raise ValueError(f"num_samples: expected a positive count, got {n}")
    eligible = [e for e in benchmark.expressions if e.type_id != NO_TARGET_TYPE and e.obj_ids]
    if n >= len(eligible):
        return eligible
    groups: dict[str, list[int]] = {}
    for position, expr in enumerate(eligible):
        groups.setdefault(stratum(expr), []).append(position)
    quotas = proportional_quotas({name: len(members) for name, members in groups.items()}, n)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for name in sorted(groups):
        chosen.extend(rng.choice(groups[name], size=quotas[name], replace=False).tolist())
    return [eligible[position] for position in sorted(chosen)]


def item_rng(seed: int, key: str) -> np.random.Generator:
    """A generator fixed by (seed, item key): reruns and other item orders give the same draws."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def pseudo_keyframe(areas: Sequence[float], top_k: int = 5, rng: np.random.Generator | None = None) -> int:
    """Index into the sampled frames: a random pick among the ``top_k`` largest GT union areas.

    Frames where the target is absent are never picked; ``ValueError`` if it is absent from all.

    >>> pseudo_keyframe([0.0, 5.0, 2.0], top_k=1)
    1
    """
    if top_k < 1:
        raise ValueError(f"pseudo_keyframe_top_k: expected at least 1, got {top_k}")
    values = np.asarray(areas, dtype=np.float64)  # (T,)
    order = np.argsort(-values, kind="stable")  # (T,) largest area first, ties by time
    candidates = [int(i) for i in order[:top_k] if values[i] > 0]
    if not candidates:
        raise ValueError("the target is absent from every sampled frame: no pseudo keyframe")
    rng = rng if rng is not None else np.random.default_rng()
    return candidates[int(rng.integers(len(candidates)))]
