#!/usr/bin/env bash
# Exhaustive bit-for-bit sweeps of qformat's torch-cuda profile against
# torch's CUDA casts, for a session that has a GPU (docs/verification/torch-cuda.md).
#
#   OUT=/some/dir bash benches/gpu_verify.sh
#
# Installs nothing: it uses the torch, numpy and qformat already on the
# machine (qformat from this checkout: python/ with its built _native module;
# when that module is missing it builds it only if cargo and maturin are
# already installed, offline). Every format gets one `qformat verify
# --against torch --device cuda --exhaustive --json` run: all 2^32 float32
# inputs into the format, 2^20 sampled float64 inputs, every float16 and
# bfloat16 pattern, and the format's codes back to float32, with the profile
# torch-cuda (integer formats: torch-cpu, as torch-cuda has no integer rule). Reports go to
# $OUT/torch-cuda.<format>.json, the machine's versions to
# $OUT/environment.json and a summary to $OUT/summary.txt. A deadline keeps
# the whole run under 8 minutes (7 for the sweeps, then it stops starting new
# ones). Exit status: 0 all clean, 1 some mismatch, 3 environment problem.
set -u -o pipefail

OUT=${OUT:-$PWD/gpu-verify-reports}
DEADLINE=${DEADLINE:-420}               # seconds after which no new sweep starts
PER_FORMAT=${PER_FORMAT:-150}           # hard limit of one sweep
FORMATS=${FORMATS:-"bf16 fp16 fp8_e4m3fn fp8_e5m2 fp8_e4m3fnuz fp8_e5m2fnuz fp8_e8m0fnu int8 uint8 int16 int32"}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}                  # DEVICE=cpu: a dry run of this script on a CPU machine
export DEVICE

cd "$(dirname "$0")/.." || exit 3
mkdir -p "$OUT" || exit 3
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

if ! "$PY" -c "import qformat._native" 2>/dev/null; then
    if command -v cargo >/dev/null && command -v maturin >/dev/null; then
        say "building qformat's native module (offline)"
        CARGO_NET_OFFLINE=true "$PY" -m pip install --no-build-isolation --no-deps --no-index -e . \
            > "$OUT/build.log" 2>&1 || { say "build failed: see build.log"; exit 3; }
    else
        say "qformat._native is not importable and cannot be built here (carry python/qformat/_native.abi3.so)"
        exit 3
    fi
fi

"$PY" - > "$OUT/environment.json" <<'EOF' || { say "no CUDA device visible to torch"; exit 3; }
import json, platform, subprocess
import numpy, torch, qformat
import os
cuda = os.environ["DEVICE"] == "cuda"
assert torch.cuda.is_available() or not cuda, "torch.cuda.is_available() is False"
try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                          "--format=csv,noheader"], capture_output=True, text=True,
                         timeout=30).stdout.strip()
except Exception as e:  # nvidia-smi missing: still record torch's view
    smi = f"nvidia-smi unavailable: {e}"
print(json.dumps({
    "device": os.environ["DEVICE"], "torch": torch.__version__, "cuda": torch.version.cuda,
    "cudnn": torch.backends.cudnn.version() if cuda else None,
    "gpu": torch.cuda.get_device_name(0) if cuda else None,
    "compute_capability": (".".join(map(str, torch.cuda.get_device_capability(0)))
                           if cuda else None),
    "nvidia_smi": smi, "numpy": numpy.__version__, "qformat": qformat.__version__,
    "python": platform.python_version(), "platform": platform.platform(),
}, indent=1))
EOF
say "environment: $(tr -d '\n' < "$OUT/environment.json")"

# The CLI needs click and rich; without them the same library call is made directly.
if "$PY" -c "import click, rich" 2>/dev/null; then
    sweep() { "$PY" -m qformat verify --against torch --device "$DEVICE" --exhaustive --format "$1" \
                  --profile "$3" --json --quiet --report "$2" > /dev/null; }
else
    sweep() { "$PY" - "$1" "$2" "$3" <<'EOF'
import json, os, sys
from qformat import _verify
r = _verify.verify("torch", device=os.environ["DEVICE"], formats=[sys.argv[1]], exhaustive=True,
                   profile=sys.argv[3])
open(sys.argv[2], "w").write(json.dumps(r, indent=1) + "\n")
sys.exit(0 if r["clean"] else 1)
EOF
    }
fi

status=0
for f in $FORMATS; do
    if (( SECONDS > DEADLINE )); then
        say "$f: skipped (deadline of ${DEADLINE}s reached)"; status=1; continue
    fi
    t0=$SECONDS
    # torch-cuda has no integer rule yet: integer casts are compared with the
    # CPU rule (torch-cpu), which tells whether CUDA casts integers the same way.
    profile="torch-$DEVICE"
    case $f in int*|uint*) profile=torch-cpu ;; esac
    timeout "$PER_FORMAT" bash -c "$(declare -f sweep); PY=$PY; sweep $f $OUT/torch-$DEVICE.$f.json $profile"
    rc=$?
    case $rc in
        0) verdict="clean" ;;
        1) verdict="MISMATCHES"; status=1 ;;
        124) verdict="TIMEOUT after ${PER_FORMAT}s"; status=1 ;;
        *) verdict="error rc=$rc"; status=1 ;;
    esac
    say "$f: $verdict in $((SECONDS - t0)) s"
done
"$PY" - "$OUT" <<'EOF' | tee -a "$SUMMARY"
import glob, json, sys
for path in sorted(glob.glob(f"{sys.argv[1]}/torch-*.*.json")):
    r = json.load(open(path))
    for c in r["cases"]:
        classes = {k: v["count"] for k, v in c["classes"].items()}
        print(f"{c['direction']:<26} {c['inputs']:>12} inputs {c['mismatches']:>10} mismatches "
              f"{c['seconds']:>7.1f} s {classes or ''}")
EOF
say "total ${SECONDS} s, exit status $status"
exit $status
