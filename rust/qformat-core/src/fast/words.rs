//! Storage words and the parallel walk every slice conversion shares:
//! unsigned words holding bit patterns ([`Bits`]), integer source words
//! ([`IntWord`]), and fixed chunks over rayon ([`CHUNK`]), so that
//! stochastic draws, which depend on the flat index only, never depend on
//! the thread count.

use rayon::prelude::*;

use crate::engine::value::Value;

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
/// plain slice loop the compiler can see through.
pub fn par_chunks<S: Copy + Send + Sync, D: Bits, F>(src: &[S], dst: &mut [D], f: F)
where
    F: Fn(usize, &[S], &mut [D]) + Sync,
{
    dst.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .enumerate()
        .for_each(|(c, (d, s))| f(c * CHUNK, s, d));
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
