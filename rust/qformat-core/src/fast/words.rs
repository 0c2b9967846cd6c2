//! Storage words and the parallel walk every slice conversion shares:
//! unsigned words holding bit patterns ([`Bits`]), integer source words
//! ([`IntWord`]), and fixed chunks over rayon ([`CHUNK`]), so that
//! stochastic draws, which depend on the flat index only, never depend on
//! the thread count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
///
/// The calling thread takes chunks too, beside as many pool workers as
/// make the pool's thread count (a pool of one runs it all on the caller,
/// and so does a call of one chunk): each thread claims the next unclaimed
/// chunk, so the load still balances, but a call no longer waits for a
/// worker to wake before any work starts, nor for the caller to be woken
/// after it ends (see [`Claims::wait_for_helpers`]): at 2^20 elements those
/// two wake-ups were a visible part of the call.
pub fn par_chunks<S: Copy + Send + Sync, D: Bits, F>(src: &[S], dst: &mut [D], f: F)
where
    F: Fn(usize, &[S], &mut [D]) + Sync,
{
    let claims = Claims::new(src, dst);
    let helpers = rayon::current_num_threads()
        .min(claims.pieces.len())
        .saturating_sub(1);
    if helpers == 0 {
        claims.work(&f);
        return;
    }
    rayon::in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| claims.work(&f));
        }
        claims.work(&f);
        claims.wait_for_helpers();
    });
}

/// One chunk of a [`par_chunks`] call: its source and its destination.
type Piece<'a, S, D> = (&'a [S], &'a mut [D]);

/// The chunks of one [`par_chunks`] call, each claimed by exactly one thread.
struct Claims<'a, S, D> {
    /// Chunk `k` (its source and destination), taken by its claimant.
    pieces: Vec<Mutex<Option<Piece<'a, S, D>>>>,
    /// The next chunk to claim.
    next: AtomicUsize,
    /// Chunks finished.
    done: AtomicUsize,
}

impl<'a, S, D> Claims<'a, S, D> {
    fn new(src: &'a [S], dst: &'a mut [D]) -> Self {
        let pieces = src
            .chunks(CHUNK)
            .zip(dst.chunks_mut(CHUNK))
            .map(|p| Mutex::new(Some(p)))
            .collect();
        Claims {
            pieces,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
        }
    }

    /// Claim chunks and run `f` on each until none is left.
    fn work(&self, f: &impl Fn(usize, &[S], &mut [D])) {
        loop {
            let k = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(piece) = self.pieces.get(k) else {
                return;
            };
            // The lock is held only to take the piece, never while `f` runs.
            let taken = piece.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some((s, d)) = taken {
                f(k * CHUNK, s, d);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    /// Once no chunk is left to claim, the helpers are finishing at most
    /// one chunk each: spin until they have (up to [`SPIN`]) rather than
    /// sleep, since rayon's blocking wait would need a wake-up of its own.
    fn wait_for_helpers(&self) {
        let start = Instant::now();
        while self.done.load(Ordering::Acquire) < self.pieces.len() && start.elapsed() < SPIN {
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
    }
}

/// The longest [`Claims::wait_for_helpers`] spins: more than one chunk's
/// work, after which a helper that has not finished is probably not running
/// (a loaded machine), and the caller sleeps in rayon's wait instead.
const SPIN: Duration = Duration::from_micros(200);

/// How many leading elements of `s` come before the first one that starts
/// a 64-byte cache line (all of them where none does). A streaming kernel
/// that starts there reads whole lines with its 64-byte loads; NumPy's large
/// arrays start 16 bytes past a page, where every such load of the chunk
/// would straddle two lines.
pub fn line_head<S>(s: &[S]) -> usize {
    s.as_ptr().align_offset(64).min(s.len())
}

/// `dst[i] = f(i, src[i])` over fixed chunks in parallel ([`par_chunks`]).
pub fn par_map<S: Copy + Send + Sync, D: Bits, F>(src: &[S], dst: &mut [D], f: F)
where
    F: Fn(usize, S) -> D + Sync,
{
    par_chunks(src, dst, |base, s, d| {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `par_chunks` in pools of `threads` (0: the global pool, called from
    /// outside it): every element once, with its own flat index.
    fn indices_seen(len: usize, threads: usize) -> Vec<u64> {
        let src: Vec<u32> = (0..len as u32).collect();
        let mut dst = vec![u64::MAX; len];
        let run = |dst: &mut [u64]| {
            par_chunks(&src, dst, |base, s, d| {
                assert!(s.len() <= CHUNK && s.len() == d.len());
                for (j, (o, &x)) in d.iter_mut().zip(s).enumerate() {
                    assert_eq!(*o, u64::MAX, "element {} written twice", base + j);
                    *o = ((base + j) as u64) << 32 | x as u64;
                }
            })
        };
        if threads == 0 {
            run(&mut dst);
        } else {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| run(&mut dst));
        }
        dst
    }

    #[test]
    fn every_chunk_runs_once_at_its_own_index_on_any_thread_count() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 7] {
            for threads in [0, 1, 2, 3, 8] {
                let seen = indices_seen(len, threads);
                for (i, &v) in seen.iter().enumerate() {
                    // The index the kernel was told, and the element it was given.
                    assert_eq!(
                        v,
                        (i as u64) << 32 | i as u64,
                        "len {len}, {threads} threads"
                    );
                }
            }
        }
    }

    #[test]
    fn line_head_reaches_the_first_line_start() {
        let words = [0u32; 64];
        for k in 0..32 {
            let s = &words[k..];
            let h = line_head(s);
            assert!(
                h < 16 && (s.as_ptr() as usize + 4 * h).is_multiple_of(64),
                "offset {k}"
            );
            assert_eq!(
                line_head(&s[..h.min(3)]),
                h.min(3),
                "a short slice is all head"
            );
        }
    }

    #[test]
    fn par_map_passes_each_flat_index() {
        let src: Vec<u32> = (0..3 * CHUNK as u32 + 5).map(|i| i ^ 0x55).collect();
        let mut dst = vec![0u32; src.len()];
        par_map(&src, &mut dst, |i, x| x ^ 0x55 ^ i as u32);
        assert!(dst.iter().all(|&v| v == 0));
    }

    #[test]
    fn a_panicking_chunk_reaches_the_caller() {
        let src = vec![0u8; 4 * CHUNK];
        let mut dst = vec![0u8; src.len()];
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            par_chunks(&src, &mut dst, |base, _, _| assert_ne!(base, 2 * CHUNK));
        }));
        assert!(caught.is_err());
    }
}
