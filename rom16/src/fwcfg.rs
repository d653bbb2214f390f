//! QEMU's firmware configuration device (fw_cfg), DMA interface. Test-only:
//! it feeds the test-disk backend (`testdisk.rs`); the production ROM never
//! contains it.

use crate::bios::phys;
use crate::bios::port::{inb, outl, outw};

const PORT_SELECTOR: u16 = 0x510;
const PORT_DATA: u16 = 0x511;
const PORT_DMA_HIGH: u16 = 0x514;
const PORT_DMA_LOW: u16 = 0x518;

const KEY_SIGNATURE: u16 = 0x0000;
const KEY_ID: u16 = 0x0001;
const KEY_FILE_DIR: u16 = 0x0019;
const ID_DMA: u8 = 0x02;

const CTL_ERROR: u32 = 0x01;
const CTL_READ: u32 = 0x02;
const CTL_SKIP: u32 = 0x04;
const CTL_SELECT: u32 = 0x08;

/// One DMA request; the device reads it big-endian from physical memory.
#[repr(C, align(16))]
struct DmaAccess {
    control: u32,
    length: u32,
    address: u64,
}

fn select(key: u16) {
    outw(PORT_SELECTOR, key);
}

fn read_bytes(dst: &mut [u8]) {
    for b in dst {
        *b = inb(PORT_DATA);
    }
}

/// fw_cfg is present and does DMA.
pub fn present() -> bool {
    select(KEY_SIGNATURE);
    let mut sig = [0u8; 4];
    read_bytes(&mut sig);
    if &sig != b"QEMU" {
        return false;
    }
    select(KEY_ID);
    let mut id = [0u8; 4];
    read_bytes(&mut id);
    id[0] & ID_DMA != 0
}

/// A file in the fw_cfg directory.
#[derive(Clone, Copy)]
pub struct File {
    /// Selector key.
    pub key: u16,
    /// Size in bytes.
    pub size: u32,
}

/// Looks up a file by name.
pub fn find(name: &[u8]) -> Option<File> {
    select(KEY_FILE_DIR);
    let mut n = [0u8; 4];
    read_bytes(&mut n);
    let count = u32::from_be_bytes(n);
    for _ in 0..count.min(4096) {
        let mut e = [0u8; 64];
        read_bytes(&mut e);
        let fname = &e[8..];
        let len = fname.iter().position(|&b| b == 0).unwrap_or(fname.len());
        if &fname[..len] == name {
            return Some(File {
                size: u32::from_be_bytes([e[0], e[1], e[2], e[3]]),
                key: u16::from_be_bytes([e[4], e[5]]),
            });
        }
    }
    None
}

fn dma(control: u32, length: u32, address: u32) -> bool {
    // The device rewrites `control` when done: keep the request mutable and
    // hand out a *mut-derived address.
    let mut req = DmaAccess {
        control: control.to_be(),
        length: length.to_be(),
        address: (address as u64).to_be(),
    };
    let req_ptr: *mut DmaAccess = &mut req;
    let at = phys::addr_of(req_ptr);
    outl(PORT_DMA_HIGH, 0);
    outl(PORT_DMA_LOW, at.to_be());
    // QEMU completes the transfer synchronously during the port write; the
    // loop only guards against a device that does not.
    for _ in 0..1_000_000 {
        // SAFETY: `req` is ours and alive; the device wrote it behind the
        // compiler's back, hence the volatile read.
        let c = u32::from_be(unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!((*req_ptr).control))
        });
        if c & !CTL_ERROR == 0 {
            return c & CTL_ERROR == 0;
        }
    }
    false
}

/// Reads `len` bytes at `offset` of `file` into physical memory at `dst`.
pub fn read(file: File, offset: u32, len: u32, dst: u32) -> bool {
    let sel = (file.key as u32) << 16 | CTL_SELECT;
    if offset > 0 && !dma(sel | CTL_SKIP, offset, 0) {
        return false;
    }
    let ctl = if offset > 0 { CTL_READ } else { sel | CTL_READ };
    dma(ctl, len, dst)
}
