"""One synthetic video: draw scenes until the theme holds, then choose its expressions."""

from __future__ import annotations

import dataclasses

import numpy as np

from veason_lib.data.synthetic.expressions import FINDERS, KINDS, Candidate, _pick
from veason_lib.data.synthetic.layouts import LAYOUTS, THEMES
from veason_lib.data.synthetic.scene import COLORS, HEIGHT, WIDTH, Scene, build_tracks, make_background

MIN_FRAMES, MAX_FRAMES = 20, 32
MAX_TRIES = 300
MIN_VISIBLE_FRAMES = 3

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
