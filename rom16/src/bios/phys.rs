//! Physical memory access from our protected-mode segments.
//!
//! Our code and data segments have base = linear address of the RAM copy and
//! a 4 GiB limit, so physical address `p` is the segment offset
//! `p - ram_base` (mod 2^32). Paging is off: linear == physical.

extern "C" {
    /// Linear address of the body (image, .bss, stack), set by the init stub.
    static ram_base: u32;
    /// Linear address of the low copy (real-mode stubs), set by the init stub.
    #[link_name = "low_base"]
    static LOW_BASE: u32;
}

/// Linear address where our image runs.
#[inline]
pub fn base() -> u32 {
    // SAFETY: written once by the real-mode init stub before any Rust runs.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(ram_base)) }
}

/// Linear address of the low copy. Variables the real-mode stubs read
/// (screen queue, previous INT 13h vector) must be written there:
/// `low_base() + link offset`.
#[inline]
pub fn low_base() -> u32 {
    // SAFETY: written once by the real-mode init stub before any Rust runs.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(LOW_BASE)) }
}

/// Physical address of the low copy's instance of a stub symbol.
#[inline]
pub fn low_addr_of<T: ?Sized>(p: *const T) -> u32 {
    (p as *const u8 as u32).wrapping_add(low_base())
}

/// Physical address of something of ours.
#[inline]
pub fn addr_of<T: ?Sized>(p: *const T) -> u32 {
    (p as *const u8 as u32).wrapping_add(base())
}

#[inline]
fn ptr(phys: u32) -> *mut u8 {
    phys.wrapping_sub(base()) as *mut u8
}

/// Copies `dst.len()` bytes from physical memory.
pub fn read(phys: u32, dst: &mut [u8]) {
    // SAFETY: physical memory below 4 GiB is reachable through our flat
    // segment; callers pass addresses the BIOS ABI gives them (caller
    // buffers, BDA, IVT) or memory they own (PMM blocks, the low copy),
    // never our own Rust objects. The address came from an integer, so the
    // compiler cannot assume anything about what is there: a plain copy
    // (memcpy: `rep movs`, fast even under emulation) is enough; device
    // registers go through `nichal`'s volatile accessors, not here.
    unsafe { core::ptr::copy_nonoverlapping(ptr(phys) as *const u8, dst.as_mut_ptr(), dst.len()) };
}

/// Copies `src` into physical memory.
pub fn write(phys: u32, src: &[u8]) {
    // SAFETY: see `read`.
    unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), ptr(phys), src.len()) };
}

/// Copies `len` bytes from physical `from` to physical `to` (the ranges
/// do not overlap).
pub fn copy(from: u32, to: u32, len: u32) {
    // SAFETY: see `read`; both ranges are memory the caller owns or was
    // given by the BIOS ABI.
    unsafe { core::ptr::copy_nonoverlapping(ptr(from) as *const u8, ptr(to), len as usize) };
}

/// Fills physical memory with a byte.
pub fn fill(phys: u32, len: u32, v: u8) {
    for i in 0..len {
        // SAFETY: see `read`.
        unsafe { core::ptr::write_volatile(ptr(phys.wrapping_add(i)), v) };
    }
}

/// Reads a little-endian u8.
pub fn read8(phys: u32) -> u8 {
    let mut b = [0u8; 1];
    read(phys, &mut b);
    b[0]
}

/// Reads a little-endian u16.
pub fn read16(phys: u32) -> u16 {
    let mut b = [0u8; 2];
    read(phys, &mut b);
    u16::from_le_bytes(b)
}

/// Reads a little-endian u32.
pub fn read32(phys: u32) -> u32 {
    let mut b = [0u8; 4];
    read(phys, &mut b);
    u32::from_le_bytes(b)
}

/// Writes a u8.
pub fn write8(phys: u32, v: u8) {
    write(phys, &[v]);
}

/// Writes a little-endian u16.
pub fn write16(phys: u32, v: u16) {
    write(phys, &v.to_le_bytes());
}

/// Writes a little-endian u32.
pub fn write32(phys: u32, v: u32) {
    write(phys, &v.to_le_bytes());
}

/// Linear address of a real-mode segment:offset pair.
#[inline]
pub fn seg_off(seg: u16, off: u16) -> u32 {
    ((seg as u32) << 4) + off as u32
}
