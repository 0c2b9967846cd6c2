//! Which options a conversion runs with: the per-library, per-release
//! rules ([`profile`], matched on layouts, never names) and the one place
//! where a profile and the caller's given options become a conversion's
//! options ([`resolve`]: an option the caller gives always wins).

pub mod profile;
pub mod resolve;
