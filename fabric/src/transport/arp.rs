//! The ARP cache and resolver. We answer requests for our address at all
//! times (the peer's CM and RC QP must find us, fabric-wire pitfall 7),
//! learn the sender of every ARP packet addressed to us, and resolve peers
//! with a bounded number of requests.

use super::param::{ARP_RETRY_US, ARP_SLOTS, ARP_TRIES};
use crate::time::{Duration, Instant};
use crate::wire::{EthernetAddress, Ipv4Address};

/// Where resolving an address stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Known.
    Resolved(EthernetAddress),
    /// A request is out (or due).
    Pending,
    /// Every request went unanswered.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryState {
    Free,
    /// Waiting for a reply: requests sent so far, when to send the next.
    Resolving {
        sent: u8,
        next_at: Instant,
    },
    Failed,
    Valid(EthernetAddress),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: Ipv4Address,
    state: EntryState,
    /// Last use, for eviction.
    stamp: Instant,
}

/// A fixed-size ARP cache.
#[derive(Debug, Clone)]
pub struct ArpCache {
    entries: [Entry; ARP_SLOTS],
}

impl Default for ArpCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ArpCache {
    /// An empty cache.
    pub const fn new() -> Self {
        ArpCache {
            entries: [Entry {
                ip: Ipv4Address::UNSPECIFIED,
                state: EntryState::Free,
                stamp: Instant(0),
            }; ARP_SLOTS],
        }
    }

    fn find(&self, ip: Ipv4Address) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.state != EntryState::Free && e.ip == ip)
    }

    fn slot_for(&mut self, ip: Ipv4Address) -> usize {
        if let Some(i) = self.find(ip) {
            return i;
        }
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| e.state == EntryState::Free)
        {
            return i;
        }
        // Evict the least recently used entry that is not being resolved.
        let mut best = 0;
        for (i, e) in self.entries.iter().enumerate() {
            let busy = matches!(e.state, EntryState::Resolving { .. });
            let best_busy = matches!(self.entries[best].state, EntryState::Resolving { .. });
            if (best_busy && !busy) || (busy == best_busy && e.stamp < self.entries[best].stamp) {
                best = i;
            }
        }
        best
    }

    /// The MAC of `ip` if known.
    pub fn lookup(&self, ip: Ipv4Address) -> Option<EthernetAddress> {
        match self.find(ip).map(|i| self.entries[i].state) {
            Some(EntryState::Valid(mac)) => Some(mac),
            _ => None,
        }
    }

    /// Records `ip` at `mac` (from an ARP packet or a trusted frame).
    pub fn learn(&mut self, now: Instant, ip: Ipv4Address, mac: EthernetAddress) {
        if ip.is_unspecified() || ip.is_broadcast() || !mac.is_unicast() {
            return;
        }
        let i = self.slot_for(ip);
        self.entries[i] = Entry {
            ip,
            state: EntryState::Valid(mac),
            stamp: now,
        };
    }

    /// Updates `ip` only if we already track it (resolving, failed or
    /// valid): what a reply or a request from a peer we care about does.
    pub fn refresh(&mut self, now: Instant, ip: Ipv4Address, mac: EthernetAddress) {
        if self.find(ip).is_some() {
            self.learn(now, ip, mac);
        }
    }

    /// Starts (or continues) resolving `ip`. A failed entry is retried.
    pub fn resolve(&mut self, now: Instant, ip: Ipv4Address) -> Resolution {
        if let Some(i) = self.find(ip) {
            match self.entries[i].state {
                EntryState::Valid(mac) => {
                    self.entries[i].stamp = now;
                    return Resolution::Resolved(mac);
                }
                EntryState::Resolving { .. } => return Resolution::Pending,
                _ => {}
            }
        }
        let i = self.slot_for(ip);
        self.entries[i] = Entry {
            ip,
            state: EntryState::Resolving {
                sent: 0,
                next_at: now,
            },
            stamp: now,
        };
        Resolution::Pending
    }

    /// The state of `ip` without starting anything.
    pub fn status(&self, ip: Ipv4Address) -> Resolution {
        match self.find(ip).map(|i| self.entries[i].state) {
            Some(EntryState::Valid(mac)) => Resolution::Resolved(mac),
            Some(EntryState::Failed) => Resolution::Failed,
            _ => Resolution::Pending,
        }
    }

    /// An address whose next request is due now, if any; the caller sends
    /// the request and then calls [`ArpCache::sent`].
    pub fn due(&mut self, now: Instant) -> Option<Ipv4Address> {
        for e in self.entries.iter_mut() {
            if let EntryState::Resolving { sent, next_at } = e.state {
                if next_at <= now {
                    if sent >= ARP_TRIES {
                        e.state = EntryState::Failed;
                        continue;
                    }
                    return Some(e.ip);
                }
            }
        }
        None
    }

    /// Notes that a request for `ip` went out at `now`.
    pub fn sent(&mut self, now: Instant, ip: Ipv4Address) {
        if let Some(i) = self.find(ip) {
            if let EntryState::Resolving { sent, .. } = self.entries[i].state {
                self.entries[i].state = EntryState::Resolving {
                    sent: sent + 1,
                    next_at: now + Duration(ARP_RETRY_US),
                };
            }
        }
    }

    /// The earliest time a request (or giving up) is due.
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|e| match e.state {
                EntryState::Resolving { next_at, .. } => Some(next_at),
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    #[test]
    fn resolve_retry_and_fail() {
        let mut c = ArpCache::new();
        let mut now = Instant(0);
        assert_eq!(c.resolve(now, IP), Resolution::Pending);
        for _ in 0..ARP_TRIES {
            assert_eq!(c.due(now), Some(IP));
            c.sent(now, IP);
            assert_eq!(c.due(now), None);
            now = c.poll_at().unwrap();
        }
        assert_eq!(c.due(now), None);
        assert_eq!(c.status(IP), Resolution::Failed);
        // Trying again restarts; a reply resolves it.
        assert_eq!(c.resolve(now, IP), Resolution::Pending);
        c.refresh(now, IP, MAC);
        assert_eq!(c.resolve(now, IP), Resolution::Resolved(MAC));
        assert_eq!(c.lookup(IP), Some(MAC));
    }

    #[test]
    fn refresh_ignores_strangers_and_eviction_keeps_pending() {
        let mut c = ArpCache::new();
        c.refresh(Instant(0), IP, MAC);
        assert_eq!(c.lookup(IP), None);
        c.resolve(Instant(0), IP);
        for i in 0..20u8 {
            c.learn(
                Instant(u64::from(i) + 1),
                Ipv4Address::new(10, 0, 1, i),
                MAC,
            );
        }
        assert_eq!(c.status(IP), Resolution::Pending);
    }
}
