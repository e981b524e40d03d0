"""Segment any video: one query over an .mp4 or a folder of frames, with the stage-4 prompt and segmenter.

The frames are sampled and shown exactly as in evaluation (uniform sampling, the ``frame_size`` canvas,
timestamps ``round(i / fps)``), the answer is parsed, its boxes are mapped back to the video and the
segmenter propagates them from the keyframe over every frame. An overlay video shows the mask tinted on
every frame and the boxes on the keyframe. The whole video is held in memory: trim long videos first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from veason_lib.answer import Answer, parse_answer
from veason_lib.config import EvalConfig, resolve_path
from veason_lib.data import Benchmark, sample_frames
from veason_lib.inference import SegmentationPrompt, generate_completions, keyframe_index_of, segment_union
from veason_lib.prompts import build_messages
from veason_lib.samples import boxes_to_video, to_canvas
from veason_lib.segmentation import Segmenter

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
FOLDER_FPS = 10.0  # overlay speed for a folder of frames, which carries no frame rate
MASK_COLOUR = (255, 64, 64)  # RGB
BOX_COLOUR = (64, 255, 64)  # RGB
MASK_OPACITY = 0.5


@dataclass
class DemoResult:
    """The segmentation of one query, with what the model said."""

    masks: np.ndarray  # (T, H, W) bool, the union over the answered objects
    answer: Answer
    reasoning: str | None  # the <think> text (None when the tag structure is broken)
    overlay_path: Path | None
    completion: str
    frame_indices: list[int]  # the frames the model saw
    keyframe_index: int | None  # the video frame the segmenter was prompted at


def read_video(source: str | Path) -> tuple[np.ndarray, float]:
    """An .mp4 (or any file OpenCV decodes) or a folder of frames -> (T, H, W, 3) uint8 RGB and its fps."""
    source = Path(source)
    if source.is_dir():
        return read_frame_folder(source), FOLDER_FPS
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such video file or frame folder")
    return read_video_file(source)


def read_video_file(path: Path) -> tuple[np.ndarray, float]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: OpenCV cannot open this video")
    frames = []
    try:
        ok, frame = capture.read()  # (H, W, 3) BGR
        while ok:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            ok, frame = capture.read()
        fps = capture.get(cv2.CAP_PROP_FPS)
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"{path}: no frames could be decoded")
    return np.stack(frames), float(fps) if fps > 0 else FOLDER_FPS  # (T, H, W, 3)


def read_frame_folder(folder: Path) -> np.ndarray:
    """The folder's images in name order -> (T, H, W, 3) uint8 RGB; all must have the first one's size."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not paths:
        raise ValueError(f"{folder}: no frames ({', '.join(FRAME_SUFFIXES)}) in this folder")
    frames = [read_image(p) for p in paths]
    for path, frame in zip(paths, frames, strict=True):
        if frame.shape != frames[0].shape:
            raise ValueError(
                f"{path}: size {frame.shape[:2]} differs from {paths[0].name}'s {frames[0].shape[:2]}"
            )
    return np.stack(frames)  # (T, H, W, 3)


def read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))  # (H, W, 3)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: unreadable image ({error})") from error


def segment_video(
    source: str | Path,
    query: str,
    model: Any,
    processor: Any,
    segmenter: Segmenter,
    *,
    num_frames: int = 8,
    frame_size: int = 560,
    fps: float = 1.0,
    max_new_tokens: int = 1024,
    out_path: str | Path | None = None,
) -> DemoResult:
    """Answer ``query`` over the sampled frames, segment the whole video, optionally write an overlay mp4."""
    frames, video_fps = read_video(source)  # (T, H, W, 3)
    indices, timestamps = sample_frames(len(frames), num_frames, fps=fps)
    images = [to_canvas(frames[i], frame_size) for i in indices]
    prompt = (build_messages(query, timestamps), images)
    completion = generate_completions(model, processor, [prompt], max_new_tokens)[0]
    answer = parse_answer(completion, timestamps, canvas=frame_size)
    keyframe = keyframe_index_of(answer, indices, timestamps)
    boxes = [list(box) for box in answer.boxes]
    state = segmenter.prepare(frames)
    masks = segment_union(segmenter, state, SegmentationPrompt(keyframe, boxes), frame_size, frames.shape[:3])
    overlay_path = None
    if out_path is not None:
        video_boxes = boxes_to_video(boxes, frame_size, frames.shape[1], frames.shape[2])
        overlay_path = write_overlay(Path(out_path), frames, masks, keyframe, video_boxes, video_fps)
    return DemoResult(masks, answer, answer.think, overlay_path, completion, list(indices), keyframe)


def overlay_frames(
    frames: np.ndarray, masks: np.ndarray, keyframe: int | None, boxes: Sequence[Sequence[float]]
) -> np.ndarray:
    """Frames with the mask tinted in and the boxes drawn on the keyframe -> (T, H, W, 3) uint8 RGB."""
    tint = np.asarray(MASK_COLOUR, dtype=np.float32)  # (3,)
    blended = frames.astype(np.float32)  # (T, H, W, 3)
    blended[masks] = (1 - MASK_OPACITY) * blended[masks] + MASK_OPACITY * tint  # (N, 3) masked pixels
    overlay = blended.round().astype(np.uint8)  # (T, H, W, 3)
    if keyframe is not None:
        for x1, y1, x2, y2 in boxes:
            corners = (round(x1), round(y1)), (round(x2) - 1, round(y2) - 1)
            cv2.rectangle(overlay[keyframe], *corners, BOX_COLOUR, thickness=2)
    return overlay


def write_overlay(
    path: Path,
    frames: np.ndarray,
    masks: np.ndarray,
    keyframe: int | None,
    boxes: Sequence[Sequence[float]],
    fps: float,
) -> Path:
    """The overlay as an mp4 (OpenCV's ``mp4v`` codec)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write an mp4 here")
    try:
        for frame in overlay_frames(frames, masks, keyframe, boxes):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))  # (H, W, 3) BGR
    finally:
        writer.release()
    return path


def demo_inputs(cfg: EvalConfig, benchmark: Benchmark) -> tuple[Path, str]:
    """The demo's video and query: the profile's, or the split's first video and its first expression."""
    expr = benchmark.expressions[0]
    source = resolve_path(cfg.demo_source) if cfg.demo_source else benchmark.videos[expr.video].frame_dir
    return source, cfg.demo_query or expr.text


def run_demo(
    cfg: EvalConfig, benchmark: Benchmark, model: Any, processor: Any, segmenter: Segmenter, out_dir: Path
) -> DemoResult:
    """Notebook 04's demo: :func:`segment_video` on the profile's video and query, overlay beside the run."""
    source, query = demo_inputs(cfg, benchmark)
    print(f"demo: {source} | query: {query}")
    return segment_video(
        source,
        query,
        model,
        processor,
        segmenter,
        num_frames=cfg.num_frames,
        frame_size=cfg.frame_size,
        fps=cfg.fps,
        max_new_tokens=cfg.max_new_tokens,
        out_path=Path(out_dir) / "demo.mp4",
    )
