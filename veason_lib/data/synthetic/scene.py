"""Scenes of the synthetic benchmark: object specs, rasterisation, visible masks and rendering."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

HEIGHT, WIDTH = 120, 160

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
