"""The built-in synthetic benchmark: moving shapes written in the ReVOS layout (DATA.md).

A seeded generator renders short videos of coloured, textured shapes that move over a textured
background, occlude each other (draw order), enter and leave the frame. Each video is built around one
*theme* (a reasoning kind such as "fastest" or "leaves"); candidate expressions are derived from the
rendered visible masks and a scene is redrawn until its theme holds unambiguously, so every emitted
expression is true of the ground truth. Besides the ReVOS files it writes ``scene_facts.json``: what
the generator knows about each scene, which the offline CoT teacher turns into reasoning traces.

    python -m veason_lib.data.synthetic --out outputs/data/synthetic --seed 0 --videos 24
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from veason_lib.data.rle import encode_rle

GENERATOR_VERSION = 1
STAMP = "synthetic_stamp.json"
HEIGHT, WIDTH = 120, 160
MIN_FRAMES, MAX_FRAMES = 20, 32
JPEG_QUALITY = 95
MAX_TRIES = 300

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 235),
    "yellow": (240, 215, 40),
    "purple": (145, 60, 205),
    "orange": (250, 140, 30),
    "cyan": (40, 205, 215),
    "pink": (245, 115, 185),
}
SHAPES = ("square", "circle", "triangle", "diamond")
RADIUS = {"small": 7, "medium": 11, "large": 16}
TEXTURES = ("plain", "striped", "dotted")
SIDES = ("left", "right", "top", "bottom")
THEMES = ("fastest", "appears_last", "appears_first", "occluded", "leaves", "enters", "largest", "position")
TYPE_ID = {"appearance": 0, "position": 0, "largest": 0, "absent": 2}  # every other kind: 1 (reasoning)

# Margins that make an expression unambiguous: only emitted when its condition holds by this much.
FRAME_MARGIN = 3  # frames between the first (last) appearance and the next one
SPEED_RATIO, MIN_SPEED = 2.0, 1.5  # fastest: mean centroid speed vs the runner-up; px per frame
AREA_RATIO = 1.5  # largest: peak visible area vs the runner-up
HIDDEN, CLEAR, HIDDEN_FRAMES = 0.6, 0.15, 3  # occluded: covered fraction while hidden / elsewhere
SIDE_MARGIN, MIN_COVISIBLE = 8.0, 3  # position: px between centroids, frames seen together
MIN_VISIBLE_FRAMES = 3

Picked = TypeVar("Picked")


# ----------------------------------------------------------------------------------------------------
# Scene: object specs, rasterisation, visible masks
# ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ObjectSpec:
    """One shape: appearance and a straight path ``centre(t) = start + velocity * t``."""

    color: str
    shape: str
    size: str
    texture: str
    start: tuple[float, float]  # (x, y) centre at frame 0, px
    velocity: tuple[float, float]  # (dx, dy) px per frame
    side_in: str | None = None  # the frame edge it enters through
    side_out: str | None = None  # the frame edge it leaves through

    @property
    def radius(self) -> int:
        return RADIUS[self.size]

    @property
    def description(self) -> str:
        texture = "" if self.texture == "plain" else f"{self.texture} "
        return f"{self.size} {texture}{self.color} {self.shape}"

    def centres(self, frames: int) -> np.ndarray:
        t = np.arange(frames, dtype=np.float64)[:, None]  # (T, 1)
        return np.asarray(self.start) + t * np.asarray(self.velocity)  # (T, 2) x, y


@dataclasses.dataclass(frozen=True)
class Track:
    """A rendered object: its in-frame pixels before occlusion and what stays visible after it."""

    spec: ObjectSpec
    full: np.ndarray  # (T, H, W) bool, in-frame pixels of the shape, ignoring the shapes drawn over it
    visible: np.ndarray  # (T, H, W) bool, the ground-truth mask
    whole: np.ndarray  # (T,) bool, the shape lies entirely inside the frame (no edge cuts it)

    @functools.cached_property
    def area(self) -> np.ndarray:
        return self.visible.sum(axis=(1, 2))  # (T,)

    @functools.cached_property
    def full_area(self) -> np.ndarray:
        return self.full.sum(axis=(1, 2))  # (T,)

    @functools.cached_property
    def seen(self) -> np.ndarray:
        return np.flatnonzero(self.area)  # (V,) frames where the object is visible

    @functools.cached_property
    def centroids(self) -> np.ndarray:
        """Visible-mask centroids (T, 2) as (x, y); NaN where the object is not visible."""
        _, h, w = self.visible.shape
        area = self.area.astype(np.float64)  # (T,)
        with np.errstate(invalid="ignore", divide="ignore"):
            x = (self.visible.sum(axis=1) * np.arange(w)).sum(axis=1) / area  # (T,)
            y = (self.visible.sum(axis=2) * np.arange(h)).sum(axis=1) / area  # (T,)
        return np.stack([x, y], axis=1)  # (T, 2)

    @functools.cached_property
    def hidden_fraction(self) -> np.ndarray:
        """Share of the in-frame shape covered by shapes drawn over it (T,); 0 where it is out of frame."""
        full = self.full_area  # (T,)
        return np.where(full > 0, 1.0 - self.area / np.maximum(full, 1), 0.0)  # (T,)


@dataclasses.dataclass(frozen=True)
class Scene:
    frames: int
    background: np.ndarray  # (H, W, 3) uint8
    background_kind: str
    tracks: tuple[Track, ...]  # in draw order: later tracks cover earlier ones


def shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Pixels of a shape of radius ``r`` given offsets from its centre -> bool, same shape as dx."""
    if shape == "square":
        return (np.abs(dx) <= r) & (np.abs(dy) <= r)
    if shape == "circle":
        return dx**2 + dy**2 <= r**2
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= 1.3 * r
    if shape == "triangle":  # apex up, base at the bottom
        return (dy <= r) & (np.abs(dx) <= 0.6 * (dy + 1.2 * r))
    raise ValueError(f"unknown shape {shape!r}")


