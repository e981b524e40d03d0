"""Motion paths (inside the frame, entering, leaving, crossing) and the theme layouts built from them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from veason_lib.data.synthetic.expressions import FRAME_MARGIN
from veason_lib.data.synthetic.scene import HEIGHT, RADIUS, SHAPES, SIDES, TEXTURES, WIDTH, ObjectSpec

THEMES = ("fastest", "appears_last", "appears_first", "occluded", "leaves", "enters", "largest", "position")

# ----------------------------------------------------------------------------------------------------
# Paths: inside the frame, entering, leaving, crossing
# ----------------------------------------------------------------------------------------------------


def _box_point(rng: np.random.Generator, r: int, box: tuple[float, float, float, float]) -> np.ndarray:
    """A centre that keeps a shape of radius ``r`` inside ``box`` = (x0, y0, x1, y1) -> (2,)."""
    lo = np.array(box[:2]) + r + 1
    hi = np.array(box[2:]) - r - 2
    return rng.uniform(lo, hi)  # (2,)


def inside_path(
    rng: np.random.Generator, r: int, frames: int, travel: float, box: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(start, velocity) of a path that stays inside ``box`` and covers at most ``travel`` px."""
    start = _box_point(rng, r, box)  # (2,)
    end = start + rng.uniform(-travel, travel, size=2)  # (2,)
    end = np.clip(end, np.array(box[:2]) + r + 1, np.array(box[2:]) - r - 2)  # (2,)
    return start, (end - start) / (frames - 1)


def _outside(side: str, along: float, r: int, height: int, width: int) -> np.ndarray:
    """A centre just beyond ``side`` (no pixel in the frame), at ``along`` on the other axis -> (2,)."""
    gap = r + 2
    points = {
        "left": (-gap, along),
        "right": (width - 1 + gap, along),
        "top": (along, -gap),
        "bottom": (along, height - 1 + gap),
    }
    return np.asarray(points[side], dtype=np.float64)  # (2,)


def _near_half(side: str, height: int, width: int) -> tuple[float, float, float, float]:
    """The half of the frame next to ``side``: keeps entering and leaving speeds moderate."""
    return {
        "left": (0, 0, width * 0.6, height),
        "right": (width * 0.4, 0, width, height),
        "top": (0, 0, width, height * 0.65),
        "bottom": (0, height * 0.35, width, height),
    }[side]


