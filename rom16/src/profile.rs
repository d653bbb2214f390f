//! Where an INT 13h transfer's time goes, in TSC ticks (feature
//! `profile`, never in a shipped ROM). Every `REPORT_EVERY` transfers one
//! line goes to COM1 and the counters start again, so a benchmark's
//! sequential and random phases show up as separate lines.
//!
//! Buckets: the whole transfer; `receive` calls that returned a frame
//! (driver + the transport's processing of it); `receive` calls that found
//! nothing (the wait for the wire); `transmit` calls; port writes (the
//! virtqueue kicks, which exit to the device model).

use crate::romstate::RomCell;

const REPORT_EVERY: u32 = 256;

#[derive(Clone, Copy)]
pub enum Bucket {
    Transfer,
    RxFrame,
    RxEmpty,
    Tx,
    PortWrite,
    MmioWrite,
    RxWork,
    /// Read-ahead outcomes: moved into the caller's buffer, copied from
    /// ours, waited for and dropped.
    AheadMoved,
    AheadCopied,
    AheadDropped,
}
const BUCKETS: usize = 10;
const NAMES: [&str; BUCKETS] = [
    "xfer", "rx", "empty", "tx", "out", "mmio-w", "rx-work", "ra-moved", "ra-copied", "ra-dropped",
];

struct Counters {
    n: [u32; BUCKETS],
    ticks: [u64; BUCKETS],
}

static COUNTERS: RomCell<Counters> = RomCell::new(Counters {
    n: [0; BUCKETS],
    ticks: [0; BUCKETS],
});

/// Current TSC.
pub fn now() -> u64 {
    crate::nichal::rdtsc()
}

/// Adds the ticks since `start` to `b`.
pub fn add(b: Bucket, start: u64) {
    let dt = now().wrapping_sub(start);
    COUNTERS.with(|c| {
        c.n[b as usize] += 1;
        c.ticks[b as usize] += dt;
    });
}

/// Ends a transfer; prints and restarts the counters every
/// `REPORT_EVERY` transfers.
pub fn transfer_done(start: u64, ticks_per_us: u64) {
    add(Bucket::Transfer, start);
    let full = COUNTERS.with(|c| c.n[Bucket::Transfer as usize] >= REPORT_EVERY);
    if !full {
        return;
    }
    let c = COUNTERS.with(|c| core::mem::replace(c, Counters { n: [0; BUCKETS], ticks: [0; BUCKETS] }));
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
    crate::console::str("\n");
}

