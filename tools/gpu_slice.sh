#!/usr/bin/env bash
# The lab on the borrowed GPU machine (JAX, no TensorFlow, no package registry): install the wheels
# carried over (`make gpu-wheels` fetches them here into .gpu_wheels/; pass that folder with the
# device tool's `carry`) into a scratch folder, then run tools/gpu_slice.py under KERAS_BACKEND=jax.
# Its record lands in $OUT (the device tool's folder that comes back) or outputs/gpu.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-.gpu_wheels}
ls "$WHEELS"/*.whl >/dev/null 2>&1 || { echo "error: no wheels in $WHEELS/: run 'make gpu-wheels' on a machine with a registry and carry $WHEELS" >&2; exit 2; }
SITE=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
python3 tools/gpu_slice.py --out "${OUT:-outputs/gpu}" "$@"
