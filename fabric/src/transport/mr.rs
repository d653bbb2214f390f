//! The memory-region table: which windows of platform memory the peer may
//! touch, with which rights, under which key.
//!
//! A key is `slot | (tag << 8)`: the low byte finds the slot in O(1), the
//! 24-bit tag is a per-slot generation scrambled by a bijection and a
//! seed-derived salt. Every registration in a slot bumps its generation, so
//! a deregistered key never matches again; a slot whose generation would
//! wrap is retired for good. Lookups check the whole key, validity, access
//! and `[va, va + len)` ⊆ region with overflow-safe arithmetic.
//!
//! A region has two addresses: `addr`, the one the peer names (what we put
//! in the SRP descriptor), and `local`, where its bytes are in platform
//! memory. They start equal; [`MrTable::rebind`] moves `local` while the
//! peer keeps naming `addr` — how a read-ahead already on the wire lands
//! straight in the buffer of the call that turned out to want it. The peer
//! can still reach exactly `len` bytes, now at the new place.

use super::param::MR_SLOTS;
use crate::channel::{Access, RemoteRegion};

/// Why a key did not grant an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MrError {
    /// No live region has this key.
    BadKey,
    /// The region does not grant the access asked for.
    NoAccess,
    /// The range is not inside the region.
    OutOfBounds,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    live: bool,
    retired: bool,
    generation: u32,
    key: u32,
    addr: u64,
    len: u32,
    local: u64,
    /// Bytes from the start of the region below which every byte the peer
    /// wrote lies (a high-water mark): what a rebind must carry over.
    written: u32,
    access_read: bool,
    access_write: bool,
}

/// Fixed-size table of registered regions.
#[derive(Debug, Clone)]
pub struct MrTable {
    slots: [Slot; MR_SLOTS],
    salt: u32,
}

const TAG_MASK: u32 = 0xFF_FFFF;

impl MrTable {
    /// An empty table; `salt` makes the keys of this boot differ from the
    /// last one's (pass something random-ish).
    pub fn new(salt: u32) -> Self {
        MrTable {
            slots: [Slot::default(); MR_SLOTS],
            salt: salt & TAG_MASK,
        }
    }

    fn tag(&self, generation: u32) -> u32 {
        // Multiplication by an odd constant is a bijection modulo 2^24.
        (generation.wrapping_mul(0x9E_3779) ^ self.salt) & TAG_MASK
    }

    /// Registers `[addr, addr + len)` with `access`; `None` when every slot
    /// is taken (or retired) or the range wraps the address space.
    pub fn register(&mut self, addr: u64, len: u32, access: Access) -> Option<RemoteRegion> {
        addr.checked_add(u64::from(len))?;
        let index = self.slots.iter().position(|s| !s.live && !s.retired)?;
        let slot = self.slots[index];
        let generation = slot.generation.wrapping_add(1);
        let key = (self.tag(generation) << 8) | index as u32;
        self.slots[index] = Slot {
            live: true,
            retired: false,
            generation,
            key,
            addr,
            len,
            local: addr,
            written: 0,
            access_read: access.remote_read,
            access_write: access.remote_write,
        };
        Some(RemoteRegion {
            addr,
            rkey: key,
            len,
        })
    }

    /// Revokes the region with this key (no-op for an unknown key).
    pub fn deregister(&mut self, key: u32) {
        let index = (key & 0xFF) as usize;
        if let Some(slot) = self.slots.get_mut(index) {
            if slot.live && slot.key == key {
                slot.live = false;
                if slot.generation >= TAG_MASK {
                    slot.retired = true;
                }
            }
        }
    }

    /// Checks that `key` grants `write` (else read) access to `[va, va+len)`.
    pub fn check(&self, key: u32, va: u64, len: u64, write: bool) -> Result<(), MrError> {
        self.locate(key, va, len, write).map(|_| ())
    }

    /// As [`MrTable::check`], and where `va` is in platform memory.
    pub fn locate(&self, key: u32, va: u64, len: u64, write: bool) -> Result<u64, MrError> {
        let slot = self.live_slot(key)?;
        if (write && !slot.access_write) || (!write && !slot.access_read) {
            return Err(MrError::NoAccess);
        }
        let end = va.checked_add(len).ok_or(MrError::OutOfBounds)?;
        let region_end = slot.addr + u64::from(slot.len);
        if va < slot.addr || end > region_end {
            return Err(MrError::OutOfBounds);
        }
        Ok(slot.local + (va - slot.addr))
    }

    /// As [`MrTable::locate`] for a peer's write of `[va, va + len)`, and
    /// records it in the region's written mark (what a rebind carries
    /// over): one lookup per received packet.
    pub fn locate_write(&mut self, key: u32, va: u64, len: u64) -> Result<u64, MrError> {
        let at = self.locate(key, va, len, true)?;
        let slot = self.live_slot_mut(key).ok_or(MrError::BadKey)?;
        // Inside the region (checked above), so this fits in u32.
        slot.written = slot.written.max((va - slot.addr + len) as u32);
        Ok(at)
    }

    /// Moves the live region `key` to `new_local` in platform memory (same
    /// key, same peer address and length). Returns the old local address
    /// and how many leading bytes the peer may already have written there:
    /// the caller copies those over. `None` for an unknown key or a range
    /// that would wrap.
    pub fn rebind(&mut self, key: u32, new_local: u64) -> Option<(u64, u32)> {
        let slot = self.live_slot_mut(key)?;
        new_local.checked_add(u64::from(slot.len))?;
        let old = slot.local;
        slot.local = new_local;
        Some((old, slot.written))
    }

