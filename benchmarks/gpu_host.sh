#!/usr/bin/env bash
# The one prepared device check for issue 33 (docs/gpu.md): run from the repository root on
# an offline CUDA host with Python 3.12 and CUDA torch, with .gpu/ carried beside the tree.
#
# Here, before (a few minutes, network to PyPI only):
#   ../shared/gpu/bundle.sh requirements/server.lock .gpu            # .gpu/site312.tar.xz
#   .venv/bin/python benchmarks/gpu.py --random-weights mpnet --save-config .gpu/mpnet
#   cp ../shared/data/ellipse/essays.csv .gpu/essays.csv
# There (the device tool: command "bash benchmarks/gpu_host.sh", carry [".gpu"], about 6
# minutes of its 10): the figures land in $OUT/gpu-bench.log.
set -euo pipefail
OUT=${OUT:-/tmp/hemma-gpu-out}
mkdir -p "$OUT" /tmp/site
tar -xJf .gpu/site312.tar.xz -C /tmp/site
export PYTHONPATH="/tmp/site:$PWD/src:$PWD" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"
timeout "${BENCH_SECONDS:-480}" python3 benchmarks/gpu.py \
  --random-weights .gpu/mpnet --essays-file .gpu/essays.csv --essays "${ESSAYS:-800}" \
  --rounds "${ROUNDS:-1}" --shapes fixed,dynamic "$@" 2>"$OUT/gpu-bench.err" | tee "$OUT/gpu-bench.log"
