//! Number text: reading decimal / hex-float / inf / nan strings exactly
//! ([`read`]), exact rationals ([`rational`]), what a rounding did
//! ([`outcome`]: exactness and the overflow / underflow flags), and
//! printing stored values as exact or shortest decimals ([`print`]).

pub mod outcome;
pub mod print;
pub mod rational;
pub mod read;
