//! x86 port I/O.
//!
//! No `nomem` on these asm blocks: a port write can start device DMA that
//! reads or writes our memory (fw_cfg, virtio), so each access must also be
//! a compiler memory barrier.

/// Reads a byte from an I/O port.
#[inline]
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: port reads have no memory effects visible to Rust; the ports
    // we touch (UART, fw_cfg, PCI config, NIC BARs) are ours to use at POST
    // and inside our INT 13h handler.
    unsafe {
        core::arch::asm!("in al, dx", out("al") v, in("dx") port, options(nostack, preserves_flags))
    };
    v
}

/// Writes a byte to an I/O port.
#[inline]
pub fn outb(port: u16, v: u8) {
    // SAFETY: see `inb`.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") v, options(nostack, preserves_flags))
    };
}

/// Reads a 16-bit word from an I/O port.
#[inline]
pub fn inw(port: u16) -> u16 {
    let v: u16;
    // SAFETY: see `inb`.
    unsafe {
        core::arch::asm!("in ax, dx", out("ax") v, in("dx") port, options(nostack, preserves_flags))
    };
    v
}

/// Writes a 16-bit word to an I/O port.
#[inline]
pub fn outw(port: u16, v: u16) {
    // SAFETY: see `inb`.
    unsafe {
        core::arch::asm!("out dx, ax", in("dx") port, in("ax") v, options(nostack, preserves_flags))
    };
}

/// Reads a 32-bit word from an I/O port.
#[inline]
pub fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: see `inb`.
    unsafe {
        core::arch::asm!("in eax, dx", out("eax") v, in("dx") port, options(nostack, preserves_flags))
    };
    v
}

/// Writes a 32-bit word to an I/O port.
#[inline]
pub fn outl(port: u16, v: u32) {
    // SAFETY: see `inb`.
    unsafe {
        core::arch::asm!("out dx, eax", in("dx") port, in("eax") v, options(nostack, preserves_flags))
    };
}
