//! The real-mode interrupt vector table.

use super::phys;

/// A real-mode far pointer as stored in the IVT: offset then segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FarPtr {
    /// Offset within the segment.
    pub off: u16,
    /// Segment.
    pub seg: u16,
}

impl FarPtr {
    /// As the 32-bit value stored in memory (offset in the low word).
    pub fn to_u32(self) -> u32 {
        (self.seg as u32) << 16 | self.off as u32
    }
    /// From the 32-bit value stored in memory.
    pub fn from_u32(v: u32) -> Self {
        FarPtr {
            off: v as u16,
            seg: (v >> 16) as u16,
        }
    }
}

/// Reads interrupt vector `n`.
pub fn get(n: u8) -> FarPtr {
    FarPtr::from_u32(phys::read32(n as u32 * 4))
}

/// Writes interrupt vector `n`.
pub fn set(n: u8, v: FarPtr) {
    phys::write32(n as u32 * 4, v.to_u32())
}
