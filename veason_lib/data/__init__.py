"""Dataset readers: ReVOS, MeViS, ReasonVOS and the built-in synthetic benchmark (ReVOS layout).

>>> bench = load_benchmark("revos", "data/ReVOS", "valid")          # doctest: +SKIP
>>> expr = bench.expressions[0]                                     # doctest: +SKIP
>>> bench.target_mask(expr, [0, 5]).shape                           # doctest: +SKIP
(2, 720, 1280)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from veason_lib.data.errors import DataError
from veason_lib.data.mevis import MevisBenchmark
from veason_lib.data.reasonvos import ReasonVosBenchmark
from veason_lib.data.records import Benchmark, Expression, Video
from veason_lib.data.revos import RevosBenchmark
from veason_lib.data.rle import decode_rle, encode_rle
from veason_lib.data.sampling import sample_frames, timestamp

READERS: dict[str, Callable[..., Benchmark]] = {
    "revos": RevosBenchmark,
    "synthetic": RevosBenchmark,  # the generator writes the ReVOS layout
    "mevis": MevisBenchmark,
    "reasonvos": ReasonVosBenchmark,
}


def load_benchmark(name: str, root: str | Path, split: str) -> Benchmark:
    """One split of a benchmark: ``revos`` | ``mevis`` | ``reasonvos`` | ``synthetic``."""
    if name not in READERS:
        raise ValueError(f"unknown benchmark {name!r}; known: {sorted(READERS)}")
    return READERS[name](Path(root), split, name=name)


__all__ = [
    "READERS",
    "Benchmark",
    "DataError",
    "Expression",
    "MevisBenchmark",
    "ReasonVosBenchmark",
    "RevosBenchmark",
    "Video",
    "decode_rle",
    "encode_rle",
    "load_benchmark",
    "sample_frames",
    "timestamp",
]
