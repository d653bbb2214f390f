//! Where an INT 13h call's time goes, in TSC ticks (feature `profile`,
//! never in a shipped ROM: `cargo xtask rom --profile`). Every
//! `REPORT_EVERY` reads one `prof:` line goes to COM1 and the counters
//! start again, so a benchmark's sequential and random phases show up as
//! separate lines. Each bucket prints as `name calls/microseconds`.
//!
//! - `xfer`: the read, from `SrpDisk::read` entry to return;
//! - `rx`: `receive` calls that returned a frame (driver + the transport's
//!   processing), `rx-work` the transport's part of them, `empty` the
//!   calls that found nothing;
//! - `tx`: `transmit` calls; `out` / `mmio-w`: port / MMIO writes (the
//!   virtqueue notifies, each an exit to the device model);
//! - `ra-*`: read-ahead outcomes (moved into the caller's buffer, copied
//!   from ours, waited for and dropped);
//! - `rm`: between two calls, outside protected mode (the return to real
//!   mode, the caller's own work, the next INT 13h entry and switch);
//!   `head`/`tail`: inside `rust_int13` before/after the read;
//! - `mem-w`: the HCA writing received payload to memory (the copy).

//!
//! Without the feature every function here is an empty inline stub, so
//! the call sites need no `cfg` and the shipped ROM carries none of it.

/// What a measured stretch of time was spent on.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "profile"), allow(dead_code))]
pub enum Bucket {
    Transfer,
    RxFrame,
    RxEmpty,
    Tx,
    PortWrite,
    MmioWrite,
    RxWork,
    AheadMoved,
    AheadCopied,
    AheadDropped,
    RealMode,
    Head,
    Tail,
    /// The HCA writing received payload into memory.
    MemWrite,
    /// `receive` calls that found nothing before the read's first frame.
    EmptyFirst,
}

#[cfg(feature = "profile")]
mod on;
#[cfg(feature = "profile")]
pub use on::{add, now, paint_stack, pm_entry, pm_exit, received, transfer_done, transfer_start};

/// Runs `f`, adding its time to `b`.
#[inline(always)]
pub fn timed<R>(b: Bucket, f: impl FnOnce() -> R) -> R {
    let t = now();
    let r = f();
    add(b, t);
    r
}

#[cfg(not(feature = "profile"))]
mod off {
    use super::Bucket;
    #[inline(always)]
    pub fn now() -> u64 {
        0
    }
    #[inline(always)]
    pub fn add(_: Bucket, _: u64) {}
    #[inline(always)]
    pub fn received(_: bool, _: u64) {}
    #[inline(always)]
    pub fn pm_entry() {}
    #[inline(always)]
    pub fn pm_exit() {}
    #[inline(always)]
    pub fn transfer_start() -> u64 {
        0
    }
    #[inline(always)]
    pub fn transfer_done(_: u64, _: u64) {}
    #[inline(always)]
    pub fn paint_stack() {}
}
#[cfg(not(feature = "profile"))]
pub use off::*;
