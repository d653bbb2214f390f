//! Helpers for the HCA/CM integration tests: a loopback port shareable by
//! two endpoints in one thread, Vec-backed memory that can police writes,
//! and a driver loop with a fake clock.
#![allow(dead_code)]

use fabric::memory::Memory;
use fabric::nic::loopback::{Segment, MAX_FRAME};
use fabric::nic::Nic;
use std::cell::RefCell;
use std::rc::Rc;

/// One port of a segment two endpoints share (the segment hands out
/// `&mut` ports, so each endpoint borrows it only inside a call).
pub struct SharedPort {
    pub seg: Rc<RefCell<Box<Segment>>>,
    pub port: usize,
    /// Every frame sent, when recording.
    pub sent: Option<Vec<Vec<u8>>>,
}

impl SharedPort {
    pub fn new(seg: &Rc<RefCell<Box<Segment>>>, port: usize) -> Self {
        SharedPort {
            seg: seg.clone(),
            port,
            sent: None,
        }
    }
}

impl Nic for SharedPort {
    fn mac(&self) -> [u8; 6] {
        self.seg.borrow_mut().port(self.port).mac()
    }
    fn max_frame(&self) -> usize {
        MAX_FRAME
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let mut copy = [0u8; MAX_FRAME];
        let n = self.seg.borrow_mut().port(self.port).receive(|fr| {
            copy[..fr.len()].copy_from_slice(fr);
            fr.len()
        })?;
        Some(f(&copy[..n]))
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        let sent = &mut self.sent;
        self.seg.borrow_mut().port(self.port).transmit(len, |buf| {
            let r = f(buf);
            if let Some(log) = sent {
                log.push(buf.to_vec());
            }
            r
        })
    }
}

/// A NIC with a 1500-byte MTU on top of a shared port.
pub struct Mtu1500(pub SharedPort);

impl Nic for Mtu1500 {
    fn mac(&self) -> [u8; 6] {
        self.0.mac()
    }
    fn max_frame(&self) -> usize {
        1514
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.0.receive(f)
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if len > 1514 {
            return None;
        }
        self.0.transmit(len, f)
    }
}

/// Memory at `base` backed by a Vec; writes outside `allowed` (when set)
/// are recorded as violations.
pub struct VecMem {
    pub base: u64,
    pub bytes: Vec<u8>,
    pub allowed: Option<Vec<(u64, u64)>>,
    pub violations: usize,
}

impl VecMem {
    pub fn new(base: u64, len: usize) -> Self {
        VecMem {
            base,
            bytes: vec![0; len],
            allowed: None,
            violations: 0,
        }
    }
    fn range(&self, addr: u64, len: usize) -> Option<std::ops::Range<usize>> {
        let start = addr.checked_sub(self.base)? as usize;
        let end = start.checked_add(len)?;
        (end <= self.bytes.len()).then_some(start..end)
    }
}

impl Memory for VecMem {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        match self.range(addr, out.len()) {
            Some(r) => {
                out.copy_from_slice(&self.bytes[r]);
                true
            }
            None => false,
        }
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        if let Some(allowed) = &self.allowed {
            let end = addr + data.len() as u64;
            if !allowed.iter().any(|&(a, l)| addr >= a && end <= a + l) {
                self.violations += 1;
            }
        }
        match self.range(addr, data.len()) {
            Some(r) => {
                self.bytes[r].copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

pub fn segment(a: [u8; 6], b: [u8; 6]) -> Rc<RefCell<Box<Segment>>> {
    Rc::new(RefCell::new(Box::new(Segment::new(a, b))))
}