PAD = 2 * max(RADIUS.values())  # px around the frame: a shape cut by an edge still fits in the padding


def rasterize(spec: ObjectSpec, frames: int, height: int, width: int) -> np.ndarray:
    """Pixels of one object in every frame on the frame padded by PAD -> (T, H + 2 PAD, W + 2 PAD) bool."""
    centres = spec.centres(frames) + PAD  # (T, 2) in padded coordinates
    yy, xx = np.mgrid[0 : height + 2 * PAD, 0 : width + 2 * PAD]  # (H', W') each
    dx = xx[None] - centres[:, 0, None, None]  # (T, H', W')
    dy = yy[None] - centres[:, 1, None, None]  # (T, H', W')
    return shape_mask(spec.shape, dx, dy, spec.radius)


def build_tracks(specs: list[ObjectSpec], frames: int, height: int, width: int) -> tuple[Track, ...]:
    """Rasterise every object and remove what the objects drawn later cover."""
    padded = [rasterize(s, frames, height, width) for s in specs]  # N x (T, H', W')
    fulls = [p[:, PAD : PAD + height, PAD : PAD + width] for p in padded]  # N x (T, H, W)
    # whole: no pixel lost to an edge; a shape beyond the padding has none at all, so it is not whole
    wholes = [
        (f.sum(axis=(1, 2)) == p.sum(axis=(1, 2))) & f.any(axis=(1, 2))
        for f, p in zip(fulls, padded, strict=True)
    ]
    covered = np.zeros((frames, height, width), dtype=bool)  # (T, H, W)
    visibles: list[np.ndarray] = []
    for full in reversed(fulls):  # topmost first
        visibles.append(full & ~covered)  # (T, H, W)
        covered |= full
    visibles.reverse()
    return tuple(Track(*parts) for parts in zip(specs, fulls, visibles, wholes, strict=True))


# ----------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------


