#!/usr/bin/env bash
# Drift check (opt-in, not part of CI): install the NEWEST releases of the
# libraries the profiles reproduce in a scratch virtualenv and run
# `qformat verify` against each. A mismatch or a "guessed" warning is data
# for a new versioned profile in rust/qformat-core/src/policy/profile.rs, not a
# failure of main (main's tests use the pins in constraints.txt).
#   bash scripts/check-latest.sh [SAMPLES]
set -uo pipefail
cd "$(dirname "$0")/.."
samples="${1:-200000}"
venv="$(mktemp -d)/latest"
python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade numpy ml_dtypes torch
"$venv/bin/python" -m pip install --quiet --no-deps -e .
status=0
for against in numpy ml_dtypes torch; do
  echo "== $against: $("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('${against}'))")"
  "$venv/bin/qformat" verify --against "$against" --samples "$samples" \
    --report "$venv/../$against.json" | tail -n 3 || status=1
done
echo "reports in $(dirname "$venv")"
exit $status
