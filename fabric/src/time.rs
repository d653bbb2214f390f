//! Time as the fabric sees it: passed in by the caller, never read here.
//! The ROM counts TSC or PIT ticks, the OS its own clock, tests a counter.

/// A point in time, in microseconds since an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Instant(pub u64);

/// A span of time, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Duration(pub u64);

impl Instant {
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms * 1000)
    }
    /// Microseconds since the origin.
    pub const fn micros(self) -> u64 {
        self.0
    }
    /// `self + d`, saturating.
    pub const fn plus(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
    /// Time from `earlier` to `self` (zero if `earlier` is later).
    pub const fn since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms * 1000)
    }
    /// From seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1_000_000)
    }
    /// Whole milliseconds.
    pub const fn millis(self) -> u64 {
        self.0 / 1000
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.plus(d)
    }
}
