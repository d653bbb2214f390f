//! Arbitrary frames into a connected soft HCA: one RC QP in RTS with a
//! writable region, a read-only region and a revoked key, a SEND, an RDMA
//! WRITE and an RDMA READ of our own outstanding, and time moving on.
//!
//! Properties: nothing panics, and the HCA never writes platform memory
//! outside (a) the remotely writable region and (b) the local buffer our
//! own READ lands in — whatever the peer sends. Reads of memory stay in
//! the remotely readable regions and our own WRITE source.
//!
//! Each input is a list of frames. A frame starts with a mode byte: raw
//! bytes as received (`0`), or a structured packet (anything else) built
//! from the following bytes around valid headers — opcode, PSN near the
//! expected one, key chosen among the interesting ones, VA near the
//! region edges, payload length — so the transport logic is reached
//! without guessing header bytes. Under `--cfg fuzzing` the ICRC and IPv4
//! checksums always pass.
#![no_main]

use fabric::channel::Access;
use fabric::memory::Memory;
use fabric::nic::Nic;
use fabric::time::Instant;
use fabric::transport::{Hca, HcaConfig, QpAttr};
use fabric::wire::aeth::{self, Syndrome};
use fabric::wire::bth::{self, OpCode};
use fabric::wire::{ipv4, reth, roce, EthernetAddress, Ipv4Address};
use libfuzzer_sys::fuzz_target;
use std::collections::VecDeque;

const MAC_US: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_PEER: [u8; 6] = [2, 0, 0, 0, 0, 2];
const IP_US: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const IP_PEER: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const BASE: u64 = 0x1_0000;
const MEM: usize = 0x8000;
const RW_AT: u64 = BASE + 0x1000; // remotely writable, 0x1000
const RO_AT: u64 = BASE + 0x3000; // remotely readable, 0x1000
const GONE_AT: u64 = BASE + 0x5000; // registered, then revoked
const READ_DST: u64 = BASE + 0x6000; // our RDMA READ lands here, 0x800
const WRITE_SRC: u64 = BASE + 0x7000; // our RDMA WRITE comes from here, 0x800

struct FuzzNic {
    rx: VecDeque<Vec<u8>>,
    sent: usize,
}

impl Nic for FuzzNic {
    fn mac(&self) -> [u8; 6] {
        MAC_US
    }
    fn max_frame(&self) -> usize {
        4200
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let frame = self.rx.pop_front()?;
        Some(f(&frame))
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.sent += 1;
        Some(r)
    }
}

/// Memory that panics on any access outside what the peer (or our own
/// posted work) may touch.
struct GuardMem {
    bytes: Vec<u8>,
    write_ok: Vec<(u64, u64)>,
    read_ok: Vec<(u64, u64)>,
}

fn inside(ranges: &[(u64, u64)], addr: u64, len: usize) -> bool {
    let end = addr.checked_add(len as u64);
    ranges.iter().any(|&(a, l)| addr >= a && end.is_some_and(|e| e <= a + l))
}

impl Memory for GuardMem {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        assert!(inside(&self.read_ok, addr, out.len()), "read outside allowed memory: {addr:#x}+{}", out.len());
        let at = (addr - BASE) as usize;
        out.copy_from_slice(&self.bytes[at..at + out.len()]);
        true
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        assert!(inside(&self.write_ok, addr, data.len()), "write outside allowed memory: {addr:#x}+{}", data.len());
        let at = (addr - BASE) as usize;
        self.bytes[at..at + data.len()].copy_from_slice(data);
        true
    }
}

const OPCODES: [OpCode; 20] = [
    OpCode::RcSendFirst,
    OpCode::RcSendMiddle,
    OpCode::RcSendLast,
    OpCode::RcSendOnly,
    OpCode::RcSendOnlyWithImmediate,
    OpCode::RcRdmaWriteFirst,
    OpCode::RcRdmaWriteMiddle,
    OpCode::RcRdmaWriteLast,
    OpCode::RcRdmaWriteOnly,
    OpCode::RcRdmaWriteLastWithImmediate,
    OpCode::RcRdmaReadRequest,
    OpCode::RcRdmaReadResponseFirst,
    OpCode::RcRdmaReadResponseMiddle,
    OpCode::RcRdmaReadResponseLast,
    OpCode::RcRdmaReadResponseOnly,
    OpCode::RcAcknowledge,
    OpCode::RcSendOnlyWithInvalidate,
    OpCode::UdSendOnly,
    OpCode::RcRdmaWriteOnlyWithImmediate,
    OpCode::RcSendLastWithInvalidate,
];

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

