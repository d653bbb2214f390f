//! Byte-range helpers shared by the typed views.
//!
//! Every view in this crate follows the same length contract: `new_checked`
//! verifies the buffer is long enough for every fixed field, after which the
//! accessors index with the named ranges below and cannot go out of bounds.
//! Anything located by a pointer read from the data (strings, chained headers,
//! device lists) is read with the `get_*` helpers, which return `None` instead
//! of panicking.

use core::fmt;
use core::ops::Range;

/// A byte range inside a structure, named after the field it holds.
pub type Field = Range<usize>;

/// A buffer is shorter than the structure read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooShort {
    /// Bytes the structure needs.
    pub needed: usize,
    /// Bytes the buffer has.
    pub len: usize,
}

impl fmt::Display for TooShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "needs {} bytes but only {} are present",
            self.needed, self.len
        )
    }
}

/// Returns `Err(TooShort)` unless `buffer` holds at least `needed` bytes.
pub(crate) fn check_len(buffer: &[u8], needed: usize) -> Result<(), TooShort> {
    if buffer.len() < needed {
        Err(TooShort {
            needed,
            len: buffer.len(),
        })
    } else {
        Ok(())
    }
}

/// Little-endian u16 from a field of a length-checked buffer.
pub(crate) fn le16(buffer: &[u8], field: Field) -> u16 {
    u16::from_le_bytes([buffer[field.start], buffer[field.start + 1]])
}

/// Little-endian u32 from a field of a length-checked buffer.
pub(crate) fn le32(buffer: &[u8], field: Field) -> u32 {
    let b = &buffer[field];
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

pub(crate) fn set_le16(buffer: &mut [u8], field: Field, value: u16) {
    buffer[field].copy_from_slice(&value.to_le_bytes());
}

/// Little-endian u16 at any offset; `None` past the end.
pub fn get_le16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// The NUL-terminated string starting at `at`, without its terminator.
/// `None` if `at` is out of range or no NUL follows inside `bytes`.
pub fn get_cstr(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let tail = bytes.get(at..)?;
    let end = tail.iter().position(|&b| b == 0)?;
    Some(&tail[..end])
}

/// Wrapping byte sum: option ROM structures are valid when this is 0.
pub fn sum8(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b))
}

/// The byte that, stored in a slot currently holding `slot`, makes a region
/// whose sum is `sum` add up to 0.
pub fn fix_byte(sum: u8, slot: u8) -> u8 {
    slot.wrapping_sub(sum)
}

/// Prints bytes as text when they are printable ASCII, else as hex.
pub struct Printable<'a>(pub &'a [u8]);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| (0x20..0x7f).contains(b)) {
            write!(f, "\"")?;
            for &b in self.0 {
                write!(f, "{}", b as char)?;
            }
            write!(f, "\"")
        } else {
            for (i, b) in self.0.iter().enumerate() {
                if i > 0 {
                    write!(f, " ")?;
                }
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getters_stop_at_the_end() {
        assert_eq!(get_le16(&[1, 2, 3], 1), Some(0x0302));
        assert_eq!(get_le16(&[1, 2, 3], 2), None);
        assert_eq!(get_le16(&[], usize::MAX), None);
        assert_eq!(get_cstr(b"ab\0cd", 0), Some(&b"ab"[..]));
        assert_eq!(get_cstr(b"ab\0cd", 3), None); // unterminated
        assert_eq!(get_cstr(b"ab", 9), None);
    }

    #[test]
    fn fix_byte_zeroes_the_sum() {
        let mut data = [0x12u8, 0x34, 0x00, 0x99];
        data[2] = fix_byte(sum8(&data), data[2]);
        assert_eq!(sum8(&data), 0);
        // Idempotent once fixed.
        assert_eq!(fix_byte(sum8(&data), data[2]), data[2]);
    }
}
