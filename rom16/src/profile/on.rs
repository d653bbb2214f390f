//! The measuring half of `profile` (feature `profile`).

use super::Bucket;
use crate::romstate::RomCell;

const REPORT_EVERY: u32 = 256;

const BUCKETS: usize = 15;
const NAMES: [&str; BUCKETS] = [
    "xfer",
    "rx",
    "empty",
    "tx",
    "out",
    "mmio-w",
    "rx-work",
    "ra-moved",
    "ra-copied",
    "ra-dropped",
    "rm",
    "head",
    "tail",
    "mem-w",
    "empty-first",
];

/// Frames received since the current read started.
static FRAMES: RomCell<u32> = RomCell::new(0);

/// `receive` returned (`got`: a frame) after starting at `start`.
pub fn received(got: bool, start: u64) {
    if got {
        FRAMES.with(|f| *f += 1);
        add(Bucket::RxFrame, start);
    } else {
        if FRAMES.with(|f| *f) == 0 {
            add(Bucket::EmptyFirst, start);
        }
        add(Bucket::RxEmpty, start);
    }
}

struct Counters {
    n: [u32; BUCKETS],
    ticks: [u64; BUCKETS],
}

const ZERO: Counters = Counters {
    n: [0; BUCKETS],
    ticks: [0; BUCKETS],
};

static COUNTERS: RomCell<Counters> = RomCell::new(ZERO);

/// `rust_int13` entry, read start, read end, `rust_int13` exit of the
/// current (or last) call.
static MARKS: RomCell<[u64; 4]> = RomCell::new([0; 4]);

/// Current TSC.
pub fn now() -> u64 {
    crate::nichal::rdtsc()
}

fn bump(b: Bucket, dt: u64) {
    COUNTERS.with(|c| {
        c.n[b as usize] += 1;
        c.ticks[b as usize] += dt;
    });
}

/// Adds the ticks since `start` to `b`.
pub fn add(b: Bucket, start: u64) {
    bump(b, now().wrapping_sub(start));
}

/// `rust_int13` starts.
pub fn pm_entry() {
    let t = now();
    let last_exit = MARKS.with(|m| core::mem::replace(m, [t, 0, 0, 0])[3]);
    if last_exit != 0 {
        bump(Bucket::RealMode, t.wrapping_sub(last_exit));
    }
}

/// `rust_int13` returns.
pub fn pm_exit() {
    let t = now();
    let m = MARKS.with(|m| {
        m[3] = t;
        *m
    });
    if m[1] != 0 && m[2] != 0 {
        bump(Bucket::Head, m[1].wrapping_sub(m[0]));
        bump(Bucket::Tail, t.wrapping_sub(m[2]));
    }
}

/// A read starts; returns its start time for [`transfer_done`].
pub fn transfer_start() -> u64 {
    let t = now();
    FRAMES.with(|f| *f = 0);
    MARKS.with(|m| m[1] = t);
    t
}

/// A read ends; prints and restarts the counters every `REPORT_EVERY`.
pub fn transfer_done(start: u64, ticks_per_us: u64) {
    add(Bucket::Transfer, start);
    MARKS.with(|m| m[2] = now());
    if COUNTERS.with(|c| c.n[Bucket::Transfer as usize]) < REPORT_EVERY {
        return;
    }
    let c = COUNTERS.with(|c| core::mem::replace(c, ZERO));
    crate::console::str("prof:");
    for i in 0..BUCKETS {
        crate::console::str(" ");
        crate::console::str(NAMES[i]);
        crate::console::str(" ");
        crate::console::dec(c.n[i] as u64);
        crate::console::str("/");
        crate::console::dec(c.ticks[i] / ticks_per_us.max(1));
        crate::console::str("us");
    }
    crate::console::str(" stack-used ");
    crate::console::dec(stack_used() as u64);
    crate::console::str("\n");
}

extern "C" {
    /// Linker-script bounds of the protected-mode stack.
    static _stack_bottom: u8;
}

const PAINT: u32 = 0x5EED_5EED;

/// Fills the unused part of the protected-mode stack (below the caller's
/// frame, less a margin) with a pattern, so [`stack_used`] can tell how
/// deep it ever got.
#[inline(never)]
pub fn paint_stack() {
    let bottom = core::ptr::addr_of!(_stack_bottom) as usize;
    let here = &bottom as *const usize as usize;
    let mut p = (bottom + 3) & !3;
    while p + 1024 < here {
        // SAFETY: [bottom, here - 1 KiB) is stack no live frame uses.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of the stack touched since [`paint_stack`] (from its top).
pub fn stack_used() -> usize {
    let bottom = (core::ptr::addr_of!(_stack_bottom) as usize + 3) & !3;
    extern "C" {
        static _stack_top: u8;
    }
    let top = core::ptr::addr_of!(_stack_top) as usize & !3;
    let mut p = bottom;
    // SAFETY: reads within the stack region.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}