def make_background(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, str]:
    """A muted textured background (H, W, 3) uint8 and the word that names its texture."""
    kind = ("striped", "checkered", "mottled")[int(rng.integers(3))]
    base = rng.uniform(70, 135) + rng.uniform(-15, 15, size=3)  # (3,) a greyish tint
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)  # (H, W) each
    if kind == "striped":
        angle, period = rng.uniform(0, np.pi), rng.uniform(8, 20)
        pattern = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)  # (H, W)
    elif kind == "checkered":
        tile = int(rng.integers(8, 20))
        pattern = ((xx // tile + yy // tile) % 2) * 2.0 - 1.0  # (H, W)
    else:
        coarse = rng.uniform(-1, 1, size=(height // 10 + 2, width // 10 + 2))  # (h, w)
        pattern = np.kron(coarse, np.ones((10, 10)))[:height, :width]  # (H, W) blocky blobs
    noise = rng.normal(0, 4, size=(height, width, 1))  # (H, W, 1)
    image = base + 14 * pattern[..., None] + noise  # (H, W, 3)
    return np.clip(image, 0, 255).astype(np.uint8), kind


def texture_shade(texture: str, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Brightness factor of a texture at integer offsets from the object's centre -> same shape as dx."""
    if texture == "striped":
        dark = (dy // 3) % 2 == 0
    elif texture == "dotted":
        dark = (dx % 5 < 2) & (dy % 5 < 2)
    else:
        dark = np.zeros(dx.shape, dtype=bool)
    return np.where(dark, 0.55, 1.0)


def render_frames(scene: Scene) -> np.ndarray:
    """Paint the objects in draw order over the background -> (T, H, W, 3) uint8."""
    video = np.repeat(scene.background[None], scene.frames, axis=0)  # (T, H, W, 3)
    for track in scene.tracks:
        t, y, x = np.nonzero(track.full)  # (P,) each: the pixels of the shape
        centres = track.spec.centres(scene.frames)[t]  # (P, 2)
        # the texture is anchored at the centre, so it moves with the object
        shade = texture_shade(
            track.spec.texture, np.floor(x - centres[:, 0]), np.floor(y - centres[:, 1])
        )  # (P,)
        video[t, y, x] = (shade[:, None] * np.asarray(COLORS[track.spec.color])).astype(np.uint8)  # (P, 3)
    return video


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


# ----------------------------------------------------------------------------------------------------
# Candidate expressions: each finder reads the rendered masks and returns only unambiguous ones
# ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Candidate:
    kind: str
    text: str
    targets: tuple[int, ...]  # indices into scene.tracks
    rationale: str


def _pick(rng: np.random.Generator, options: Sequence[Picked]) -> Picked:
    return options[int(rng.integers(len(options)))]


def _names(scene: Scene, indices: Iterable[int]) -> str:
    return _listing([f"the {scene.tracks[i].spec.description}" for i in indices])


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _count_word(n: int) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(n, str(n))


def mean_speed(track: Track) -> float:
    """Mean centroid displacement over consecutive frames in which the object is visible (px/frame)."""
    c = track.centroids  # (T, 2)
    steps = np.linalg.norm(c[1:] - c[:-1], axis=1)  # (T-1,) NaN where either frame is unseen
    steps = steps[~np.isnan(steps)]
    return float(steps.mean()) if steps.size else 0.0


def find_fastest(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    speeds = np.array([mean_speed(t) for t in scene.tracks])  # (N,)
    order = np.argsort(-speeds)
    top, second = int(order[0]), float(speeds[order[1]])
    if speeds[top] < MIN_SPEED or speeds[top] < SPEED_RATIO * second:
        return []
    text = _pick(rng, ("the object that moves fastest", "the shape that travels the fastest"))
    why = (
        f"{_capital(_names(scene, [top]))} moves about {speeds[top]:.1f} px per frame on average, "
        f"at least twice as fast as any other shape (next fastest: {second:.1f} px per frame)."
    )
    return [Candidate("fastest", text, (top,), why)]


def _extreme_appearance(scene: Scene, latest: bool) -> tuple[int, int, int] | None:
    """(object, its first visible frame, the runner-up's) when one object appears first/last by a margin."""
    firsts = np.array([t.seen[0] for t in scene.tracks])  # (N,)
    order = np.argsort(-firsts if latest else firsts, kind="stable")
    top, runner = int(order[0]), int(order[1])
    if abs(int(firsts[top]) - int(firsts[runner])) < FRAME_MARGIN:
        return None
    return top, int(firsts[top]), int(firsts[runner])


def find_appears_last(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    found = _extreme_appearance(scene, latest=True)
    if found is None:
        return []
    top, frame, runner = found
    text = _pick(rng, ("the shape that appears last", "the object that shows up last in the video"))
    why = (
        f"{_capital(_names(scene, [top]))} first becomes visible at frame {frame}, while every other "
        f"shape is already in view by frame {runner}."
    )
    return [Candidate("appears_last", text, (top,), why)]


def find_appears_first(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    found = _extreme_appearance(scene, latest=False)
    if found is None:
        return []
    top, frame, runner = found
    text = _pick(rng, ("the shape that appears first", "the object that is in view before all the others"))
    why = (
        f"{_capital(_names(scene, [top]))} is visible from frame {frame}, while the other shapes only "
        f"come into view from frame {runner} on."
    )
    return [Candidate("appears_first", text, (top,), why)]


def _crossers(scene: Scene, frame: int) -> tuple[list[int], list[int]] | None:
    """Objects wholly out of frame at ``frame`` (seen elsewhere), when all others are visible there."""
    out = [i for i, t in enumerate(scene.tracks) if t.full_area[frame] == 0]
    stay = [i for i, t in enumerate(scene.tracks) if t.area[frame] > 0]
    if not out or not stay or len(out) + len(stay) != len(scene.tracks):
        return None
    return out, stay


def _group_text(verb: str, n: int, rng: np.random.Generator) -> str:
    if n == 1:
        return _pick(rng, (f"the shape that {verb}s the scene", f"the object that {verb}s the scene"))
    if n == 2:
        return _pick(rng, (f"both objects that {verb} the scene", f"the two shapes that {verb} the scene"))
    return f"the {_count_word(n)} shapes that {verb} the scene"


def find_enters(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    found = _crossers(scene, 0)
    if found is None:
        return []
    targets = found[0]
    one = len(targets) == 1
    frames = _listing([str(scene.tracks[i].seen[0]) for i in targets])
    why = (
        f"{_capital(_names(scene, targets))} {'is' if one else 'are'} outside the frame at the start and "
        f"come{'s' if one else ''} into view at frame{'' if one else 's'} {frames}, while the other shapes "
        "are visible from the first frame."
    )
    return [Candidate("enters", _group_text("enter", len(targets), rng), tuple(targets), why)]


def find_leaves(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    found = _crossers(scene, scene.frames - 1)
    if found is None:
        return []
    targets = found[0]
    one = len(targets) == 1
    frames = _listing([str(scene.tracks[i].seen[-1]) for i in targets])
    why = (
        f"{_capital(_names(scene, targets))} move{'s' if one else ''} out of the frame (last seen at "
        f"frame{'' if one else 's'} {frames}), while the other shapes stay in view until the end."
    )
    return [Candidate("leaves", _group_text("leave", len(targets), rng), tuple(targets), why)]


def _hidden_span(track: Track) -> np.ndarray | None:
    """Frames where the whole shape is in frame but mostly covered, with clear views before and after."""
    fraction, whole = track.hidden_fraction, track.whole  # (T,) each
    hidden = np.flatnonzero(whole & (fraction >= HIDDEN))
    clear = np.flatnonzero(whole & (fraction <= CLEAR))
    if hidden.size < HIDDEN_FRAMES or not clear.size:
        return None
    if clear[0] > hidden[0] or clear[-1] < hidden[-1]:
        return None
    return hidden


def find_occluded(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    spans = [_hidden_span(t) for t in scene.tracks]
    targets = [i for i, s in enumerate(spans) if s is not None]
    if len(targets) != 1:
        return []
    (target,) = targets
    others_clear = all(t.hidden_fraction.max() <= CLEAR for i, t in enumerate(scene.tracks) if i != target)
    if not others_clear:
        return []
    span, track = spans[target], scene.tracks[target]
    covered = track.full[span] & ~track.visible[span]  # (S, H, W)
    cover = max(
        (i for i in range(len(scene.tracks)) if i != target),
        key=lambda i: int((scene.tracks[i].full[span] & covered).sum()),
    )
    text = _pick(
        rng,
        ("the one that is hidden behind another for a while", "the shape that gets covered by another shape"),
    )
    why = (
        f"{_capital(_names(scene, [target]))} is mostly hidden behind {_names(scene, [cover])} from frame "
        f"{span[0]} to frame {span[-1]} and fully visible before and after."
    )
    return [Candidate("occluded", text, (target,), why)]


def find_largest(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    peaks = np.array([t.area.max() for t in scene.tracks])  # (N,)
    order = np.argsort(-peaks)
    top, second = int(order[0]), int(peaks[order[1]])
    if peaks[top] < AREA_RATIO * second:
        return []
    text = _pick(rng, ("the largest shape", "the biggest object in the video"))
    why = (
        f"{_capital(_names(scene, [top]))} covers up to {int(peaks[top])} pixels, at least "
        f"{AREA_RATIO} times more than any other shape (next: {second} pixels)."
    )
    return [Candidate("largest", text, (top,), why)]


ATTRIBUTE_SETS = (
    ("color", "shape"),
    ("size", "color", "shape"),
    ("texture", "shape"),
    ("size", "shape"),
    ("shape",),
    ("color",),
)


def _phrase(spec: ObjectSpec, attributes: tuple[str, ...]) -> str:
    words = [getattr(spec, a) for a in ("size", "texture", "color") if a in attributes]
    return " ".join([*words, spec.shape if "shape" in attributes else "shape"])


def find_appearance(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    """One description per object by the attributes that single it out, and groups sharing a shape."""
    specs = [t.spec for t in scene.tracks]
    found = []
    for i, spec in enumerate(specs):
        unique = [
            a
            for a in ATTRIBUTE_SETS
            if not ("texture" in a and spec.texture == "plain")
            and sum(all(getattr(s, k) == getattr(spec, k) for k in a) for s in specs) == 1
        ]
        attributes = unique[int(rng.integers(len(unique)))]
        phrase = _phrase(spec, attributes)
        found.append(Candidate("appearance", f"the {phrase}", (i,), f"It is the only {phrase} in the video."))
    for shape in SHAPES:
        group = tuple(i for i, s in enumerate(specs) if s.shape == shape)
        if 2 <= len(group) < len(specs):
            text = f"both {shape}s" if len(group) == 2 else f"the {_count_word(len(group))} {shape}s"
            found.append(Candidate("appearance", text, group, f"They are the only {shape}s in the video."))
    return found


def _stays_beyond(a: Track, b: Track, side: str) -> bool:
    """Whether ``a`` is further towards ``side`` than ``b`` in every frame where both are visible."""
    both = (a.area > 0) & (b.area > 0)  # (T,)
    if both.sum() < MIN_COVISIBLE:
        return False
    axis = 0 if side in ("left", "right") else 1
    sign = -1.0 if side in ("left", "top") else 1.0
    gap = sign * (a.centroids[both, axis] - b.centroids[both, axis])  # (B,)
    return bool(gap.min() >= SIDE_MARGIN)


POSITION_WORDS = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
}


def find_position(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    """ "the square on the left": among shapes of its kind (or all, when its kind is unique)."""
    found = []
    for i, track in enumerate(scene.tracks):
        same = [j for j, t in enumerate(scene.tracks) if t.spec.shape == track.spec.shape]
        group = same if len(same) >= 2 else list(range(len(scene.tracks)))
        noun = track.spec.shape if len(same) >= 2 else "shape"
        for side in SIDES:
            if all(_stays_beyond(track, scene.tracks[j], side) for j in group if j != i):
                why = (
                    f"In every frame where they are seen together, {_names(scene, [i])} stays further "
                    f"{'to the ' + side if side in ('left', 'right') else 'towards the ' + side} than "
                    f"{_names(scene, [j for j in group if j != i])}."
                )
                found.append(Candidate("position", f"the {noun} {POSITION_WORDS[side]}", (i,), why))
    return found


def find_absent(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    """A shape in a colour that no object of the video has (type_id 2: no target)."""
    used = {t.spec.color for t in scene.tracks}
    color = _pick(rng, sorted(set(COLORS) - used))
    shape = _pick(rng, SHAPES)
    text = _pick(rng, (f"the {color} {shape}", f"the {_pick(rng, tuple(RADIUS))} {color} {shape}"))
    shown = _names(scene, range(len(scene.tracks)))
    why = f"No {color} shape appears in any frame; the video only shows {shown}."
    return [Candidate("absent", text, (), why)]


FINDERS: dict[str, Callable[[Scene, np.random.Generator], list[Candidate]]] = {
    "appearance": find_appearance,
    "position": find_position,
    "largest": find_largest,
    "fastest": find_fastest,
    "appears_first": find_appears_first,
    "appears_last": find_appears_last,
    "occluded": find_occluded,
    "enters": find_enters,
    "leaves": find_leaves,
    "absent": find_absent,
}
KINDS = tuple(FINDERS)


# ----------------------------------------------------------------------------------------------------
# One video: draw scenes until the theme holds, then choose 3-5 expressions
# ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SyntheticVideo:
    name: str
    scene: Scene
    expressions: tuple[Candidate, ...]


def draw_scene(rng: np.random.Generator, theme: str) -> tuple[Scene, dict[str, list[Candidate]]]:
    """Redraw a scene of ``theme`` until the theme's expression holds and every object is seen."""
    for _ in range(MAX_TRIES):
        frames = int(rng.integers(MIN_FRAMES, MAX_FRAMES + 1))
        colors = [str(c) for c in rng.permutation(sorted(COLORS))]
        specs = LAYOUTS[theme](rng, colors, frames)
        background, texture = make_background(rng, HEIGHT, WIDTH)
        scene = Scene(frames, background, texture, build_tracks(specs, frames, HEIGHT, WIDTH))
        if any(t.seen.size < MIN_VISIBLE_FRAMES for t in scene.tracks):
            continue
        if FINDERS[theme](scene, rng):  # cheap rejection first; the rng stream stays deterministic
            return scene, {kind: FINDERS[kind](scene, rng) for kind in KINDS}
    raise RuntimeError(f"synthetic: no '{theme}' scene held after {MAX_TRIES} draws")


def choose_expressions(
    rng: np.random.Generator, candidates: dict[str, list[Candidate]], theme: str, with_absent: bool
) -> tuple[Candidate, ...]:
    """The theme's expression, optionally a no-target one, then others preferring unused kinds."""
    wanted = int(rng.integers(3, 6))
    chosen = [_pick(rng, candidates[theme])]
    if with_absent:
        chosen.append(_pick(rng, candidates["absent"]))
    pool = [c for kind in KINDS if kind not in (theme, "absent") for c in candidates[kind]]
    pool = [pool[i] for i in rng.permutation(len(pool))]
    for fresh_kinds_only in (True, False):
        for candidate in pool:
            if len(chosen) >= wanted:
                break
            taken = {c.kind for c in chosen}
            if candidate in chosen or any(c.text == candidate.text for c in chosen):
                continue
            if fresh_kinds_only and candidate.kind in taken:
                continue
            chosen.append(candidate)
    return tuple(chosen)


def make_video(seed: int, split_index: int, index: int, name: str) -> SyntheticVideo:
    """One seeded video; independent of the others, so a split can be regenerated piecewise."""
    rng = np.random.default_rng([seed, split_index, index])
    theme = THEMES[index % len(THEMES)]
    scene, candidates = draw_scene(rng, theme)
    expressions = choose_expressions(rng, candidates, theme, with_absent=index % 2 == 0)
    return SyntheticVideo(name, scene, expressions)


# ----------------------------------------------------------------------------------------------------
# Scene facts (what the offline teacher reads)
# ----------------------------------------------------------------------------------------------------


def motion_phrase(track: Track, frames: int) -> str:
    """How an object moves, e.g. "enters from the left and moves from left to right"."""
    centres = track.spec.centres(frames)  # (T, 2)
    first, last = centres[track.seen[0]], centres[track.seen[-1]]  # (2,) each
    dx, dy = last - first
    if np.hypot(dx, dy) < 8:
        move = "stays almost still"
    elif abs(dy) < 0.4 * abs(dx):
        move = "moves from left to right" if dx > 0 else "moves from right to left"
    elif abs(dx) < 0.4 * abs(dy):
        move = "moves from top to bottom" if dy > 0 else "moves from bottom to top"
    else:
        move = f"moves diagonally towards the {'bottom' if dy > 0 else 'top'} {'right' if dx > 0 else 'left'}"
    parts = [f"enters from the {track.spec.side_in}"] if track.spec.side_in else []
    parts.append(move)
    if track.spec.side_out:
        parts.append(f"leaves through the {track.spec.side_out} edge")
    return _listing(parts)


def _listing(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def summary(scene: Scene) -> str:
    """One or two sentences about the whole video."""
    n = len(scene.tracks)
    first = (
        f"{_capital(_count_word(n))} shapes move over a {scene.background_kind} background: "
        f"{_names(scene, range(n))}."
    )
    events = [
        f"the {t.spec.description} enters from the {t.spec.side_in} at frame {t.seen[0]}"
        for t in scene.tracks
        if t.spec.side_in and t.seen[0] > 0
    ] + [
        f"the {t.spec.description} leaves through the {t.spec.side_out} after frame {t.seen[-1]}"
        for t in scene.tracks
        if t.spec.side_out and t.seen[-1] < scene.frames - 1
    ]
    if not events:
        return first + " Every shape stays in view for the whole video."
    return f"{first} {_capital(_listing(events))}."


def scene_facts(video: SyntheticVideo) -> dict[str, Any]:
    scene = video.scene
    objects = {
        str(i + 1): {
            "description": t.spec.description,
            "color": t.spec.color,
            "shape": t.spec.shape,
            "size": t.spec.size,
            "motion": motion_phrase(t, scene.frames),
            "first_frame": int(t.seen[0]),
            "last_frame": int(t.seen[-1]),
        }
        for i, t in enumerate(scene.tracks)
    }
    expressions = {
        str(k): {"kind": e.kind, "rationale": e.rationale} for k, e in enumerate(video.expressions)
    }
    return {"summary": summary(scene), "objects": objects, "expressions": expressions}


# ----------------------------------------------------------------------------------------------------
# Files in the ReVOS layout
# ----------------------------------------------------------------------------------------------------


def write_frames(root: Path, video: SyntheticVideo) -> list[str]:
    """JPEGImages/<video>/<frame>.jpg with zero-padded names that sort in time order."""
    folder = root / "JPEGImages" / video.name
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{i:05d}" for i in range(video.scene.frames)]
    for name, frame in zip(names, render_frames(video.scene), strict=True):  # frame: (H, W, 3) uint8
        Image.fromarray(frame).save(folder / f"{name}.jpg", quality=JPEG_QUALITY)
    return names


def object_rles(track: Track) -> list[dict[str, Any] | None]:
    """Visible mask per frame as COCO RLE, null where the object is hidden or out of frame."""
    return [encode_rle(mask) if mask.any() else None for mask in track.visible]  # mask: (H, W)


def meta_entry(
    video: SyntheticVideo, vid_id: int, frame_names: list[str], anno_ids: list[int]
) -> dict[str, Any]:
    """The video's record in meta_expressions_<split>_.json; obj_id is the 1-based draw-order index."""
    expressions = {
        str(k): {
            "exp": e.text,
            "obj_id": [i + 1 for i in e.targets],
            "anno_id": [anno_ids[i] for i in e.targets],
            "type_id": TYPE_ID.get(e.kind, 1),
        }
        for k, e in enumerate(video.expressions)
    }
    return {
        "vid_id": vid_id,
        "frames": frame_names,
        "height": HEIGHT,
        "width": WIDTH,
        "expressions": expressions,
    }


def _write_json(path: Path, data: Any, indent: int | None = None) -> None:
    separators = (",", ":") if indent is None else None
    path.write_text(json.dumps(data, sort_keys=True, indent=indent, separators=separators) + "\n")


def _settings(seed: int, videos: int) -> dict[str, int]:
    return {"generator": GENERATOR_VERSION, "seed": seed, "videos": videos, "height": HEIGHT, "width": WIDTH}


def generate(out_dir: str | Path, seed: int, videos: int) -> Path:
    """Write the benchmark under ``out_dir``: ``videos`` train videos, max(4, videos // 2) valid ones."""
    if videos < 1:
        raise ValueError(f"synthetic: videos must be at least 1, got {videos}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / STAMP).unlink(missing_ok=True)  # an interrupted run must not look complete
    if (root / "JPEGImages").exists():
        shutil.rmtree(root / "JPEGImages")  # frames of an earlier, larger benchmark would linger
    mask_dict: dict[str, list[Any]] = {}
    foreground: dict[str, dict[str, list[Any]]] = {}
    facts: dict[str, Any] = {}
    vid_id = 0
    for split_index, (split, count) in enumerate((("train", videos), ("valid", max(4, videos // 2)))):
        meta: dict[str, Any] = {}
        for index in range(count):
            video = make_video(seed, split_index, index, f"syn_{split}_{index:03d}")
            anno_ids = [len(mask_dict) + 1 + i for i in range(len(video.scene.tracks))]
            for anno_id, track in zip(anno_ids, video.scene.tracks, strict=True):
                mask_dict[str(anno_id)] = object_rles(track)
            union = np.any([t.visible for t in video.scene.tracks], axis=0)  # (T, H, W)
            foreground[video.name] = {"masks_rle": [encode_rle(mask) for mask in union]}
            facts[video.name] = scene_facts(video)
            meta[video.name] = meta_entry(video, vid_id, write_frames(root, video), anno_ids)
            vid_id += 1
        _write_json(root / f"meta_expressions_{split}_.json", {"videos": meta}, indent=1)
    _write_json(root / "mask_dict.json", mask_dict)
    _write_json(root / "mask_dict_foreground.json", foreground)
    _write_json(root / "scene_facts.json", facts, indent=1)
    _write_json(root / STAMP, _settings(seed, videos), indent=1)
    return root


def ensure(out_dir: str | Path, seed: int = 0, videos: int = 24) -> Path:
    """The benchmark root, generated unless a complete one with these settings is already there."""
    root = Path(out_dir)
    stamp = root / STAMP
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == _settings(seed, videos):
                return root
        except json.JSONDecodeError:
            pass  # a damaged stamp: the benchmark is regenerated below
    return generate(root, seed, videos)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="benchmark root to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--videos", type=int, default=24, help="train videos (valid gets max(4, K // 2))")
    args = parser.parse_args(argv)
    print(generate(args.out, args.seed, args.videos))


if __name__ == "__main__":
    main()
