//! In-memory Ethernet segment for tests: two (or more) ports joined by a
//! "wire" with optional, seeded loss, duplication and reordering. Fixed-size
//! storage, no heap, so it also works in no_std tests.

use super::{MacAddr, Nic};

/// Longest frame the segment carries: a 4096-byte RoCE MTU packet fits.
pub const MAX_FRAME: usize = 4200;
/// Frames a port can have queued.
pub const QUEUE: usize = 32;

/// Impairments applied to every frame entering the wire.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Probability (per 65536) that a frame is dropped.
    pub drop_per_64k: u32,
    /// Probability (per 65536) that a frame is delivered twice.
    pub dup_per_64k: u32,
    /// Probability (per 65536) that a frame swaps places with the one queued before it.
    pub swap_per_64k: u32,
    /// Seed for the deterministic random source (0 is replaced by a constant).
    pub seed: u64,
}

struct Queue {
    frames: [[u8; MAX_FRAME]; QUEUE],
    lens: [usize; QUEUE],
    head: usize,
    count: usize,
}

impl Queue {
    const fn new() -> Self {
        Queue {
            frames: [[0; MAX_FRAME]; QUEUE],
            lens: [0; QUEUE],
            head: 0,
            count: 0,
        }
    }
    fn push(&mut self, frame: &[u8]) -> bool {
        if self.count == QUEUE {
            return false; // tail drop, like a full NIC ring
        }
        let i = (self.head + self.count) % QUEUE;
        self.frames[i][..frame.len()].copy_from_slice(frame);
        self.lens[i] = frame.len();
        self.count += 1;
        true
    }
    fn swap_last_two(&mut self) {
        if self.count >= 2 {
            let a = (self.head + self.count - 1) % QUEUE;
            let b = (self.head + self.count - 2) % QUEUE;
            self.frames.swap(a, b);
            self.lens.swap(a, b);
        }
    }
    fn pop(&mut self) -> Option<(&[u8; MAX_FRAME], usize)> {
        if self.count == 0 {
            return None;
        }
        let i = self.head;
        self.head = (self.head + 1) % QUEUE;
        self.count -= 1;
        Some((&self.frames[i], self.lens[i]))
    }
}

/// A two-port segment. Port 0 and port 1 see each other's frames.
pub struct Segment {
    queues: [Queue; 2],
    macs: [MacAddr; 2],
    faults: Faults,
    rng: u64,
    /// Frames dropped by fault injection or full queues.
    pub dropped: u64,
    /// Frames delivered.
    pub delivered: u64,
    scratch: [u8; MAX_FRAME],
}

impl Segment {
    /// A clean segment between two MACs.
    pub fn new(mac0: MacAddr, mac1: MacAddr) -> Self {
        Segment {
            queues: [Queue::new(), Queue::new()],
            macs: [mac0, mac1],
            faults: Faults::default(),
            rng: 0x9e37_79b9_7f4a_7c15,
            dropped: 0,
            delivered: 0,
            scratch: [0; MAX_FRAME],
        }
    }

    /// Turns on impairments.
    pub fn set_faults(&mut self, f: Faults) {
        self.faults = f;
        self.rng = if f.seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            f.seed
        };
    }

    fn chance(&mut self, per_64k: u32) -> bool {
        if per_64k == 0 {
            return false;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        ((self.rng >> 16) & 0xffff) < per_64k as u64
    }

    fn send_from(&mut self, port: usize, frame: &[u8]) {
        let to = 1 - port;
        if self.chance(self.faults.drop_per_64k) {
            self.dropped += 1;
            return;
        }
        let copies = if self.chance(self.faults.dup_per_64k) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if self.queues[to].push(frame) {
                self.delivered += 1;
            } else {
                self.dropped += 1;
            }
        }
        if self.chance(self.faults.swap_per_64k) {
            self.queues[to].swap_last_two();
        }
    }

    /// The NIC of port `port` (0 or 1).
    pub fn port(&mut self, port: usize) -> Port<'_> {
        Port { seg: self, port }
    }
}

/// One side of a [`Segment`].
pub struct Port<'a> {
    seg: &'a mut Segment,
    port: usize,
}

impl Nic for Port<'_> {
    fn mac(&self) -> MacAddr {
        self.seg.macs[self.port]
    }
    fn max_frame(&self) -> usize {
        MAX_FRAME
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let (frame, len) = self.seg.queues[self.port].pop()?;
        Some(f(&frame[..len]))
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if len > MAX_FRAME {
            return None;
        }
        let mut buf = core::mem::replace(&mut self.seg.scratch, [0; MAX_FRAME]);
        let r = f(&mut buf[..len]);
        self.seg.send_from(self.port, &buf[..len]);
        self.seg.scratch = buf;
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: MacAddr = [2, 0, 0, 0, 0, 1];
    const B: MacAddr = [2, 0, 0, 0, 0, 2];

    fn seg() -> std::boxed::Box<Segment> {
        std::boxed::Box::new(Segment::new(A, B))
    }

    #[test]
    fn frames_cross_in_order() {
        let mut s = seg();
        for i in 0..10u8 {
            s.port(0).transmit(60, |b| b.fill(i)).unwrap();
        }
        for i in 0..10u8 {
            assert_eq!(s.port(1).receive(|f| (f.len(), f[0])), Some((60, i)));
        }
        assert_eq!(s.port(1).receive(|_| ()), None);
        assert_eq!(s.port(0).receive(|_| ()), None);
    }

    #[test]
    fn faults_are_deterministic() {
        let run = || {
            let mut s = seg();
            s.set_faults(Faults {
                drop_per_64k: 6553,
                dup_per_64k: 3000,
                swap_per_64k: 3000,
                seed: 7,
            });
            let mut got = std::vec::Vec::new();
            for i in 0..40u8 {
                s.port(0).transmit(60, |b| b.fill(i)).unwrap();
                while let Some(x) = s.port(1).receive(|f| f[0]) {
                    got.push(x);
                }
            }
            (got, s.dropped)
        };
        let (a, da) = run();
        let (b, db) = run();
        assert_eq!(a, b);
        assert_eq!(da, db);
        assert!(da > 0 && a.len() != 40);
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut s = seg();
        assert!(s.port(0).transmit(MAX_FRAME + 1, |_| ()).is_none());
    }
}
