"""The main job: every stage notebook in order, headless, on one params profile.

``python -m veason_lib.pipeline --params params/smoke.yaml`` generates the built-in benchmark if it is
missing, then executes notebooks 01-06 with papermill into ``outputs/<run>/<NN_stage>/`` (each beside its
resolved ``config.json`` and a ``metrics.json``), and prints the evaluation table. ``--stages sft,grpo``
re-runs some stages alone; later stages read earlier ones' files by their fixed names.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from veason_lib.config import STAGES, CommonConfig, ConfigError, load_profile
from veason_lib.notebooks import NOTEBOOKS, execute


def ensure_data(cfg: CommonConfig) -> None:
    """Generate the built-in benchmark when the profile uses it and it is not there yet."""
    if cfg.benchmark == "synthetic":
        from veason_lib.data import synthetic

        synthetic.ensure(cfg.data_path, seed=cfg.seed, videos=cfg.synthetic_videos)


def evaluation_table(cfg: CommonConfig) -> str:
    """The evaluation stage's table (Table 1 layout), read back from its metrics.json."""
    from veason_lib.inference import results_table

    metrics = json.loads((cfg.stage_dir("eval") / "metrics.json").read_text())
    return results_table(metrics).to_string()


def run(params: str, stages: Sequence[str], **overrides: Any) -> dict[str, float]:
    """Execute the chosen stages in order (``overrides`` set common fields, e.g. ``run``); seconds per stage."""
    configs = {stage: load_profile(params, stage, **overrides) for stage in stages}  # fail fast on typos
    ensure_data(next(iter(configs.values())))
    seconds = {}
    for i, (stage, cfg) in enumerate(configs.items(), 1):
        print(f"[{i}/{len(configs)}] {NOTEBOOKS[stage]} -> {cfg.stage_dir(stage)}", flush=True)
        start = time.perf_counter()
        execute(stage, cfg)
        seconds[stage] = round(time.perf_counter() - start, 1)
        print(f"    done in {seconds[stage]} s", flush=True)
    if "eval" in configs:
        print(evaluation_table(configs["eval"]))
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", required=True, help="params profile, e.g. params/smoke.yaml")
    parser.add_argument(
        "--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}"
    )
    parser.add_argument("--run", default=None, help="run name (default: the profile's)")
    parser.add_argument("--out-root", default=None, help="root folder of runs (default: the profile's)")
    args = parser.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; known: {', '.join(STAGES)}")
    ordered = [s for s in STAGES if s in stages]
    overrides = {"run": args.run, "out_root": args.out_root}
    try:
        seconds = run(args.params, ordered, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as error:  # a typo in a params file: say which, without a traceback
        parser.error(str(error))
    print("stage seconds:", json.dumps(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
