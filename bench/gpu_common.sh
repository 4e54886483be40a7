# Sourced by bench/gpu_check.sh and bench/gpu_dakd.sh, from the repository root, after they set OUT (the results
# folder), steps (the JSON-lines file that step() appends to) and DEVICE_OVERRIDE (cpu, cuda or empty). Sets PY
# (the project's venv, else $PYTHON or python3), DEVICE (DEVICE_OVERRIDE, else cuda when nvidia-smi finds a GPU,
# else cpu) and pip_args (offline machines: wheels in $WHEELS, default ./wheels), and defines step().
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY="${PYTHON:-python3}"; fi
if [ -n "${DEVICE_OVERRIDE:-}" ]; then
  DEVICE="$DEVICE_OVERRIDE"
elif command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  DEVICE=cuda
else
  DEVICE=cpu
fi
pip_args=(-q --disable-pip-version-check)
[ -d "${WHEELS:-wheels}" ] && pip_args+=(--find-links "${WHEELS:-wheels}")

step() {  # step NAME LIMIT_S COMMAND...: run with a time limit, record its exit code and seconds
  local name="$1" limit="$2"; shift 2
  local t0; t0=$(date +%s)
  echo "== $name (limit ${limit} s)"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local code=$?
  tail -n 25 "$OUT/$name.log"
  printf '{"step": "%s", "exit_code": %d, "seconds": %d}\n' "$name" "$code" "$(( $(date +%s) - t0 ))" >> "$steps"
}
