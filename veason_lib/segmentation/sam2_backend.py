"""SAM2 video segmentation with frames in memory and every frame's image features encoded once.

The stock ``SAM2VideoPredictor.init_state`` reads a JPEG folder or an MP4 and keeps the image features
of only the most recently visited frame, so scoring G completions of one prompt would decode and encode
every frame G times. :meth:`Sam2Segmenter.prepare` instead normalises in-memory frames exactly as the
stock loader does, builds the same inference state, and encodes every frame once; :meth:`segment` then
only prompts, tracks and decodes masks.

SAM2 1.1.0 tracks every object on its own (batch 1 per object and frame). :meth:`Sam2Segmenter.
segment_many` takes a whole GRPO group at once: the boxes of all its completions that share a keyframe are
tracked together, batched along the object dimension, in one forward and one backward propagation, and
every (keyframe, box) is tracked only once per clip. Batched float math may round differently from the
per-object path; ``tests/test_segmentation.py`` and ``benchmarks/consistency_reward_speed.py`` measure
the disagreement.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sam2.build_sam import HF_MODEL_ID_TO_FILENAMES, build_sam2_video_predictor
from sam2.sam2_video_predictor import SAM2VideoPredictor

from veason_lib.segmentation.base import check_frames, check_prompt, no_masks

SAM2_CONFIGS = ("sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l")
IMG_MEAN = (0.485, 0.456, 0.406)  # the stock loader's normalisation (sam2.utils.misc)
IMG_STD = (0.229, 0.224, 0.225)
EVERY_FRAME_ENCODED = "veason_every_frame_encoded"  # marks inference states built by prepare()
RANDOM_WEIGHTS_SEED = 0  # random weights (tests, benchmarks) are the same in every process
MAX_OBJECTS_PER_BATCH = 32  # objects tracked together: bounds the memory of one batched propagation
RANDOM_WEIGHTS_NOTICE = (
    "NOTICE: SAM2 with RANDOM weights (sam2_checkpoint=''): its masks say nothing about accuracy."
)

logger = logging.getLogger(__name__)


class FeatureCachePredictor(SAM2VideoPredictor):
    """A SAM2 video predictor that serves image features from the full per-frame cache of ``prepare``.

    The stock predictor replaces its one-frame cache on a miss; states built by :meth:`Sam2Segmenter.
    prepare` hold every frame, so a miss there means a frame would be re-encoded, which is a bug.
    States from the stock ``init_state`` keep the stock behaviour.
    """

    def _get_image_feature(self, inference_state: dict, frame_idx: int, batch_size: int) -> tuple:
        if inference_state.get(EVERY_FRAME_ENCODED) and frame_idx not in inference_state["cached_features"]:
            raise RuntimeError(f"SAM2: frame {frame_idx} has no features from prepare()")
        return super()._get_image_feature(inference_state, frame_idx, batch_size)

    def propagate_together(self, inference_state: dict, keyframe: int) -> Iterator[tuple[int, torch.Tensor]]:
        """Track every object prompted at ``keyframe`` as one batch, forward then backward.

        The stock ``propagate_in_video`` runs each object alone; the objects here share their conditioning
        frame and hence every memory frame, so one batched ``track_step`` per frame does the same work.
        Yields (frame index, mask logits (N, 1, h, w)) for every frame, the keyframe first.
        """
        if self.non_overlap_masks or self.clear_non_cond_mem_around_input:
            raise ValueError("SAM2: batched tracking needs objects tracked independently")
        self.propagate_in_video_preflight(inference_state)  # memory of each object's prompt, as stock
        output_dict = batched_conditioning(inference_state, keyframe)
        batch_size = len(inference_state["obj_ids"])
        yield keyframe, output_dict["cond_frame_outputs"][keyframe]["pred_masks"]  # (N, 1, h, w)
        for reverse in (False, True):
            for frame_idx in tracking_order(keyframe, inference_state["num_frames"], reverse):
                out, logits = self._run_single_frame_inference(
                    inference_state=inference_state,
                    output_dict=output_dict,
                    frame_idx=frame_idx,
                    batch_size=batch_size,
                    is_init_cond_frame=False,
                    point_inputs=None,
                    mask_inputs=None,
                    reverse=reverse,
                    run_mem_encoder=True,
                )
                output_dict["non_cond_frame_outputs"][frame_idx] = out
                yield frame_idx, logits  # (N, 1, h, w)


def tracking_order(keyframe: int, num_frames: int, reverse: bool) -> range:
    """The frames tracked from the keyframe (excluded: it holds the prompt) in one direction."""
    return range(keyframe - 1, -1, -1) if reverse else range(keyframe + 1, num_frames)


def batched_conditioning(inference_state: dict, keyframe: int) -> dict:
    """One output dict whose keyframe output stacks every object's prompted output along the batch."""
    per_object = [
        inference_state["output_dict_per_obj"][i]["cond_frame_outputs"][keyframe]
        for i in range(len(inference_state["obj_ids"]))
    ]
    stacked = {
        name: torch.cat([out[name] for out in per_object])  # (N, ...)
        for name in ("maskmem_features", "pred_masks", "obj_ptr", "object_score_logits")
    }
    # the memory position encoding is one constant for every object, expanded to the batch
    stacked["maskmem_pos_enc"] = [
        level.expand(len(per_object), -1, -1, -1) for level in per_object[0]["maskmem_pos_enc"]
    ]  # per level (N, C, h, w)
    return {"cond_frame_outputs": {keyframe: stacked}, "non_cond_frame_outputs": {}}


