//! Where the time of a 2^20-element conversion goes, without Python:
//! qformat's `encode_slice`/`round_slice` against a bf16 bit-trick loop
//! run the same ways (one thread, `par_chunks`, and the walk it replaced:
//! every chunk handed to rayon's pool), the kernel alone on the calling
//! thread, and the round trip of an empty rayon job. The contenders are called in turn,
//! one call each per round, so that a change in the machine's load falls
//! on all of them alike.
//!
//! `RAYON_NUM_THREADS=2 cargo run --release --example small_calls [log2n] [rounds]`
use std::time::Instant;

use qformat_core::fast::slices::{encode_slice, round_slice, Conversion};
use qformat_core::fast::words::{par_chunks, Bits, CHUNK};
use qformat_core::format::float_builtin;
use qformat_core::EncodeOptions;

/// The hand loop of `benches/limits.c`: bf16 nearest even by the bit trick.
#[inline(always)]
fn bf16_rne(x: u32) -> u32 {
    let rounded = x.wrapping_add(0x7fff + ((x >> 16) & 1)) >> 16;
    let quiet = (x >> 16) | 0x40;
    if x & 0x7fff_ffff > 0x7f80_0000 {
        quiet
    } else {
        rounded
    }
}

/// `dst[i] = f(src[i])` compiled for AVX-512 where the CPU has it (the C
/// loops are built with `-march=native`).
fn hand<D: Copy, F: Fn(u32) -> D>(src: &[u32], dst: &mut [D], f: F) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512bw") {
        // SAFETY: the features were just detected.
        return unsafe { hand_avx512(src, dst, f) };
    }
    hand_loop(src, dst, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
unsafe fn hand_avx512<D: Copy, F: Fn(u32) -> D>(src: &[u32], dst: &mut [D], f: F) {
    hand_loop(src, dst, f)
}

#[inline(always)]
fn hand_loop<D: Copy, F: Fn(u32) -> D>(src: &[u32], dst: &mut [D], f: F) {
    for (o, &x) in dst.iter_mut().zip(src) {
        *o = f(x);
    }
}

#[inline(always)]
fn enc(x: u32) -> u16 {
    bf16_rne(x) as u16
}

#[inline(always)]
fn rnd(x: u32) -> u32 {
    bf16_rne(x) << 16
}

/// The walk `par_chunks` had before: every chunk handed to rayon's pool,
/// the caller waiting.
fn pool_chunks<D: Bits>(src: &[u32], dst: &mut [D], f: impl Fn(usize, &[u32], &mut [D]) + Sync) {
    use rayon::prelude::*;
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (d, s))| f(c * CHUNK, s, d));
}

type Case<'a> = (&'static str, Box<dyn FnMut() + 'a>);

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let n = 1usize << args.first().copied().unwrap_or(20);
    let rounds = args.get(1).copied().unwrap_or(300);
    let mut s = 0x9e37_79b9u32;
    let src: Vec<u32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s & 0x3fff_ffff) | 0x3000_0000
        })
        .collect();
    let (fp32, bf16, fp8) = (
        &float_builtin("fp32"),
        &float_builtin("bf16"),
        &float_builtin("fp8_e4m3fn"),
    );
    let o = EncodeOptions::default();
    let draws = o.seeded();
    let conv = Conversion::<u16>::new(fp32, bf16, &o, false).unwrap();
    let src = &src;
    let (mut a16, mut b16, mut d16, mut e16) =
        (vec![0u16; n], vec![0u16; n], vec![0u16; n], vec![0u16; n]);
    let (mut g16, mut i16, mut j16) = (vec![0u16; n], vec![0u16; n], vec![0u16; n]);
    let (mut a8, mut a32, mut b32) = (vec![0u8; n], vec![0u32; n], vec![0u32; n]);
    let mut cases: Vec<Case> = vec![
        (
            "empty rayon::join from outside the pool",
            Box::new(|| {
                rayon::join(|| (), || ());
            }),
        ),
        (
            "hand bf16 encode, this thread",
            Box::new(|| hand(src, &mut a16, enc)),
        ),
        (
            "hand bf16 encode, par_chunks",
            Box::new(|| par_chunks(src, &mut b16, |_, s, d| hand(s, d, enc))),
        ),
        (
            "bf16 kernel alone, this thread",
            Box::new(|| {
                for (k, (s, d)) in src.chunks(CHUNK).zip(d16.chunks_mut(CHUNK)).enumerate() {
                    conv.run_chunk(k * CHUNK, s, d, &draws);
                }
            }),
        ),
        (
            "bf16 kernel, par_chunks",
            Box::new(|| {
                par_chunks(src, &mut g16, |b, s, d| {
                    conv.run_chunk(b, s, d, &draws);
                })
            }),
        ),
        (
            "bf16 kernel, pool chunks (before)",
            Box::new(|| {
                pool_chunks(src, &mut i16, |b, s, d| {
                    conv.run_chunk(b, s, d, &draws);
                })
            }),
        ),
        (
            "hand bf16 encode, pool chunks (before)",
            Box::new(|| pool_chunks(src, &mut j16, |_, s, d| hand(s, d, enc))),
        ),
        (
            "Conversion::new bf16",
            Box::new(|| {
                std::hint::black_box(Conversion::<u16>::new(fp32, bf16, &o, false).unwrap());
            }),
        ),
        (
            "encode_slice bf16",
            Box::new(|| encode_slice(fp32, src, bf16, &mut e16, &o).unwrap()),
        ),
        (
            "encode_slice fp8_e4m3fn",
            Box::new(|| encode_slice(fp32, src, fp8, &mut a8, &o).unwrap()),
        ),
        (
            "hand bf16 round, par_chunks",
            Box::new(|| par_chunks(src, &mut b32, |_, s, d| hand(s, d, rnd))),
        ),
        (
            "round_slice bf16",
            Box::new(|| round_slice(fp32, src, bf16, &mut a32, &o).unwrap()),
        ),
    ];
    let mut times = vec![Vec::with_capacity(rounds); cases.len()];
    for (_, f) in cases.iter_mut() {
        f();
    }
    for _ in 0..rounds {
        for (t, (_, f)) in times.iter_mut().zip(cases.iter_mut()) {
            let s = Instant::now();
            f();
            t.push(s.elapsed().as_secs_f64() * 1e6);
        }
    }
    println!(
        "n = {n}, {} rayon threads, {rounds} rounds",
        rayon::current_num_threads()
    );
    for (t, (name, _)) in times.iter_mut().zip(&cases) {
        t.sort_by(f64::total_cmp);
        println!(
            "{name:44} best {:8.1} us  median {:8.1} us",
            t[0],
            t[rounds / 2]
        );
    }
}
