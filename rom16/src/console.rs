//! Text output: COM1 always, and the screen while the BIOS owns it.
//!
//! Screen text is queued in `screen_buf` and printed by the real-mode stub
//! with INT 10h when the protected-mode call returns (POST and BCV only;
//! inside INT 13h the display belongs to the loader). A tiny formatter keeps
//! `core::fmt` out of the image (it costs ~3 KB).

use crate::bios::phys;
use crate::bios::port::{inb, outb};

const COM1: u16 = 0x3f8;
const LSR: u16 = COM1 + 5;
const LSR_THR_EMPTY: u8 = 0x20;
const SCREEN_BUF_LEN: usize = 1024;

extern "C" {
    /// Offsets in the low copy (linker script), not Rust-accessible memory.
    static screen_len: u16;
    static screen_buf: [u8; SCREEN_BUF_LEN];
}

static mut SCREEN_ON: bool = false;

/// Queue screen output too (POST/BCV), or serial only (INT 13h).
pub fn set_screen(on: bool) {
    // SAFETY: single-threaded ROM; interrupts are off in protected mode.
    unsafe { SCREEN_ON = on };
}

fn serial_byte(b: u8) {
    // Bounded wait: a missing UART reads 0xff and is "always ready".
    for _ in 0..100_000 {
        if inb(LSR) & LSR_THR_EMPTY != 0 {
            break;
        }
    }
    outb(COM1, b);
}

fn screen_byte(b: u8) {
    // SAFETY: see `set_screen`.
    if !unsafe { SCREEN_ON } {
        return;
    }
    // The queue lives in the low copy, where the real-mode stub prints it
    // from after we return; only the symbols' offsets are used here.
    let len_at = phys::low_addr_of(core::ptr::addr_of!(screen_len));
    let buf_at = phys::low_addr_of(core::ptr::addr_of!(screen_buf));
    let len = phys::read16(len_at) as usize;
    if len < SCREEN_BUF_LEN {
        phys::write8(buf_at + len as u32, b);
        phys::write16(len_at, len as u16 + 1);
    }
}

/// Writes raw bytes; "\n" becomes "\r\n".
pub fn bytes(s: &[u8]) {
    for &b in s {
        if b == b'\n' {
            serial_byte(b'\r');
            screen_byte(b'\r');
        }
        serial_byte(b);
        screen_byte(b);
    }
}

/// Writes a string.
pub fn str(s: &str) {
    bytes(s.as_bytes());
}

/// Writes `v` in hexadecimal with exactly `digits` digits.
pub fn hex(v: u32, digits: u32) {
    for i in (0..digits).rev() {
        let d = ((v >> (i * 4)) & 0xf) as u8;
        bytes(&[if d < 10 { b'0' + d } else { b'a' + d - 10 }]);
    }
}

/// Writes `v` in decimal.
pub fn dec(v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    bytes(&buf[i..]);
}

/// Writes a NUL-terminated or full byte string (config text).
pub fn cstr(s: &[u8]) {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    bytes(&s[..end]);
}