@dataclass
class Sam2State:
    """One clip prepared for SAM2: the predictor's inference state with every frame's features, and the
    masks (T, H, W) of every (keyframe, box) already tracked (GRPO completions often repeat a box)."""

    inference_state: dict
    num_frames: int
    height: int
    width: int
    masks_by_object: dict[tuple[int, bytes], np.ndarray] = field(default_factory=dict)


def config_file(config: str) -> str:
    """Map a model size name (``sam2.1_hiera_t``) to the sam2 package's own config file."""
    if config not in SAM2_CONFIGS:
        raise ValueError(f"sam2_config: unknown {config!r}; known: {', '.join(SAM2_CONFIGS)}")
    return f"configs/sam2.1/{config}.yaml"


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cpu`` and ``cuda[:i]`` are taken as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_predictor(config: str, checkpoint: str, image_size: int, device: torch.device) -> SAM2VideoPredictor:
    """Build a :class:`FeatureCachePredictor` from a checkpoint file, a hub id, or random weights ('')."""
    overrides = [
        f"++model._target_={FeatureCachePredictor.__module__}.{FeatureCachePredictor.__qualname__}",
        f"++model.image_size={image_size}",
    ]
    options = {"device": str(device), "hydra_overrides_extra": overrides}
    if checkpoint == "":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_WEIGHTS_SEED)
            return build_sam2_video_predictor(config_file(config), ckpt_path=None, **options)
    if Path(checkpoint).is_file():
        return build_sam2_video_predictor(config_file(config), ckpt_path=checkpoint, **options)
    if checkpoint in HF_MODEL_ID_TO_FILENAMES:
        hub_config = HF_MODEL_ID_TO_FILENAMES[checkpoint][0]
        if hub_config != config_file(config):
            raise ValueError(
                f"sam2_checkpoint: hub id {checkpoint!r} is {hub_config}, not sam2_config {config!r}"
            )
        return FeatureCachePredictor.from_pretrained(checkpoint, **options)
    known = ", ".join(HF_MODEL_ID_TO_FILENAMES)
    raise FileNotFoundError(f"sam2_checkpoint: {checkpoint!r} is neither a file nor a known hub id ({known})")


