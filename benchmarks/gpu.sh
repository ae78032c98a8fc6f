#!/usr/bin/env bash
# The GPU figures of benchmarks/ladder.py (`throughput`, then `e2e`) in one call on a machine with
# a CUDA GPU, its own python3 with torch, and nothing installed from this repository; each
# stage's output goes to $OUT (default ./gpu-out) as it runs, so a stage stopped at its limit
# still leaves what it measured.
#
# Before the call, on a machine with the data beside the repository (once):
#   mkdir -p .gpu/data/corpora .gpu/wheels && echo /.gpu/ >> .git/info/exclude
#   cp ../shared/data/corpora/en-mix.txt.xz .gpu/data/corpora/      # the e2e corpus (34 MB)
#   pip download --no-deps -d .gpu/wheels 'tomli-w>=1.0'             # the one dependency such images lack
# then run `bash benchmarks/gpu.sh [THROUGHPUT_S] [E2E_S]` there with .gpu carried.
# Without a GPU it makes a smoke run at tiny sizes on the CPU (--device cpu --quick).
set -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src:$PWD/.gpu/site${PYTHONPATH:+:$PYTHONPATH}"
export SCALELAB_SHARED_DATA=${SCALELAB_SHARED_DATA:-$PWD/.gpu/data}
if ! "$PY" -c "import tomli_w" 2>/dev/null; then
    mkdir -p .gpu/site
    for w in .gpu/wheels/*.whl; do [ -f "$w" ] && "$PY" -m zipfile -e "$w" .gpu/site; done
fi
"$PY" - <<'PY' 2>&1 | tee "$OUT/machine.txt"
import platform, torch
print("python", platform.python_version(), "torch", torch.__version__,
      "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (no CUDA)")
PY
args=()
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || args=(--device cpu --quick)
timeout "${1:-240}" "$PY" benchmarks/ladder.py throughput "${args[@]}" 2>&1 | tee "$OUT/throughput.txt"
echo "throughput exit ${PIPESTATUS[0]}" | tee -a "$OUT/throughput.txt"
timeout "${2:-330}" "$PY" benchmarks/ladder.py e2e "${args[@]}" --keep "$PWD/.gpu/e2e" 2>&1 | tee "$OUT/e2e.txt"
echo "e2e exit ${PIPESTATUS[0]}" | tee -a "$OUT/e2e.txt"
