//! Times the integer code pass (int8, one scale) in nearest even, toward
//! zero and stochastic rounding on 2^25 float32 values into reused outputs,
//! codes and fake-quantized values, the contenders called in turn:
//! `RAYON_NUM_THREADS=2 cargo run --release --example int_modes [log2n] [rounds]`.
use qformat_core::quant::{fake_quantize, quantize, Arithmetic, Layout, QuantOptions};
use qformat_core::RoundingMode;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let n = 1usize << args.first().copied().unwrap_or(25);
    let rounds = args.get(1).copied().unwrap_or(7);
    let mut s = 0x9e37_79b9u32;
    let x: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            f32::from_bits((s & 0x807f_ffff) | ((s >> 8 & 7) + 124) << 23)
        })
        .collect();
    let l = Layout::new(&[n], None, None).unwrap();
    let scale = [(16.0f32 / 127.0) as f64];
    let opts = |rounding| QuantOptions {
        rounding,
        seed: 1,
        arithmetic: Arithmetic::Exact,
        qmin: -127,
        qmax: 127,
        nan: None,
    };
    let modes = [
        RoundingMode::NearestEven,
        RoundingMode::TowardZero,
        RoundingMode::Stochastic,
    ];
    let (mut fake, mut codes) = (vec![0f32; n], vec![0u8; n]);
    let mut best = [[f64::MAX; 3]; 2];
    for _ in 0..rounds {
        for (m, &mode) in modes.iter().enumerate() {
            let o = opts(mode);
            let t = Instant::now();
            fake_quantize(&x, &l, &scale, &[0], &o, &mut fake).unwrap();
            best[0][m] = best[0][m].min(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            quantize(&x, &l, &scale, &[0], &o, &mut codes).unwrap();
            best[1][m] = best[1][m].min(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!(
        "n = {n}, {} threads, best of {rounds}",
        rayon::current_num_threads()
    );
    for (k, name) in ["fake_quantize", "quantize"].iter().enumerate() {
        let b = best[k];
        println!(
            "{name:14} nearest {:7.2} ms  toward_zero {:7.2} ms ({:.2}x)  stochastic {:7.2} ms ({:.2}x)",
            b[0], b[1], b[0] / b[1], b[2], b[0] / b[2]
        );
    }
}
