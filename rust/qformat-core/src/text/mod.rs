//! Number text: reading decimal / hex-float / inf / nan strings exactly
//! ([`read`]), exact rationals ([`rational`]), and printing stored values
//! as exact or shortest decimals ([`print`]). The flags of rounding what
//! was read come out of the engine (`FloatFormat::encode_outcome`).

pub mod print;
pub mod rational;
pub mod read;
