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

from veason_lib.data.synthetic.expressions import FINDERS, KINDS, Candidate
from veason_lib.data.synthetic.layouts import LAYOUTS, THEMES
from veason_lib.data.synthetic.scene import (
    COLORS,
    HEIGHT,
    RADIUS,
    SHAPES,
    SIDES,
    TEXTURES,
    WIDTH,
    ObjectSpec,
    Scene,
    Track,
)
from veason_lib.data.synthetic.video import SyntheticVideo, make_video
from veason_lib.data.synthetic.writer import GENERATOR_VERSION, STAMP, TYPE_ID, ensure, generate, scene_facts

__all__ = [
    "COLORS",
    "FINDERS",
    "GENERATOR_VERSION",
    "HEIGHT",
    "KINDS",
    "LAYOUTS",
    "RADIUS",
    "SHAPES",
    "SIDES",
    "STAMP",
    "TEXTURES",
    "THEMES",
    "TYPE_ID",
    "WIDTH",
    "Candidate",
    "ObjectSpec",
    "Scene",
    "SyntheticVideo",
    "Track",
    "ensure",
    "generate",
    "main",
    "make_video",
    "scene_facts",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m veason_lib.data.synthetic", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", required=True, help="benchmark root to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--videos", type=int, default=24, help="train videos (valid gets max(4, K // 2))")
    args = parser.parse_args(argv)
    print(generate(args.out, args.seed, args.videos))
