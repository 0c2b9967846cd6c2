#!/usr/bin/env bash
# Every x86 conversion instruction this processor has, under all 16 MXCSR
# modes, against qformat's hardware profiles: float32 sources exhaustively
# (2^32 inputs per mode), float16 sources over all 2^16 patterns, float64
# sources on 2^20 structured samples. One instruction at a time (each sweep
# uses every core); one JSON report per instruction under
# docs/verification/reports/ (cpu.<instruction>.json). Long: run it under
# nice, in the background, e.g.
#   nohup nice -n 10 scripts/cpu_sweeps.sh > sweeps.log 2>&1 &
# Instructions the processor lacks end with "not available" (exit 1) and
# leave no report. Pass instruction names to run only those.
set -u
out=docs/verification/reports
f16=(vcvtph2ps vcvtph2psx vcvtsh2ss vcvtsh2si vcvttsh2si)
f32=(vcvtps2ph/imm0 vcvtps2ph/imm1 vcvtps2ph/imm2 vcvtps2ph/imm3 vcvtps2ph/imm4
     vcvtps2phx vcvtneps2bf16 cvtss2sd cvtss2si cvttss2si cvtss2si64 cvttss2si64)
f64=(cvtsd2ss cvtsd2si cvttsd2si cvtsd2si64 cvttsd2si64 vcvtsd2sh)
run() {  # name, extra flags...
    local name=$1; shift
    local file="$out/cpu.${name//\//-}.json"
    echo "== $name $(date -u +%H:%M:%S)"
    /usr/bin/time -f "wall %e s" qformat verify --against cpu --instruction "$name" "$@" \
        --quiet --report "$file" > /dev/null
    echo "   exit $? -> $file"
}
if [ $# -gt 0 ]; then
    for n in "$@"; do
        case " ${f64[*]} " in *" $n "*) run "$n" --samples 1048576 ;; *) run "$n" --exhaustive ;; esac
    done
    exit 0
fi
for n in "${f16[@]}"; do run "$n"; done
for n in "${f64[@]}"; do run "$n" --samples 1048576; done
for n in "${f32[@]}"; do run "$n" --exhaustive; done
