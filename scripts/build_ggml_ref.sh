#!/usr/bin/env bash
# Build llama.cpp's reference quantizers (ggml-quants.c alone) into a shared
# library for the opt-in byte-equality tests (tests/test_gguf_ggml.py):
#
#   scripts/build_ggml_ref.sh /work/ext        # writes /work/ext/libggml-quants-ref.so
#   QFORMAT_GGML_LIB=/work/ext/libggml-quants-ref.so pytest tests/test_gguf_ggml.py
#
# The source comes from llama-cpp-python's sdist (vendor/llama.cpp), fetched
# with pip. Compiled for baseline x86-64 (no -march=native): without FMA the
# compiler cannot contract a*b+c, so every float32 operation rounds once, as
# in qformat's Rust port. The ggml functions the reference quantizers never
# call are stubbed out.
set -euo pipefail
dest=${1:?usage: build_ggml_ref.sh DEST_DIR}
mkdir -p "$dest"
cd "$dest"
# pip saves the sdist only after preparing its metadata, which needs the
# build backend (scikit-build-core) importable: with the backend missing,
# put llama_cpp_python-*.tar.gz into DEST_DIR yourself and rerun.
if ! ls -d llama_cpp_python-*/vendor/llama.cpp >/dev/null 2>&1; then
    ls llama_cpp_python-*.tar.gz >/dev/null 2>&1 ||
        pip download --no-deps --no-binary :all: llama-cpp-python -d .
    tar xzf llama_cpp_python-*.tar.gz
fi
src=$(echo "$PWD"/llama_cpp_python-*/vendor/llama.cpp/ggml)
cat > ggml_ref_stubs.c <<'STUBS'
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
/* Used only by ggml's importance-matrix and type-table paths, never by the
   quantize_row_*_ref functions these tests call. */
void ggml_abort(const char *file, int line, const char *fmt, ...) {
    fprintf(stderr, "ggml_abort at %s:%d: %s\n", file, line, fmt);
    abort();
}
size_t ggml_row_size(int type, int64_t ne) { (void)type; (void)ne; abort(); }
const char *ggml_type_name(int type) { (void)type; return "?"; }
size_t ggml_type_size(int type) { (void)type; abort(); }
STUBS
nice -n 15 gcc -O3 -std=gnu11 -fPIC -shared -DNDEBUG -ffp-contract=off \
    -I"$src/include" -I"$src/src" -I"$src/src/ggml-cpu" \
    "$src/src/ggml-quants.c" ggml_ref_stubs.c -lm -o libggml-quants-ref.so
echo "$PWD/libggml-quants-ref.so"
