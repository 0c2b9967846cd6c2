//! Counter-based random numbers for stochastic rounding: the draw for an
//! element depends only on (seed, flat index), so results are identical for
//! any thread count or chunking (the Philox/Threefry idea, here with the
//! SplitMix64 finaliser, which passes BigCrush as a counter-mode generator).

#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform 64-bit draw for element `index` under `seed`.
#[inline]
pub fn draw(seed: u64, index: u64) -> u64 {
    let key = mix64(seed ^ 0x9e37_79b9_7f4a_7c15);
    mix64(mix64(index.wrapping_mul(0xd1b5_4a32_d192_ed03) ^ key).wrapping_add(key))
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_are_uniform_enough() {
        // Mean of the top bit over many indices must be near 1/2.
        let n = 100_000u64;
        let ones: u64 = (0..n).map(|i| super::draw(7, i) >> 63).sum();
        let p = ones as f64 / n as f64;
        assert!((p - 0.5).abs() < 0.01, "{p}");
        assert_ne!(super::draw(1, 5), super::draw(2, 5));
    }
}
