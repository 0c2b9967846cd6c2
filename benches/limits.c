/* The physical limit of a streaming float32 conversion: the shortest loops
 * that do the same memory traffic as qformat's kernels, compiled by
 * benches/bench_limits.py with `gcc -O3 -march=native -fopenmp` and called
 * through ctypes. They are a yardstick, not a specification: NaNs are
 * quieted and nothing else is special-cased, which is all bf16 needs. Every
 * loop is split statically over the OpenMP threads (`lim_threads`). */
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

void lim_threads(int n) { omp_set_num_threads(n); }

int lim_max_threads(void) { return omp_get_max_threads(); }

/* memcpy of n bytes in one contiguous piece per thread. */
void lim_copy(void *dst, const void *src, size_t n) {
#pragma omp parallel
  {
    size_t t = (size_t)omp_get_thread_num(), k = (size_t)omp_get_num_threads();
    size_t lo = n * t / k, hi = n * (t + 1) / k;
    memcpy((char *)dst + lo, (const char *)src + lo, hi - lo);
  }
}

/* float32 pattern -> bf16 pattern, round to nearest even; NaN -> quiet NaN. */
static inline uint32_t bf16_rne(uint32_t x) {
  uint32_t r = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
  uint32_t nan = (x >> 16) | 0x40u;
  return ((x & 0x7fffffffu) > 0x7f800000u) ? nan : r;
}

/* float32 pattern -> bf16 pattern, toward zero (NaN -> quiet NaN). */
static inline uint32_t bf16_rtz(uint32_t x) {
  uint32_t r = x >> 16;
  return ((x & 0x7fffffffu) > 0x7f800000u) ? (r | 0x40u) : r;
}

void lim_bf16_encode(uint16_t *dst, const uint32_t *src, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) dst[i] = (uint16_t)bf16_rne(src[i]);
}

void lim_bf16_round(uint32_t *dst, const uint32_t *src, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) dst[i] = bf16_rne(src[i]) << 16;
}

void lim_bf16_round_rtz(uint32_t *dst, const uint32_t *src, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) dst[i] = bf16_rtz(src[i]) << 16;
}

/* bf16 stochastic rounding with a counter-based draw (SplitMix64 finaliser
 * of seed + index): the top 16 bits of one draw are added below the cut. */
static inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void lim_bf16_round_stochastic(uint32_t *dst, const uint32_t *src, size_t n,
                               uint64_t seed) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    uint32_t x = src[i];
    uint32_t r = (uint32_t)(mix64(seed + i * 0x9e3779b97f4a7c15ull) >> 48);
    uint32_t q = ((x + r) >> 16) << 16;
    dst[i] = ((x & 0x7fffffffu) >= 0x7f800000u) ? (x | ((x & 0x7fffffu) ? 0x400000u : 0)) : q;
  }
}

/* Decode: 8-bit codes through a 256-entry table, bf16 codes by a shift. */
void lim_decode_u8(uint32_t *dst, const uint8_t *src, const uint32_t *table, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) dst[i] = table[src[i]];
}

void lim_decode_bf16(uint32_t *dst, const uint16_t *src, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) dst[i] = (uint32_t)src[i] << 16;
}

/* int8 per-tensor fake quantization: clamp(rint(x / s), -127, 127) * s. */
void lim_fake_quant_int8(float *dst, const float *src, size_t n, float scale) {
  float inv = 1.0f / scale;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    float q = __builtin_rintf(src[i] * inv);
    q = q < -127.0f ? -127.0f : (q > 127.0f ? 127.0f : q);
    dst[i] = q * scale;
  }
}
