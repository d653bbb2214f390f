//! Wire formats: typed, length-checked views over byte slices.
//!
//! Every protocol follows smoltcp's pattern: a `Packet<T: AsRef<[u8]>>` view
//! (`new_checked` on input, `new_unchecked` on output buffers) with accessors
//! through named field ranges, and a validated `Repr` with `parse` and `emit`.
//! Numbers are big-endian on the wire unless a module says otherwise.

/// The one error a parser reports: the bytes are not a valid packet of this
/// kind (too short, bad field, bad checksum). Malformed frames are dropped, so
/// callers never need more detail than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error;

/// Result of a wire-level parse.
pub type Result<T> = core::result::Result<T, Error>;
