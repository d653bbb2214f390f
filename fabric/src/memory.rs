//! The platform memory that registered regions point into. The soft HCA
//! checks key, bounds and access rights against its region table *before*
//! it calls these, so an implementation only maps addresses to bytes.
//!
//! In the ROM an address is physical (data lands straight in the INT 13h
//! caller's buffer); in host tools and tests it indexes a buffer.

/// Byte-addressed memory the HCA reads and writes on the peer's behalf.
pub trait Memory {
    /// Copies bytes at `addr` into `out`; `false` if the range does not exist.
    fn read(&self, addr: u64, out: &mut [u8]) -> bool;
    /// Copies `data` to `addr`; `false` if the range does not exist.
    fn write(&mut self, addr: u64, data: &[u8]) -> bool;

    /// Copies `len` bytes from `from` to `to` (the ranges do not overlap);
    /// `false` if either does not exist, possibly after copying a part.
    /// The default goes through `bounce`; memory that can do better (the
    /// ROM's: one `memcpy`) overrides it.
    fn copy(&mut self, from: u64, to: u64, len: u64, bounce: &mut [u8]) -> bool {
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(bounce.len() as u64) as usize;
            if n == 0 {
                return false;
            }
            let chunk = &mut bounce[..n];
            if !(self.read(from + off, chunk) && self.write(to + off, chunk)) {
                return false;
            }
            off += n as u64;
        }
        true
    }
}

/// A slice as memory starting at address `base` (tests, host tools).
pub struct SliceMemory<'a> {
    /// Address of `bytes[0]`.
    pub base: u64,
    /// The backing bytes.
    pub bytes: &'a mut [u8],
}

impl SliceMemory<'_> {
    fn range(&self, addr: u64, len: usize) -> Option<core::ops::Range<usize>> {
        let start = usize::try_from(addr.checked_sub(self.base)?).ok()?;
        let end = start.checked_add(len)?;
        (end <= self.bytes.len()).then_some(start..end)
    }
}

impl Memory for SliceMemory<'_> {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        match self.range(addr, out.len()) {
            Some(r) => {
                out.copy_from_slice(&self.bytes[r]);
                true
            }
            None => false,
        }
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.range(addr, data.len()) {
            Some(r) => {
                self.bytes[r].copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced() {
        let mut buf = [0u8; 16];
        let mut m = SliceMemory {
            base: 0x1000,
            bytes: &mut buf,
        };
        assert!(m.write(0x1008, &[1; 8]));
        assert!(!m.write(0x1009, &[1; 8]));
        assert!(!m.write(0xfff, &[1]));
        assert!(!m.write(u64::MAX, &[1]));
        let mut out = [0u8; 8];
        assert!(m.read(0x1008, &mut out));
        assert_eq!(out, [1; 8]);
    }

    #[test]
    fn default_copy_goes_through_the_bounce_buffer_in_chunks() {
        let mut buf = [0u8; 64];
        for (i, b) in buf[..20].iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        let mut m = SliceMemory {
            base: 0x1000,
            bytes: &mut buf,
        };
        let mut bounce = [0u8; 6];
        assert!(m.copy(0x1000, 0x1020, 20, &mut bounce));
        let mut out = [0u8; 20];
        assert!(m.read(0x1020, &mut out));
        assert_eq!(out[..], m.bytes[..20]);
        // Out of range on either side, or no bounce room: refused.
        assert!(!m.copy(0x1030, 0x1000, 20, &mut bounce));
        assert!(!m.copy(0x1000, 0x1030, 20, &mut bounce));
        assert!(!m.copy(0x1000, 0x1020, 4, &mut []));
        assert!(m.copy(0x1000, 0x1020, 0, &mut []));
    }
}
