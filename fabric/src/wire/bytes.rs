//! Big-endian field access and the `enum_with_unknown!` helper shared by the
//! wire modules.
//!
//! Every reader takes a slice that starts at the field, so callers write
//! `read_u16(&data[field::LENGTH])`: the named range does the bounds work, and
//! a `Packet` whose `check_len` passed can never index past its buffer.

/// True when built by cargo-fuzz (`--cfg fuzzing`): checksum and ICRC checks
/// then always pass, so a fuzzer's inputs get past them to the parsers behind.
#[allow(unexpected_cfgs)]
pub(crate) const FUZZING: bool = cfg!(fuzzing);

/// Reads a big-endian `u16` from the first two bytes of `b`.
#[inline]
pub(crate) fn read_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads a big-endian 24-bit value from the first three bytes of `b`.
#[inline]
pub(crate) fn read_u24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

/// Reads a big-endian `u32` from the first four bytes of `b`.
#[inline]
pub(crate) fn read_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Reads a big-endian `u64` from the first eight bytes of `b`.
#[inline]
pub(crate) fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Writes `v` big-endian into the first two bytes of `b`.
#[inline]
pub(crate) fn write_u16(b: &mut [u8], v: u16) {
    b[..2].copy_from_slice(&v.to_be_bytes())
}

/// Writes the low 24 bits of `v` big-endian into the first three bytes of `b`.
#[inline]
pub(crate) fn write_u24(b: &mut [u8], v: u32) {
    b[..3].copy_from_slice(&v.to_be_bytes()[1..])
}

/// Writes `v` big-endian into the first four bytes of `b`.
#[inline]
pub(crate) fn write_u32(b: &mut [u8], v: u32) {
    b[..4].copy_from_slice(&v.to_be_bytes())
}

/// Writes `v` big-endian into the first eight bytes of `b`.
#[inline]
pub(crate) fn write_u64(b: &mut [u8], v: u64) {
    b[..8].copy_from_slice(&v.to_be_bytes())
}

/// Copies a fixed-size array out of the start of `b`.
#[inline]
pub(crate) fn read_array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// Declares a C-like enum over an integer type that also keeps every value it
/// has no name for (`Unknown(raw)`), with `From` conversions both ways. A new
/// code point on the wire is then neither a parse error nor lost when the
/// value is printed or re-emitted.
macro_rules! enum_with_unknown {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
            /// A value without a name here, kept exactly as received.
            Unknown($ty),
        }

        impl ::core::convert::From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( v if v == $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

pub(crate) use enum_with_unknown;

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn round_trips() {
        let mut b = [0xA5u8; 8];
        write_u16(&mut b, 0x1234);
        assert_eq!(read_u16(&b), 0x1234);
        write_u24(&mut b, 0xFF_ABCDEF);
        assert_eq!(&b[..4], &[0xAB, 0xCD, 0xEF, 0xA5]);
        assert_eq!(read_u24(&b), 0xABCDEF);
        write_u32(&mut b, 0xDEAD_BEEF);
        assert_eq!(read_u32(&b), 0xDEAD_BEEF);
        write_u64(&mut b, 0x0102_0304_0506_0708);
        assert_eq!(read_u64(&b), 0x0102_0304_0506_0708);
        assert_eq!(read_array::<3>(&b), [1, 2, 3]);
    }

    enum_with_unknown! {
        /// Test enum.
        pub enum Colour(u8) {
            /// Red.
            Red = 1,
            /// Blue.
            Blue = 7,
        }
    }

    #[test]
    fn unknown_values_survive() {
        assert_eq!(Colour::from(7), Colour::Blue);
        assert_eq!(Colour::from(9), Colour::Unknown(9));
        assert_eq!(u8::from(Colour::Unknown(9)), 9);
        assert_eq!(u8::from(Colour::Red), 1);
    }
}