    fn live_slot(&self, key: u32) -> Result<&Slot, MrError> {
        let slot = self
            .slots
            .get((key & 0xFF) as usize)
            .ok_or(MrError::BadKey)?;
        if !slot.live || slot.key != key {
            return Err(MrError::BadKey);
        }
        Ok(slot)
    }

    fn live_slot_mut(&mut self, key: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut((key & 0xFF) as usize)
            .filter(|s| s.live && s.key == key)
    }

    /// Live regions.
    pub fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.live).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: Access = Access {
        remote_read: true,
        remote_write: true,
    };
    const RO: Access = Access {
        remote_read: true,
        remote_write: false,
    };

    #[test]
    fn bounds_access_and_keys() {
        let mut t = MrTable::new(0x1234);
        let r = t.register(0x1000, 0x100, RO).unwrap();
        assert_eq!(t.check(r.rkey, 0x1000, 0x100, false), Ok(()));
        assert_eq!(t.check(r.rkey, 0x10ff, 1, false), Ok(()));
        assert_eq!(t.check(r.rkey, 0x10ff, 2, false), Err(MrError::OutOfBounds));
        assert_eq!(t.check(r.rkey, 0xfff, 1, false), Err(MrError::OutOfBounds));
        assert_eq!(
            t.check(r.rkey, u64::MAX, 2, false),
            Err(MrError::OutOfBounds)
        );
        assert_eq!(t.check(r.rkey, 0x1000, 1, true), Err(MrError::NoAccess));
        assert_eq!(
            t.check(r.rkey ^ 0x100, 0x1000, 1, false),
            Err(MrError::BadKey)
        );
        assert_eq!(t.check(r.rkey + 1, 0x1000, 1, false), Err(MrError::BadKey));
        assert!(t.register(u64::MAX, 2, RW).is_none());
    }

    #[test]
    fn deregistered_keys_never_match_again() {
        let mut t = MrTable::new(7);
        let mut seen = std::vec::Vec::new();
        for _ in 0..1000 {
            let r = t.register(0, 16, RW).unwrap();
            assert!(!seen.contains(&r.rkey));
            seen.push(r.rkey);
            t.deregister(r.rkey);
            for old in &seen {
                assert_eq!(t.check(*old, 0, 1, true), Err(MrError::BadKey));
            }
        }
    }

    #[test]
    fn table_fills_up() {
        let mut t = MrTable::new(0);
        for _ in 0..MR_SLOTS {
            t.register(0, 1, RW).unwrap();
        }
        assert!(t.register(0, 1, RW).is_none());
        assert_eq!(t.live(), MR_SLOTS);
    }

    #[test]
    fn rebind_moves_where_bytes_land_not_what_the_peer_names() {
        let mut t = MrTable::new(3);
        let r = t.register(0x1000, 0x100, RW).unwrap();
        assert_eq!(t.locate(r.rkey, 0x1010, 0x10, true), Ok(0x1010));
        assert_eq!(t.rebind(r.rkey, 0x8000), Some((0x1000, 0)));
        // The peer still names 0x1000..0x1100; the bytes go to 0x8000.
        assert_eq!(t.locate(r.rkey, 0x1010, 0x10, true), Ok(0x8010));
        assert_eq!(
            t.locate(r.rkey, 0x10f0, 0x11, true),
            Err(MrError::OutOfBounds)
        );
        assert_eq!(t.locate(r.rkey, 0x8000, 1, true), Err(MrError::OutOfBounds));
        // A wrapping target or a dead key is refused.
        assert_eq!(t.rebind(r.rkey, u64::MAX - 0x10), None);
        t.deregister(r.rkey);
        assert_eq!(t.rebind(r.rkey, 0x9000), None);
    }

    #[test]
    fn written_high_water_mark_is_what_a_rebind_carries() {
        let mut t = MrTable::new(4);
        let r = t.register(0x1000, 0x100, RW).unwrap();
        assert_eq!(t.locate_write(r.rkey, 0x1000, 0x40), Ok(0x1000));
        assert_eq!(t.locate_write(r.rkey, 0x1080, 0x20), Ok(0x1080));
        assert_eq!(t.locate_write(r.rkey, 0x1010, 0x10), Ok(0x1010));
        // Out of the region: refused, nothing recorded.
        assert_eq!(
            t.locate_write(r.rkey, 0x10f0, 0x1000),
            Err(MrError::OutOfBounds)
        );
        assert_eq!(t.locate_write(r.rkey, 0x10f0, 0x10), Ok(0x10f0));
        assert_eq!(t.rebind(r.rkey, 0x8000), Some((0x1000, 0x100)));
        let r2 = t.register(0x2000, 0x100, RW).unwrap();
        assert_eq!(t.locate_write(r2.rkey, 0x2000, 0x40), Ok(0x2000));
        // Wrong key: refused, nothing recorded.
        assert_eq!(
            t.locate_write(r2.rkey ^ 0x100, 0x2000, 0x100),
            Err(MrError::BadKey)
        );
        // Read-only regions take no writes.
        let r3 = t.register(0x3000, 0x100, RO).unwrap();
        assert_eq!(t.locate_write(r3.rkey, 0x3000, 1), Err(MrError::NoAccess));
        assert_eq!(t.rebind(r2.rkey, 0x9000), Some((0x2000, 0x40)));
    }
}
