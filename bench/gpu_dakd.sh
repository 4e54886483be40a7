#!/usr/bin/env bash
# One call on a machine with an NVIDIA GPU (issue 17, item 6): the GPU-sized DAKD ablation of issue 17's goal
# table (real tiles only, full DAKD with soft labels, hard labels, the gated pairs; 3 seeds), sized to fit a
# 10-minute window. bench/dakd_ablation.py --full --study goals --budget-s times a few steps of SAR-JointNet and
# SAROSS-Net on this machine first and scales the GPU size's step counts down to the budget, so the same script
# fits a faster or a slower card. JSON results and logs in $OUT (default bench/results/gpu/).
#
#   bash bench/gpu_dakd.sh                            # on the GPU machine, from the repository root
#   GPU_DAKD_BUDGET_S=300 bash bench/gpu_dakd.sh      # the training budget (default 330 s)
#   GPU_DAKD_DEVICE=cpu bash bench/gpu_dakd.sh        # the CPU path: everything the same but the reduced size
#
# Time on a GPU: install (skipped when torch and the engine import), about a minute to simulate the 564 tiles,
# the training budget, then generation, evaluation, the gate and SAR-FID (the budget leaves 20 % for them);
# each step has its own time limit (install 75 s, the bench budget + 180 s: 585 s in all at the default budget),
# so the whole script stays under 10 minutes, and a step that fails is
# recorded in steps.jsonl, not fatal.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu}"
BUDGET="${GPU_DAKD_BUDGET_S:-330}"
mkdir -p "$OUT"
steps="$OUT/dakd-steps.jsonl"
: > "$steps"

DEVICE_OVERRIDE="${GPU_DAKD_DEVICE:-}"
# shellcheck source=bench/gpu_common.sh
source bench/gpu_common.sh
if [ "$DEVICE" = cpu ]; then SIZE=(); else SIZE=(--full); fi
echo "gpu_dakd: python $PY, device $DEVICE, budget $BUDGET s, results in $OUT"

if "$PY" -c "import engine, torch, rasterio" 2>/dev/null; then
  printf '{"step": "install", "exit_code": 0, "seconds": 0, "note": "already installed"}\n' >> "$steps"
else
  step install 75 "$PY" -m pip install "${pip_args[@]}" -e .
fi

# The budget covers training; simulation, generation and evaluation come on top (limit: budget + 3 minutes).
step dakd-goals $(( BUDGET + 180 )) env PYTHONUNBUFFERED=1 "$PY" bench/dakd_ablation.py "${SIZE[@]}" \
  --study goals --budget-s "$BUDGET" --device "$DEVICE" --work "${TMPDIR:-/tmp}/dakd_gpu" \
  --out "$OUT/dakd-goals-$DEVICE.json"
cat "$steps"
