"""COCO run-length encoded masks: checked decoding, encoding, and lazily read per-frame RLE tables.

``pycocotools`` decodes a compressed RLE whose run lengths do not add up to ``H * W`` into whatever
memory follows (no error), so every RLE is checked against its declared size before it is decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from veason_lib.data.errors import DataError, read_json
from veason_lib.data.records import Video


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """One binary mask (H, W) -> COCO RLE ``{"size": [H, W], "counts": str}`` (JSON-ready)."""
    fortran = np.asfortranarray(np.asarray(mask, dtype=bool).astype(np.uint8))  # (H, W) uint8, column-major
    rle = mask_utils.encode(fortran)
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: Any, height: int, width: int, file: Path, field: str) -> np.ndarray:
    """An RLE, a list of RLEs, or ``None`` (object absent) -> one (H, W) bool mask.

    A list decodes to (H, W, k) in pycocotools; the parts are reduced to one mask by logical or.
    """
    if rle is None:
        return np.zeros((height, width), dtype=bool)  # (H, W)
    if not isinstance(rle, list):
        return _decode_one(rle, height, width, file, field)  # (H, W)
    mask = np.zeros((height, width), dtype=bool)  # (H, W); an empty list is an absent object
    for k, part in enumerate(rle):
        mask |= _decode_one(part, height, width, file, f"{field}[{k}]")  # (H, W)
    return mask


def _decode_one(rle: Any, height: int, width: int, file: Path, field: str) -> np.ndarray:
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise DataError.at(file, field, f"expected an RLE {{'size', 'counts'}} or null, got {rle!r:.80}")
    if rle["size"] != [height, width]:
        raise DataError.at(
            file, f"{field}.size", f"{rle['size']} disagrees with the video's [{height}, {width}]"
        )
    counts = rle["counts"]
    runs = _run_lengths(counts, file, field)  # (R,)
    if (runs.size and runs.min() < 0) or runs.sum() != height * width:
        raise DataError.at(file, f"{field}.counts", f"run lengths do not cover {height} x {width} pixels")
    if isinstance(counts, list):  # uncompressed RLE: pycocotools decodes only the compressed form
        rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    with warnings.catch_warnings():  # pycocotools' numpy-2 copy-keyword notice, once per frame otherwise
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="pycocotools")
        return mask_utils.decode(rle).astype(bool)  # (H, W)


def _run_lengths(counts: Any, file: Path, field: str) -> np.ndarray:
    """Run lengths of an uncompressed (list) or compressed (string) counts field -> (R,) int64."""
    if isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise DataError.at(file, f"{field}.counts", "uncompressed counts must be integers")
        return np.asarray(counts, dtype=np.int64)  # (R,)
    if isinstance(counts, str) and counts.isascii():
        return _compressed_runs(counts.encode("ascii"), file, field)
    if isinstance(counts, bytes):
        return _compressed_runs(counts, file, field)
    raise DataError.at(file, f"{field}.counts", f"expected an ASCII string or a list, got {counts!r:.80}")


def _compressed_runs(counts: bytes, file: Path, field: str) -> np.ndarray:
    """Run lengths of a COCO compressed counts string (the inverse of pycocotools' rleToString).

    Each run is a little-endian group of 6-bit characters (offset 48): 5 value bits, bit 0x20 = more
    characters follow, bit 0x10 of the last character = negative; from the fourth run on, the value is
    a difference to the run two places earlier.
    """
    chars = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48  # (C,)
    if chars.size == 0 or chars.min() < 0 or chars.max() > 63 or chars[-1] & 0x20:
        raise DataError.at(file, f"{field}.counts", "not a valid compressed RLE string")
    ends = (chars & 0x20) == 0  # (C,) last character of each run
    group = np.concatenate([[0], np.cumsum(ends)[:-1]])  # (C,) run number of each character
    starts = np.flatnonzero(np.concatenate([[True], ends[:-1]]))  # (R,)
    position = np.arange(chars.size) - starts[group]  # (C,) character position within its run
    values = np.zeros(starts.size, dtype=np.int64)  # (R,)
    np.add.at(values, group, (chars & 0x1F) << (5 * position))
    lengths = np.diff(np.append(starts, chars.size))  # (R,) characters per run
    if lengths.max() > 7:  # 35 bits: far beyond any frame, and keeps the shifts inside int64
        raise DataError.at(file, f"{field}.counts", "not a valid compressed RLE string")
    negative = (chars[ends] & 0x10) != 0  # (R,)
    values[negative] -= np.int64(1) << (5 * lengths[negative])
    runs = values.copy()  # (R,)
    runs[3::2] = np.cumsum(values[1::2])[1:]  # odd runs from the fourth: deltas to the run two earlier
    runs[4::2] = np.cumsum(values[2::2])[1:]  # even runs from the fifth
    return runs


class RleTable:
    """A JSON file of per-frame RLE lists keyed by id, parsed once on first use, decoded per frame.

    ``mask_dict.json`` maps anno_id -> [RLE or null per frame]; ``mask_dict_foreground.json`` maps
    video -> {"masks_rle": [...]} (``entry_field="masks_rle"``). Nothing decoded is cached: a frame's
    masks are decoded only when asked for.
    """

    def __init__(self, path: Path, key_name: str, entry_field: str | None = None) -> None:
        self.path = path
        self.key_name = key_name
        self.entry_field = entry_field
        self._table: dict[str, Any] | None = None

    def has_file(self) -> bool:
        return self.path.is_file()

    def _loaded(self) -> dict[str, Any]:
        if self._table is None:
            table = read_json(self.path)
            if not isinstance(table, dict):
                raise DataError.at(self.path, "(top level)", f"expected an object keyed by {self.key_name}")
            self._table = table
        return self._table

    def frame_rles(self, key: str, num_frames: int) -> list[Any]:
        """The per-frame RLE list of one id, checked to have one entry per video frame."""
        table = self._loaded()
        if key not in table:
            raise DataError.at(self.path, f"{self.key_name} {key}", "no masks for it in this file")
        entry, field = table[key], f"{self.key_name} {key}"
        if self.entry_field is not None:
            if not isinstance(entry, dict) or self.entry_field not in entry:
                raise DataError.at(self.path, f"{field}.{self.entry_field}", "missing")
            entry, field = entry[self.entry_field], f"{field}.{self.entry_field}"
        if not isinstance(entry, list):
            raise DataError.at(self.path, field, f"expected a list of RLEs, got {type(entry).__name__}")
        if len(entry) != num_frames:
            raise DataError.at(self.path, field, f"{len(entry)} masks for a video of {num_frames} frames")
        return entry

    def decode(self, key: str, video: Video, indices: list[int]) -> np.ndarray:
        """Masks of one id in ``video`` at the given (checked) frame indices -> (T, H, W) bool."""
        rles = self.frame_rles(key, video.num_frames)
        masks = np.zeros((len(indices), video.height, video.width), dtype=bool)  # (T, H, W)
        for t, i in enumerate(indices):
            field = f"{self.key_name} {key}[{i}]"
            masks[t] = decode_rle(rles[i], video.height, video.width, self.path, field)  # (H, W)
        return masks