def normalise_frames(frames: np.ndarray, image_size: int, device: torch.device) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, S, S) float32, resized and normalised as the stock JPEG loader does."""
    resized = np.stack(
        [
            np.asarray(Image.fromarray(f).resize((image_size, image_size), Image.Resampling.BICUBIC))
            for f in frames
        ]
    )  # (T, S, S, 3) uint8
    # float64 division then float32, as the stock loader, so that both paths give identical features
    images = torch.from_numpy(resized / 255.0).permute(0, 3, 1, 2).float().contiguous()  # (T, 3, S, S)
    images = images.to(device)  # contiguous NCHW as the stock loader: another layout picks other kernels
    mean = torch.tensor(IMG_MEAN, dtype=torch.float32, device=device)[:, None, None]  # (3, 1, 1)
    std = torch.tensor(IMG_STD, dtype=torch.float32, device=device)[:, None, None]  # (3, 1, 1)
    return (images - mean) / std


def empty_inference_state(images: torch.Tensor, height: int, width: int, device: torch.device) -> dict:
    """The dict ``SAM2VideoPredictor.init_state`` builds (sam2 1.1.0), minus its frame loading."""
    return {
        "images": images,
        "num_frames": len(images),
        "offload_video_to_cpu": False,
        "offload_state_to_cpu": False,
        "video_height": height,
        "video_width": width,
        "device": device,
        "storage_device": device,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": {},
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
        EVERY_FRAME_ENCODED: True,
    }


class Sam2Segmenter:
    """SAM2 prompted with boxes at the keyframe and propagated forward and backward (paper Eq. 6)."""

    def __init__(
        self,
        config: str = "sam2.1_hiera_t",
        checkpoint: str = "",
        image_size: int = 1024,
        device: str = "auto",
        num_threads: int = 0,
        max_objects_per_batch: int = MAX_OBJECTS_PER_BATCH,
    ) -> None:
        """``checkpoint``: a file, a hub id (``facebook/sam2.1-hiera-tiny``) or '' for random weights
        (tests only). ``num_threads`` > 0 sets torch's CPU threads; 0 leaves them alone.
        ``max_objects_per_batch``: the most boxes tracked together in one propagation."""
        if max_objects_per_batch < 1:
            raise ValueError(f"max_objects_per_batch: {max_objects_per_batch} must be >= 1")
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        self.device = resolve_device(device)
        self.predictor = load_predictor(config, checkpoint, image_size, self.device)
        if checkpoint == "":
            logger.warning(RANDOM_WEIGHTS_NOTICE)
        self.image_size = image_size
        self.max_objects_per_batch = max_objects_per_batch

    @torch.inference_mode()
    def prepare(self, frames: np.ndarray) -> Sam2State:
        """Normalise the clip and encode every frame's image features once."""
        frames = check_frames(frames)  # (T, H, W, 3)
        num_frames, height, width = frames.shape[:3]
        images = normalise_frames(frames, self.image_size, self.device)  # (T, 3, S, S)
        state = empty_inference_state(images, height, width, self.device)
        for t in range(num_frames):
            image = images[t : t + 1]  # (1, 3, S, S)
            state["cached_features"][t] = (image, self.predictor.forward_image(image))
        return Sam2State(state, num_frames, height, width)

    @torch.inference_mode()
    def segment(self, state: Sam2State, keyframe: int, boxes: np.ndarray) -> np.ndarray:
        """Boxes (K, 4) xyxy px at ``keyframe`` -> masks (K, T, H, W) bool, tracked both ways."""
        return self.segment_many(state, [(keyframe, boxes)])[0]

    @torch.inference_mode()
    def segment_many(self, state: Sam2State, prompts: Sequence[tuple[int, np.ndarray]]) -> list[np.ndarray]:
        """Many (keyframe, boxes (K, 4)) prompts on one clip -> one (K, T, H, W) bool array per prompt.

        New boxes are tracked once each, together with the other new boxes of their keyframe.
        """
        checked = [(int(k), check_prompt(k, boxes, state.num_frames)) for k, boxes in prompts]
        for keyframe, boxes in new_objects(state, checked).items():
            for start in range(0, len(boxes), self.max_objects_per_batch):
                chunk = boxes[start : start + self.max_objects_per_batch]  # (N, 4)
                for box, masks in zip(chunk, self.track(state, keyframe, chunk), strict=True):
                    state.masks_by_object[(keyframe, box.tobytes())] = masks  # (T, H, W)
        return [stored_masks(state, keyframe, boxes) for keyframe, boxes in checked]

    def track(self, state: Sam2State, keyframe: int, boxes: np.ndarray) -> np.ndarray:
        """Prompt every box (N, 4) at the keyframe (one object each), track them together both ways."""
        inference_state = state.inference_state
        self.predictor.reset_state(inference_state)  # forget the previous batch's prompts and tracks
        for obj_id, box in enumerate(boxes):
            self.predictor.add_new_points_or_box(inference_state, frame_idx=keyframe, obj_id=obj_id, box=box)
        masks = no_masks(len(boxes), state.num_frames, state.height, state.width)  # (N, T, H, W)
        for t, logits in self.predictor.propagate_together(inference_state, keyframe):
            _, video_logits = self.predictor._get_orig_video_res_output(inference_state, logits)
            masks[:, t] = (video_logits[:, 0] > 0.0).cpu().numpy()  # (N, H, W)
        return masks


def new_objects(state: Sam2State, prompts: list[tuple[int, np.ndarray]]) -> dict[int, np.ndarray]:
    """The distinct boxes not tracked yet, by keyframe: {keyframe: (N, 4)}."""
    new: dict[int, dict[bytes, np.ndarray]] = {}
    for keyframe, boxes in prompts:
        for box in boxes:  # (4,)
            if (keyframe, box.tobytes()) not in state.masks_by_object:
                new.setdefault(keyframe, {})[box.tobytes()] = box
    return {keyframe: np.stack(list(boxes.values())) for keyframe, boxes in new.items()}


def stored_masks(state: Sam2State, keyframe: int, boxes: np.ndarray) -> np.ndarray:
    """A prompt's masks (K, T, H, W) from the tracked objects; a new array, so callers cannot spoil them."""
    if len(boxes) == 0:
        return no_masks(0, state.num_frames, state.height, state.width)  # (0, T, H, W)
    return np.stack([state.masks_by_object[(keyframe, box.tobytes())] for box in boxes])  # (K, T, H, W)