fuzz_target!(|data: &[u8]| {
    let mem = GuardMem {
        bytes: vec![0x5A; MEM],
        write_ok: vec![(RW_AT, 0x1000), (READ_DST, 0x800)],
        read_ok: vec![(RW_AT, 0x1000), (RO_AT, 0x1000), (WRITE_SRC, 0x800)],
    };
    let mut cfg = HcaConfig::new(IP_US, 1);
    cfg.window = 8;
    let mut hca: Hca<FuzzNic, GuardMem, 1, 4, 512> = Hca::new(FuzzNic { rx: VecDeque::new(), sent: 0 }, mem, cfg);
    let rw = hca.register(RW_AT, 0x1000, Access { remote_write: true, remote_read: true }).unwrap();
    let ro = hca.register(RO_AT, 0x1000, Access { remote_write: false, remote_read: true }).unwrap();
    let gone = hca.register(GONE_AT, 0x1000, Access { remote_write: true, remote_read: true }).unwrap();
    hca.deregister(gone.rkey);
    let qp = hca.create_qp().unwrap();
    let (sq_psn, rq_psn) = (0xFF_FFF8, 0x10);
    let attr = QpAttr {
        dest_qpn: 0x42,
        peer_ip: IP_PEER,
        peer_mac: EthernetAddress(MAC_PEER),
        pmtu: 256,
        sq_psn,
        rq_psn,
        retry_cnt: 3,
        rnr_retry: 2,
        timeout_us: 1000,
        max_rd_atomic: 2,
        window: 8,
        remote_write: true,
        remote_read: true,
        flow_label: 0,
    };
    hca.modify_rtr(qp, attr).unwrap();
    hca.modify_rts(qp).unwrap();
    let qpn = hca.qpn(qp);
    hca.post_send(qp, 1, &[7u8; 300]).unwrap();
    hca.post_read(qp, 2, READ_DST, 0x9000, 0x1234, 0x800).unwrap();
    hca.post_write(qp, 3, WRITE_SRC, 0xA000, 0x5678, 0x300).unwrap();

    let keys = [rw.rkey, ro.rkey, gone.rkey, 0, rw.rkey ^ 0x100];
    let edges = [RW_AT, RW_AT + 0xF00, RW_AT + 0xFFF, RO_AT, GONE_AT, RW_AT - 1, 0, u64::MAX - 8];
    let mut now = 0u64;
    let mut c = Cursor(data);
    let mut frames = 0;
    while !c.0.is_empty() && frames < 64 {
        frames += 1;
        let mode = c.u8();
        let frame = if mode == 0 {
            let n = c.u16() as usize % 1600;
            c.take(n).to_vec()
        } else {
            let op = OPCODES[c.u8() as usize % OPCODES.len()];
            let flags = c.u8();
            let psn_base = if flags & 1 == 0 { rq_psn } else { sq_psn };
            let psn = bth::psn_add(psn_base, u32::from(c.u8()).wrapping_sub(8));
            let va = edges[c.u8() as usize % edges.len()].wrapping_add(u64::from(c.u16() % 0x300));
            let rkey = keys[c.u8() as usize % keys.len()];
            let dma_len = c.u16() as u32 % 0x1200;
            let syndrome = Syndrome::from(c.u8());
            let payload_len = c.u16() as usize % 300;
            let payload = c.take(payload_len).to_vec();
            let f = op.flags().unwrap();
            use bth::OpFlags as F;
            let repr = roce::Repr {
                src_mac: EthernetAddress(MAC_PEER),
                dst_mac: EthernetAddress(MAC_US),
                ip: ipv4::Repr {
                    src_addr: if flags & 2 == 0 { IP_PEER } else { Ipv4Address::new(10, 0, 0, 9) },
                    dst_addr: IP_US,
                    protocol: ipv4::Protocol::Udp,
                    payload_len: 0,
                    ttl: 64,
                    dscp_ecn: 0,
                    ident: 0,
                    dont_frag: true,
                },
                udp_src_port: 0xC000,
                bth: bth::Repr {
                    opcode: op,
                    solicited: false,
                    migreq: false,
                    pad_count: 0,
                    pkey: if flags & 4 == 0 { 0xFFFF } else { 0x8001 },
                    fecn: false,
                    becn: false,
                    dest_qpn: if flags & 8 == 0 { qpn } else { 1 },
                    ack_req: flags & 16 != 0,
                    psn,
                },
                deth: f.contains(F::DETH).then_some(fabric::wire::deth::Repr { qkey: 0x8001_0000, src_qpn: 1 }),
                reth: f.contains(F::RETH).then_some(reth::Repr { va, rkey, dma_len }),
                aeth: f.contains(F::AETH).then_some(aeth::Repr { syndrome, msn: 0 }),
                immdt: f.contains(F::IMMDT).then_some(fabric::wire::immdt::Repr { imm: 0 }),
                ieth: f.contains(F::IETH).then_some(rkey),
                payload: if f.contains(F::PAYLOAD) { &payload } else { &[] },
            };
            let Ok(len) = repr.buffer_len() else { continue };
            let mut buf = vec![0u8; len];
            if repr.emit(&mut buf).is_err() {
                continue;
            }
            buf
        };
        hca.nic_mut().rx.push_back(frame);
        if mode & 0x80 != 0 || c.0.is_empty() {
            hca.poll(Instant(now));
            now += u64::from(mode & 0x7F) * 100;
            while hca.poll_cq(qp).is_some() {}
            if hca.recv_peek(qp).is_some() {
                hca.recv_pop(qp);
            }
        }
    }
    // Let timers run out.
    for _ in 0..20 {
        now = hca.poll_at().map_or(now + 1000, |t| t.0.max(now + 1));
        hca.poll(Instant(now));
    }
});