def crossing_path(
    rng: np.random.Generator, r: int, frames: int, side: str, frame: int, entering: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(start, velocity) of a path that crosses ``side`` at ``frame``: entering the frame or leaving it."""
    inner = _box_point(rng, r, _near_half(side, HEIGHT, WIDTH))  # (2,)
    along = inner[1] if side in ("left", "right") else inner[0]
    edge = _outside(side, along, r, HEIGHT, WIDTH)  # (2,)
    if entering:  # out of frame until `frame`, then moves in to `inner` at the last frame
        velocity = (inner - edge) / (frames - 1 - frame)  # (2,)
        return edge - velocity * frame, velocity
    velocity = (edge - inner) / frame  # (2,) from `inner` at frame 0 out through the edge
    return inner, velocity


def appearance(rng: np.random.Generator, colors: list[str], sizes: tuple[str, ...] = tuple(RADIUS)) -> dict:
    """Random shape, size and texture, and the next unused colour."""
    return {
        "color": colors.pop(),
        "shape": SHAPES[int(rng.integers(len(SHAPES)))],
        "size": sizes[int(rng.integers(len(sizes)))],
        "texture": TEXTURES[int(rng.integers(len(TEXTURES)))],
    }


def _spec(look: dict, path: tuple[np.ndarray, np.ndarray], **sides: str) -> ObjectSpec:
    start, velocity = path
    return ObjectSpec(
        **look,
        start=(float(start[0]), float(start[1])),
        velocity=(float(velocity[0]), float(velocity[1])),
        **sides,
    )


# ----------------------------------------------------------------------------------------------------
# Theme layouts: each returns object specs in draw order that make its theme likely
# ----------------------------------------------------------------------------------------------------

FULL_BOX = (0.0, 0.0, float(WIDTH), float(HEIGHT))


def _wanderers(
    rng: np.random.Generator, colors: list[str], frames: int, count: int, travel: float, **look: str
) -> list[ObjectSpec]:
    """``count`` objects that stay inside the frame on short random paths."""
    specs = []
    for _ in range(count):
        shape_look = {**appearance(rng, colors), **look}
        path = inside_path(rng, RADIUS[shape_look["size"]], frames, rng.uniform(5, travel), FULL_BOX)
        specs.append(_spec(shape_look, path))
    return specs


def layout_fastest(rng: np.random.Generator, colors: list[str], frames: int) -> list[ObjectSpec]:
    look = appearance(rng, colors, ("small", "medium"))
    r = RADIUS[look["size"]]
    y0, y1 = rng.uniform(r + 1, HEIGHT - r - 2, size=2)
    xs = (r + 1 + rng.uniform(0, 10), WIDTH - r - 2 - rng.uniform(0, 10))
    x0, x1 = xs if rng.random() < 0.5 else xs[::-1]
    start, end = np.array([x0, y0]), np.array([x1, y1])  # (2,) each
    fast = _spec(look, (start, (end - start) / (frames - 1)))
    slow = _wanderers(rng, colors, frames, int(rng.integers(1, 4)), travel=20)
    return _shuffled(rng, [fast, *slow])


def _crossers_of(
    rng: np.random.Generator, colors: list[str], frames: int, crossing_frames: list[int], entering: bool
) -> list[ObjectSpec]:
    """One object per given frame that enters (or leaves) the frame through a random edge at that frame."""
    movers = []
    for frame in crossing_frames:
        look = appearance(rng, colors)
        side = SIDES[int(rng.integers(4))]
        path = crossing_path(rng, RADIUS[look["size"]], frames, side, frame, entering)
        movers.append(_spec(look, path, **{"side_in" if entering else "side_out": side}))
    return movers


def layout_crossing(
    rng: np.random.Generator, colors: list[str], frames: int, crossing_frames: list[int], entering: bool
) -> list[ObjectSpec]:
    """Objects that enter (or leave) the frame at the given frames, plus one or two that stay inside."""
    movers = _crossers_of(rng, colors, frames, crossing_frames, entering)
    stayers = _wanderers(rng, colors, frames, int(rng.integers(1, 3)), travel=50)
    return _shuffled(rng, movers + stayers)


def layout_appears_last(rng: np.random.Generator, colors: list[str], frames: int) -> list[ObjectSpec]:
    late = int(rng.integers(frames // 2, 2 * frames // 3))
    return layout_crossing(rng, colors, frames, [late], entering=True)


def layout_appears_first(rng: np.random.Generator, colors: list[str], frames: int) -> list[ObjectSpec]:
    """One object in view from the start; all others enter later."""
    first = _wanderers(rng, colors, frames, 1, travel=50)
    frames_in = [int(f) for f in rng.integers(FRAME_MARGIN + 1, frames // 2, size=int(rng.integers(1, 3)))]
    return _shuffled(rng, first + _crossers_of(rng, colors, frames, frames_in, entering=True))


def layout_enters(rng: np.random.Generator, colors: list[str], frames: int) -> list[ObjectSpec]:
    count = 1 + int(rng.random() < 0.4)
    frames_in = [int(f) for f in rng.integers(2, frames // 2, size=count)]
    return layout_crossing(rng, colors, frames, frames_in, entering=True)


def layout_leaves(rng: np.random.Generator, colors: list[str], frames: int) -> list[ObjectSpec]:
    count = 1 + int(rng.random() < 0.5)
    frames_out = [int(f) for f in rng.integers(frames // 3, frames - 3, size=count)]
    return layout_crossing(rng, colors, frames, frames_out, entering=False)


def layout_occluded(rng: np.random.Generator, colors: list[str], frames: int) -> list[ObjectSpec]:
    """A small shape that a large one, drawn on top, passes over in the middle of the video."""
    hidden_look = appearance(rng, colors, ("small", "medium"))
    hidden_path = inside_path(rng, RADIUS[hidden_look["size"]], frames, 10, (20, 15, WIDTH - 20, HEIGHT - 15))
    hidden = _spec(hidden_look, hidden_path)
    meet = int(rng.integers(frames // 2 - 2, frames // 2 + 3))
    angle, speed = rng.uniform(0, 2 * np.pi), rng.uniform(3.5, 5.0)
    velocity = speed * np.array([np.cos(angle), np.sin(angle)])  # (2,)
    meet_at = hidden_path[0] + hidden_path[1] * meet  # (2,) where the hidden shape is at `meet`
    cover_look = {**appearance(rng, colors, ("large",)), "shape": ("square", "circle")[int(rng.integers(2))]}
    cover = _spec(cover_look, (meet_at - velocity * meet, velocity))
    others = _wanderers(rng, colors, frames, int(rng.integers(0, 3)), travel=30)
    return [hidden, *others, cover]


def layout_largest(rng: np.random.Generator, colors: list[str], frames: int) -> list[ObjectSpec]:
    big = _wanderers(rng, colors, frames, 1, travel=40, size="large")
    others = [
        _spec(look, inside_path(rng, RADIUS[look["size"]], frames, 40, FULL_BOX))
        for look in (appearance(rng, colors, ("small", "medium")) for _ in range(int(rng.integers(1, 4))))
    ]
    return _shuffled(rng, big + others)


def layout_position(rng: np.random.Generator, colors: list[str], frames: int) -> list[ObjectSpec]:
    """Two shapes of the same kind kept in opposite halves of the frame."""
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    if rng.random() < 0.5:
        halves = [(0, 0, WIDTH / 2 - 6, HEIGHT), (WIDTH / 2 + 6, 0, WIDTH, HEIGHT)]
    else:
        halves = [(0, 0, WIDTH, HEIGHT / 2 - 5), (0, HEIGHT / 2 + 5, WIDTH, HEIGHT)]
    pair = []
    for half in halves:
        look = {**appearance(rng, colors), "shape": shape}
        pair.append(_spec(look, inside_path(rng, RADIUS[look["size"]], frames, 25, half)))
    others = _wanderers(rng, colors, frames, int(rng.integers(0, 2)), travel=40)
    others = [dataclasses.replace(s, shape=_other_shape(rng, shape)) for s in others]
    return _shuffled(rng, pair + others)


def _other_shape(rng: np.random.Generator, shape: str) -> str:
    choices = [s for s in SHAPES if s != shape]
    return choices[int(rng.integers(len(choices)))]


def _shuffled(rng: np.random.Generator, specs: list[ObjectSpec]) -> list[ObjectSpec]:
    """A random draw order, so that occlusions between stayers and movers happen either way."""
    return [specs[i] for i in rng.permutation(len(specs))]


LAYOUTS: dict[str, Callable[[np.random.Generator, list[str], int], list[ObjectSpec]]] = {
    "fastest": layout_fastest,
    "appears_last": layout_appears_last,
    "appears_first": layout_appears_first,
    "occluded": layout_occluded,
    "leaves": layout_leaves,
    "enters": layout_enters,
    "largest": layout_largest,
    "position": layout_position,
}
