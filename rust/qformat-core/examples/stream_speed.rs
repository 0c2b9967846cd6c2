//! Streaming stores against ordinary ones, alternated in one process: each
//! slice conversion with its output written through the cache and by
//! non-temporal stores, into a reused output (`out=`) and into a fresh one
//! (allocating), best of 7 each. `RAYON_NUM_THREADS=2 cargo run --release
//! --example stream_speed [log2n ...]`.
use qformat_core::fast::slices::{decode_slice, encode_slice, round_slice};
use qformat_core::fast::words::{force_streaming, Bits, Streaming};
use qformat_core::format::float_builtin;
use qformat_core::EncodeOptions;
use std::time::Instant;

/// Best time in ms of `run` over `reps` calls, given a fresh or the same output.
fn best<D: Bits>(n: usize, fresh: bool, reps: usize, run: &dyn Fn(&mut [D])) -> f64 {
    let mut out = vec![D::default(); n];
    run(&mut out);
    let mut b = f64::MAX;
    for _ in 0..reps {
        if fresh {
            out = vec![D::default(); n];
        }
        let t = Instant::now();
        run(&mut out);
        b = b.min(t.elapsed().as_secs_f64() * 1e3);
    }
    b
}

fn compare<D: Bits>(name: &str, n: usize, run: &dyn Fn(&mut [D])) {
    let only = std::env::var("ONLY").unwrap_or_default();
    if !only.split(',').any(|o| name.contains(o)) {
        return;
    }
    let outs: &[bool] = match std::env::var("OUT").as_deref() {
        Ok("out") => &[false],
        Ok("alloc") => &[true],
        _ => &[false, true],
    };
    for &fresh in outs {
        let (mut plain, mut stream) = (f64::MAX, f64::MAX);
        for _ in 0..4 {
            force_streaming(Streaming::Never);
            plain = plain.min(best(n, fresh, 2, run));
            force_streaming(Streaming::Always);
            stream = stream.min(best(n, fresh, 2, run));
        }
        force_streaming(Streaming::BySize);
        println!(
            "{name:28} {:5} n=2^{:2}  plain {plain:8.3} ms  stream {stream:8.3} ms  plain/stream {:.2}x",
            if fresh { "alloc" } else { "out=" },
            n.trailing_zeros(),
            plain / stream
        );
    }
}

fn main() {
    let sizes: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let sizes = if sizes.is_empty() { vec![25, 20] } else { sizes };
    let fp32 = float_builtin("fp32");
    let opts = EncodeOptions::default();
    for log2n in sizes {
        let n = 1usize << log2n;
        let mut s = 0x9e37_79b9u32;
        let src: Vec<u32> = (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s & 0x3fff_ffff) | 0x3000_0000
            })
            .collect();
        for name in ["bf16", "fp16"] {
            let f = float_builtin(name);
            compare::<u16>(&format!("encode {name}"), n, &|o| {
                encode_slice(&fp32, &src, &f, o, &opts).unwrap()
            });
        }
        let e4 = float_builtin("fp8_e4m3fn");
        compare::<u8>("encode fp8_e4m3fn", n, &|o| {
            encode_slice(&fp32, &src, &e4, o, &opts).unwrap()
        });
        for name in ["bf16", "fp16", "fp8_e4m3fn"] {
            let f = float_builtin(name);
            compare::<u32>(&format!("round {name}"), n, &|o| {
                round_slice(&fp32, &src, &f, o, &opts).unwrap()
            });
        }
        let mut c8 = vec![0u8; n];
        encode_slice(&fp32, &src, &e4, &mut c8, &opts).unwrap();
        compare::<u32>("decode fp8_e4m3fn", n, &|o| {
            decode_slice(&e4, &c8, &fp32, o).unwrap()
        });
        let bf = float_builtin("bf16");
        let mut c16 = vec![0u16; n];
        encode_slice(&fp32, &src, &bf, &mut c16, &opts).unwrap();
        compare::<u32>("decode bf16", n, &|o| {
            decode_slice(&bf, &c16, &fp32, o).unwrap()
        });
    }
}
