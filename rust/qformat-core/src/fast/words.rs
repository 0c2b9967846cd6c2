//! Storage words and the parallel walk every slice conversion shares:
//! unsigned words holding bit patterns ([`Bits`]), integer source words
//! ([`IntWord`]), and fixed chunks over rayon ([`CHUNK`]), so that
//! stochastic draws, which depend on the flat index only, never depend on
//! the thread count.

use std::sync::atomic::{AtomicU8, Ordering};

use rayon::prelude::*;

use crate::engine::value::Value;
use crate::fast::simd::{store_fence, Streamer, LINE};

/// Elements per parallel task: big enough to amortise scheduling, small
/// enough to balance two to a hundred cores.
pub const CHUNK: usize = 1 << 16;

/// Unsigned storage words (u8/u16/u32/u64) holding a bit pattern.
pub trait Bits: Copy + Send + Sync + Default + 'static {
    fn to_u64(self) -> u64;
    fn from_u64(x: u64) -> Self;
}

macro_rules! impl_bits {
    ($($t:ty),*) => {$(
        impl Bits for $t {
            #[inline(always)]
            fn to_u64(self) -> u64 { self as u64 }
            #[inline(always)]
            fn from_u64(x: u64) -> Self { x as $t }
        }
    )*};
}
impl_bits!(u8, u16, u32, u64);

/// Integer source words (i64 or u64) read exactly.
pub trait IntWord: Copy + Send + Sync + 'static {
    fn value(self) -> Value;
}
impl IntWord for i64 {
    #[inline]
    fn value(self) -> Value {
        Value::from_i64(self)
    }
}
impl IntWord for u64 {
    #[inline]
    fn value(self) -> Value {
        Value::from_u64(self)
    }
}

/// `f(first_index, src_chunk, dst_chunk)` over fixed chunks in parallel.
/// Kernels that vectorise take whole chunks so that their inner loop is a
/// plain slice loop the compiler can see through. An output past the
/// streaming threshold ([`streams`]) is written through a small tile by
/// non-temporal stores (see [`streamed_chunk`]); `f` sees the same first
/// indices and elements either way, so the results do not change.
pub fn par_chunks<S: Copy + Send + Sync, D: Bits, F>(src: &[S], dst: &mut [D], f: F)
where
    F: Fn(usize, &[S], &mut [D]) + Sync,
{
    let streamer = streams(std::mem::size_of_val(dst)).then(Streamer::chosen);
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (d, s))| match streamer {
            Some(st) if st != Streamer::None => streamed_chunk(st, c * CHUNK, s, d, &f),
            _ => f(c * CHUNK, s, d),
        });
}

/// Bytes of the stack tile a streamed chunk is converted into: small enough
/// to stay in the first-level cache next to the source tile it comes from.
const TILE_BYTES: usize = 16 << 10;

/// One chunk of [`par_chunks`] with its output written by non-temporal
/// stores: the elements before `d`'s first cache-line boundary go straight
/// to `d`; the rest are converted a tile at a time into a stack buffer,
/// whose whole lines are streamed out (the last partial line is copied).
/// `f` is called with the elements' own first indices, so index-dependent
/// results (stochastic draws) are those of the unstaged walk.
fn streamed_chunk<S, D: Bits, F>(st: Streamer, base: usize, s: &[S], d: &mut [D], f: &F)
where
    F: Fn(usize, &[S], &mut [D]),
{
    let size = std::mem::size_of::<D>();
    let head = d.as_ptr().align_offset(LINE).min(d.len());
    if head > 0 {
        f(base, &s[..head], &mut d[..head]);
    }
    let mut buf = [0u64; TILE_BYTES / 8];
    // SAFETY: every `Bits` word is a plain unsigned integer of at most 8
    // bytes (any bit pattern is valid, alignment at most u64's).
    let tile: &mut [D] =
        unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), TILE_BYTES / size) };
    let mut i = head;
    while i < d.len() {
        let n = tile.len().min(d.len() - i);
        let whole = n * size / LINE * LINE / size;
        f(base + i, &s[i..i + n], &mut tile[..n]);
        st.lines(as_bytes(&tile[..whole]), as_bytes_mut(&mut d[i..i + whole]));
        d[i + whole..i + n].copy_from_slice(&tile[whole..n]);
        i += n;
    }
    store_fence();
}

/// The bytes of a slice of words.
fn as_bytes<D: Bits>(w: &[D]) -> &[u8] {
    // SAFETY: plain integers, read as bytes for the same span.
    unsafe { std::slice::from_raw_parts(w.as_ptr().cast(), std::mem::size_of_val(w)) }
}

/// The bytes of a writable slice of words.
fn as_bytes_mut<D: Bits>(w: &mut [D]) -> &mut [u8] {
    // SAFETY: plain integers (any byte pattern is a valid word), the same span.
    unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast(), std::mem::size_of_val(w)) }
}

/// When [`par_chunks`] streams its output: by size (the default), always or
/// never (tests prove the streamed walk equal to the plain one; benches
/// time them against each other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Streaming {
    BySize,
    Always,
    Never,
}

static STREAMING: AtomicU8 = AtomicU8::new(0);

/// Set when [`par_chunks`] streams its output, in every thread. Only speed
/// depends on it.
pub fn force_streaming(mode: Streaming) {
    let code = match mode {
        Streaming::BySize => 0,
        Streaming::Always => 1,
        Streaming::Never => 2,
    };
    STREAMING.store(code, Ordering::Relaxed);
}

/// Outputs of at least this many bytes are streamed by default.
pub const STREAM_BYTES: usize = 32 << 20;

/// Whether an output of `bytes` is written by non-temporal stores.
fn streams(bytes: usize) -> bool {
    match STREAMING.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => bytes >= STREAM_BYTES,
    }
}

/// `dst[i] = f(i, src[i])` over fixed chunks in parallel.
pub fn par_map<S: Copy + Send + Sync, D: Bits, F>(src: &[S], dst: &mut [D], f: F)
where
    F: Fn(usize, S) -> D + Sync,
{
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (d, s))| {
            let base = c * CHUNK;
            for (j, (o, &x)) in d.iter_mut().zip(s).enumerate() {
                *o = f(base + j, x);
            }
        });
}

/// `s` seen as words of type `T` when `S` is `T` (None otherwise), so that
/// a routine generic over the word type can hand a kernel written for one
/// word type the slice it takes.
pub fn same_words<S: Bits, T: Bits>(s: &[S]) -> Option<&[T]> {
    (std::any::TypeId::of::<S>() == std::any::TypeId::of::<T>()).then(|| {
        // SAFETY: S and T are the same type.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<T>(), s.len()) }
    })
}

/// [`same_words`] for a writable slice.
pub fn same_words_mut<S: Bits, T: Bits>(s: &mut [S]) -> Option<&mut [T]> {
    (std::any::TypeId::of::<S>() == std::any::TypeId::of::<T>()).then(|| {
        // SAFETY: S and T are the same type, and `s` is borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<T>(), s.len()) }
    })
}
