"""Candidate expressions: the finder of each kind and the margins that make its condition unambiguous."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np

from veason_lib.data.synthetic.scene import COLORS, RADIUS, SHAPES, SIDES, ObjectSpec, Scene, Track

# Margins that make an expression unambiguous: only emitted when its condition holds by this much.
FRAME_MARGIN = 3  # frames between the first (last) appearance and the next one
SPEED_RATIO, MIN_SPEED = 2.0, 1.5  # fastest: mean centroid speed vs the runner-up; px per frame
AREA_RATIO = 1.5  # largest: peak visible area vs the runner-up
HIDDEN, CLEAR, HIDDEN_FRAMES = 0.6, 0.15, 3  # occluded: covered fraction while hidden / elsewhere
SIDE_MARGIN, MIN_COVISIBLE = 8.0, 3  # position: px between centroids, frames seen together

Picked = TypeVar("Picked")

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


# Per direction: the kind, its phrasings, and the trace sentence ({name}, {frame}, {runner} filled in)
_APPEARANCE = {
    True: (
        "appears_last",
        ("the shape that appears last", "the object that shows up last in the video"),
        "{name} first becomes visible at frame {frame}, while every other shape is already in view by frame {runner}.",
    ),
    False: (
        "appears_first",
        ("the shape that appears first", "the object that is in view before all the others"),
        "{name} is visible from frame {frame}, while the other shapes only come into view from frame {runner} on.",
    ),
}


def _extreme_appearance(scene: Scene, rng: np.random.Generator, latest: bool) -> list[Candidate]:
    """The object that comes into view last (or first), when it does so by a margin of frames."""
    firsts = np.array([t.seen[0] for t in scene.tracks])  # (N,)
    order = np.argsort(-firsts if latest else firsts, kind="stable")
    top, runner = int(order[0]), int(order[1])
    if abs(int(firsts[top]) - int(firsts[runner])) < FRAME_MARGIN:
        return []
    kind, phrasings, sentence = _APPEARANCE[latest]
    text = _pick(rng, phrasings)
    why = sentence.format(
        name=_capital(_names(scene, [top])), frame=int(firsts[top]), runner=int(firsts[runner])
    )
    return [Candidate(kind, text, (top,), why)]


def find_appears_last(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    return _extreme_appearance(scene, rng, latest=True)


def find_appears_first(scene: Scene, rng: np.random.Generator) -> list[Candidate]:
    return _extreme_appearance(scene, rng, latest=False)


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


def _listing(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
