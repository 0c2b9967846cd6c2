//! Times the slice kernels on 2^25 float32 values (single and all threads):
//! `cargo run --release --example kernel_speed`.
use qformat_core::fast::slices::encode_slice;
use qformat_core::format::float_builtin;
use qformat_core::EncodeOptions;
use std::time::Instant;

fn main() {
    let n = 1usize << 25;
    let mut s = 0x9e37_79b9u32;
    let src: Vec<u32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s & 0x3fff_ffff) | 0x3000_0000
        })
        .collect();
    let fp32 = float_builtin("fp32");
    {
        let mut out = vec![0u16; n];
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            shift_only(&src, &mut out);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("shift-only: {:.1} ms", best * 1e3);
        let k = qformat_core::fast::fp32::Fp32Narrowing::new(
            &float_builtin("fp16"),
            &EncodeOptions::default(),
        )
        .unwrap();
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            direct(k, &src, &mut out);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("direct fp16 single thread: {:.1} ms", best * 1e3);
    }
    for name in ["bf16", "fp16", "fp8_e4m3fn"] {
        let f = float_builtin(name);
        let mut out = vec![0u16; n];
        let opts = EncodeOptions::default();
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            encode_slice(&fp32, &src, &f, &mut out, &opts).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{name}: {:.1} ms ({:.2} GB/s read)",
            best * 1e3,
            (n * 4) as f64 / best / 1e9
        );
    }
}

#[allow(dead_code)]
fn shift_only(src: &[u32], out: &mut [u16]) {
    qformat_core::fast::words::par_map(src, out, |_, x| (x >> 16) as u16);
}

#[inline(never)]
pub fn direct(k: qformat_core::fast::fp32::Fp32Narrowing, src: &[u32], out: &mut [u16]) {
    for (o, &x) in out.iter_mut().zip(src) {
        *o = k.convert(x, 0) as u16;
    }
}
