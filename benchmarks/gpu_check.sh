#!/usr/bin/env bash
# GPU check of the training stack (about 5 minutes on one H100/H200; run from the repository root):
# installs the carried wheels (.whl/: trl, datasets and their missing needs, transformers 5.24, peft,
# pycocotools), prints versions, runs the GRPO benchmark on the 3B architecture with random weights, and a
# tiny CUDA pass of the model/training tests. Results land in $OUT (or ./gpu_check_out).
set -euo pipefail
out="${OUT:-gpu_check_out}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 - <<'PY' | tee -a "$out/gpu.txt"
import importlib
for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "pyarrow", "fsspec", "tokenizers"):
    print(name, importlib.import_module(name).__version__)
PY

# 1. GRPO at paper settings: 8 frames of 560 px, 8 generations, 1024 completion tokens, 2 prompts per step.
timeout 300 python3 benchmarks/grpo_gpu.py --size 3b --prompts-per-step 2 --steps 2 \
    --json "$out/grpo_gpu_3b.json" 2>&1 | tee "$out/grpo_gpu.log" | grep -v "it/s\]\|s/it\]" || echo "benchmark failed or timed out: see grpo_gpu.log"

# 2. The model and training tests with CUDA models (fast ones only).
VEASON_TEST_DEVICE=cuda timeout 100 python3 -m pytest -q -x -m "not slow" -p no:cacheprovider \
    tests/test_models.py tests/test_training.py 2>&1 | tee "$out/tests_cuda.log" | tail -15
