#!/usr/bin/env bash
# One call on a machine with an NVIDIA GPU (issue 14): detection of a full synthetic IW scene with torch CUDA
# (bf16 autocast) and with ONNX Runtime's CUDA provider, then the scan-backend benchmark; JSON results in
# $OUT (default bench/results/gpu/). About 5 minutes on a GPU; each step has its own time limit, so the whole
# script stays under 8 minutes and a step that fails is recorded in steps.json, not fatal.
#
#   bash bench/gpu_check.sh                         # on the GPU machine, from the repository root
#   GPU_CHECK_SIZE=2k bash bench/gpu_check.sh       # a 2048² scene instead of the IW scene
#   GPU_CHECK_DEVICE=cpu bash bench/gpu_check.sh    # the CPU path (everything else the same)
#
# What it needs is installed first when missing (pip; offline machines: put wheels in $WHEELS, default
# ./wheels): the engine (pip install -e .), onnx, and onnxruntime-gpu for the CUDA provider. The device is
# cuda when nvidia-smi finds a GPU, else cpu.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu}"
SIZE="${GPU_CHECK_SIZE:-iw}"
mkdir -p "$OUT"
started=$(date +%s)
steps="$OUT/steps.jsonl"
: > "$steps"

DEVICE_OVERRIDE="${GPU_CHECK_DEVICE:-}"
# shellcheck source=bench/gpu_common.sh
source bench/gpu_common.sh
if [ "$DEVICE" = cuda ]; then BATCH="${GPU_CHECK_BATCH:-32}"; else BATCH="${GPU_CHECK_BATCH:-8}"; fi
echo "gpu_check: python $PY, device $DEVICE, scene $SIZE, results in $OUT"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU") \
  > "$OUT/gpu.txt"

if "$PY" -c "import engine, torch, onnx, onnxruntime" 2>/dev/null; then
  printf '{"step": "install", "exit_code": 0, "seconds": 0, "note": "already installed"}\n' >> "$steps"
else
  step install 240 "$PY" -m pip install "${pip_args[@]}" -e ".[onnx]"
fi
if [ "$DEVICE" = cuda ] && ! "$PY" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" 2>/dev/null; then
  # The CUDA provider is the onnxruntime-gpu build; it replaces the CPU one in this environment.
  step install-onnxruntime-gpu 240 "$PY" -m pip install "${pip_args[@]}" "onnxruntime-gpu" "numpy<2"
fi

# Detection of the full scene, one backend at a time, each with its network-only throughput (bench/detect.py).
step detect-torch 300 "$PY" bench/detect.py --backends torch --sizes "$SIZE" --device "$DEVICE" \
  --batch-size "$BATCH" --out "$OUT/detect-torch-$DEVICE.json"
step detect-onnxruntime 300 "$PY" bench/detect.py --backends onnxruntime --sizes "$SIZE" --device "$DEVICE" \
  --batch-size "$BATCH" --out "$OUT/detect-onnxruntime-$DEVICE.json"

# The scan backends (reference loop, parallel scan, none = the floor; mamba_ssm and triton where installed).
if [ "$DEVICE" = cuda ]; then
  step scan-backends 150 "$PY" bench/model.py --device cuda --variants T --parts encoder,model \
    --batch-sizes 64 --dtypes fp32,bf16 --min-time-s 1 --out "$OUT/model-cuda.json"
else
  step scan-backends 150 "$PY" bench/model.py --device cpu --variants XS --parts model --batch-sizes 4 \
    --dtypes fp32 --min-time-s 1 --max-repeats 3 --out "$OUT/model-cpu.json"
fi

"$PY" - "$OUT" "$DEVICE" "$SIZE" "$started" <<'EOF'
import json, sys, time
from pathlib import Path
out, device, size, started = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines() if line.strip()]
result = {"device": device, "scene": size, "gpu": (out / "gpu.txt").read_text().strip(),
          "seconds": int(time.time()) - started, "steps": steps, "runs": []}
for path in sorted(out.glob(f"detect-*-{device}.json")):
    result["runs"] += json.loads(path.read_text())["runs"]
(out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
print(f"gpu_check: {result['seconds']} s, steps " + ", ".join(f"{s['step']}={s['exit_code']}" for s in steps))
for run in result["runs"]:
    print(f"  {run['size']} {run['chosen']} ({run['precision']}, {run['device']}): network {run['network_tiles_per_s']} "
          f"tiles/s, whole run {run['seconds']} s")
print(f"saved {out / 'gpu_check.json'}")
EOF
