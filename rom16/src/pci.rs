//! PCI configuration space through configuration mechanism #1 (PCI Local
//! Bus 3.0 §3.2.2.3.2: address to port 0xCF8, data at 0xCFC..0xCFF), and
//! the function the BIOS initialised us for.
//!
//! Only called from protected mode with interrupts off, so nobody else can
//! change the address port between our two accesses.

use crate::bios::port::{inl, outl, outw};

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

fn select(bdf: u16, off: u8) {
    outl(
        CONFIG_ADDRESS,
        0x8000_0000 | (bdf as u32) << 8 | (off & 0xfc) as u32,
    );
}

/// Reads the dword at `off` (low two bits ignored) of function `bdf`
/// (`bus << 8 | dev << 3 | fn`). A missing function reads all ones.
#[inline(never)]
pub fn read32(bdf: u16, off: u8) -> u32 {
    select(bdf, off);
    inl(CONFIG_DATA)
}

/// Writes the dword at `off` (low two bits ignored).
#[inline(never)]
pub fn write32(bdf: u16, off: u8, v: u32) {
    select(bdf, off);
    outl(CONFIG_DATA, v);
}

/// Writes the word at `off` (bit 0 ignored) without touching its neighbour.
#[inline(never)]
pub fn write16(bdf: u16, off: u8, v: u16) {
    select(bdf, off);
    outw(CONFIG_DATA + (off & 2) as u16, v);
}

/// The PCI function whose option ROM we are (AX at POST).
pub fn our_bdf() -> u16 {
    crate::entry::pci_bdf()
}
