//! Transport tests: scripted single-step checks against a fake NIC, and
//! two HCAs over the lossy loopback segment.

use super::*;
use crate::nic::loopback::{Faults, Segment};
use crate::wire::aeth::{self, NakCode, Syndrome};
use crate::wire::{reth, roce};
use std::boxed::Box;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

// ------------------------------------------------------------- fakes ---

/// Memory backed by a Vec at `base`.
pub(crate) struct VecMem {
    pub base: u64,
    pub bytes: Vec<u8>,
}

impl Memory for VecMem {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        let Some(start) = addr.checked_sub(self.base) else {
            return false;
        };
        let Some(end) = start.checked_add(out.len() as u64) else {
            return false;
        };
        if end > self.bytes.len() as u64 {
            return false;
        }
        out.copy_from_slice(&self.bytes[start as usize..end as usize]);
        true
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        let Some(start) = addr.checked_sub(self.base) else {
            return false;
        };
        let Some(end) = start.checked_add(data.len() as u64) else {
            return false;
        };
        if end > self.bytes.len() as u64 {
            return false;
        }
        self.bytes[start as usize..end as usize].copy_from_slice(data);
        true
    }
}

/// A NIC the test feeds and reads.
#[derive(Default)]
pub(crate) struct ScriptNic {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: Vec<Vec<u8>>,
}

impl Nic for ScriptNic {
    fn mac(&self) -> [u8; 6] {
        MAC_A.0
    }
    fn max_frame(&self) -> usize {
        1514
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let frame = self.rx.pop_front()?;
        Some(f(&frame))
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.tx.push(buf);
        Some(r)
    }
}

/// One port of a shared loopback segment.
pub(crate) struct SharedPort {
    pub seg: Rc<RefCell<Box<Segment>>>,
    pub port: usize,
}

impl Nic for SharedPort {
    fn mac(&self) -> [u8; 6] {
        self.seg.borrow_mut().port(self.port).mac()
    }
    fn max_frame(&self) -> usize {
        crate::nic::loopback::MAX_FRAME
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let mut copy = [0u8; crate::nic::loopback::MAX_FRAME];
        let n = self.seg.borrow_mut().port(self.port).receive(|fr| {
            copy[..fr.len()].copy_from_slice(fr);
            fr.len()
        })?;
        Some(f(&copy[..n]))
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        self.seg.borrow_mut().port(self.port).transmit(len, f)
    }
}

pub(crate) const MAC_A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xA]);
pub(crate) const MAC_B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xB]);
pub(crate) const IP_A: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
pub(crate) const IP_B: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const RW: Access = Access {
    remote_read: true,
    remote_write: true,
};
const BASE: u64 = 0x10_0000;

type ScriptHca = Hca<ScriptNic, VecMem, 2, 4, 1024>;

// ---------------------------------------------------- scripted tests ---

const PEER_QPN: u32 = 0x42;

/// An HCA with one QP in RTS talking to a scripted peer.
fn scripted(sq_psn: u32, rq_psn: u32, pmtu: usize) -> (ScriptHca, usize) {
    let mem = VecMem {
        base: BASE,
        bytes: vec![0; 64 * 1024],
    };
    let mut h = ScriptHca::new(ScriptNic::default(), mem, HcaConfig::new(IP_A, 1));
    let qp = h.create_qp().unwrap();
    h.modify_rtr(qp, attr(sq_psn, rq_psn, pmtu)).unwrap();
    h.modify_rts(qp).unwrap();
    (h, qp)
}

fn attr(sq_psn: u32, rq_psn: u32, pmtu: usize) -> QpAttr {
    QpAttr {
        dest_qpn: PEER_QPN,
        peer_ip: IP_B,
        peer_mac: MAC_B,
        pmtu,
        sq_psn,
        rq_psn,
        retry_cnt: 7,
        rnr_retry: 7,
        timeout_us: 100_000,
        max_rd_atomic: 4,
        window: 8,
        remote_write: true,
        remote_read: true,
        flow_label: 0,
    }
}

struct PeerPkt<'a> {
    op: OpCode,
    psn: u32,
    ack_req: bool,
    reth: Option<reth::Repr>,
    aeth: Option<aeth::Repr>,
    payload: &'a [u8],
}

fn frame(dst_qpn: u32, p: PeerPkt<'_>) -> Vec<u8> {
    let repr = roce::Repr {
        src_mac: MAC_B,
        dst_mac: MAC_A,
        ip: crate::wire::ipv4::Repr {
            src_addr: IP_B,
            dst_addr: IP_A,
            protocol: crate::wire::ipv4::Protocol::Udp,
            payload_len: 0,
            ttl: 64,
            dscp_ecn: 0,
            ident: 1,
            dont_frag: true,
        },
        udp_src_port: 0xC123,
        bth: net::bth(p.op, dst_qpn, p.psn, p.ack_req),
        deth: None,
        reth: p.reth,
        aeth: p.aeth,
        immdt: None,
        ieth: None,
        payload: p.payload,
    };
    let mut buf = vec![0u8; repr.buffer_len().unwrap()];
    repr.emit(&mut buf).unwrap();
    buf
}

fn req(
    op: OpCode,
    psn: u32,
    ack_req: bool,
    reth: Option<reth::Repr>,
    payload: &[u8],
) -> PeerPkt<'_> {
    PeerPkt {
        op,
        psn,
        ack_req,
        reth,
        aeth: None,
        payload,
    }
}

fn ack(psn: u32, syndrome: Syndrome) -> PeerPkt<'static> {
    PeerPkt {
        op: OpCode::RcAcknowledge,
        psn,
        ack_req: false,
        reth: None,
        aeth: Some(aeth::Repr { syndrome, msn: 0 }),
        payload: &[],
    }
}

fn inject(h: &mut ScriptHca, qp: usize, now: u64, pkts: Vec<PeerPkt<'_>>) -> Vec<Vec<u8>> {
    let qpn = h.qpn(qp);
    for p in pkts {
        let f = frame(qpn, p);
        h.nic_mut().rx.push_back(f);
    }
    h.poll(Instant(now));
    core::mem::take(&mut h.nic_mut().tx)
}

fn parsed(frames: &[Vec<u8>]) -> Vec<(OpCode, u32, bool, Option<Syndrome>, usize)> {
    frames
        .iter()
        .map(|f| {
            let r = roce::Repr::parse(f).expect("we emit valid frames");
            (
                r.bth.opcode,
                r.bth.psn,
                r.bth.ack_req,
                r.aeth.map(|a| a.syndrome),
                r.payload.len(),
            )
        })
        .collect()
}

#[test]
fn send_segmentation_ackreq_and_psn_wrap() {
    let (mut h, qp) = scripted(0xFF_FFFE, 0, 256);
    let msg: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
    h.post_send(qp, 7, &msg).unwrap();
    let out = parsed(&inject(&mut h, qp, 0, vec![]));
    assert_eq!(
        out,
        vec![
            (OpCode::RcSendFirst, 0xFF_FFFE, false, None, 256),
            (OpCode::RcSendMiddle, 0xFF_FFFF, false, None, 256),
            (OpCode::RcSendLast, 0, true, None, 188),
        ]
    );
    // One coalesced ACK for the last PSN completes the whole message.
    assert!(inject(&mut h, qp, 10, vec![ack(0, Syndrome::ACK)]).is_empty());
    let c = h.poll_cq(qp).unwrap();
    assert_eq!((c.wr_id, c.status, c.len), (7, WcStatus::Success, 700));
    assert_eq!(h.core.qps[qp].comp.psn, 1);
}

#[test]
fn nak_seq_retransmits_from_its_psn() {
    let (mut h, qp) = scripted(100, 0, 256);
    for i in 0..3 {
        h.post_send(qp, i, &[i as u8; 10]).unwrap();
    }
    let out = parsed(&inject(&mut h, qp, 0, vec![]));
    assert_eq!(
        out.iter().map(|p| p.1).collect::<Vec<_>>(),
        vec![100, 101, 102]
    );
    // The peer got 100, lost 101: NAK-seq 101 acks 100 and rewinds.
    let out = parsed(&inject(
        &mut h,
        qp,
        5,
        vec![ack(101, Syndrome::Nak(NakCode::PsnSequenceError))],
    ));
    assert_eq!(out.iter().map(|p| p.1).collect::<Vec<_>>(), vec![101, 102]);
    assert_eq!(h.poll_cq(qp).map(|c| c.wr_id), Some(0));
    assert_eq!(h.poll_cq(qp), None);
    assert_eq!(h.counters().req_seq_naks, 1);
}

#[test]
fn timeout_retransmits_then_gives_up() {
    let (mut h, qp) = scripted(5, 0, 256);
    h.post_send(qp, 1, b"hello").unwrap();
    assert_eq!(inject(&mut h, qp, 0, vec![]).len(), 1);
    let mut now;
    for _ in 0..7 {
        now = h.poll_at().unwrap().0;
        let out = parsed(&inject(&mut h, qp, now, vec![]));
        assert_eq!(out, vec![(OpCode::RcSendOnly, 5, true, None, 5)]);
    }
    now = h.poll_at().unwrap().0;
    assert!(inject(&mut h, qp, now, vec![]).is_empty());
    assert_eq!(
        h.poll_cq(qp).map(|c| c.status),
        Some(WcStatus::RetryExceeded)
    );
    assert_eq!(h.qp_state(qp), QpState::Error);
    assert_eq!(h.counters().req_timeouts, 8);
}

#[test]
fn rnr_nak_waits_then_resends() {
    let (mut h, qp) = scripted(5, 0, 256);
    h.post_send(qp, 1, b"a").unwrap();
    h.post_send(qp, 2, b"b").unwrap();
    assert_eq!(inject(&mut h, qp, 0, vec![]).len(), 2);
    // RNR for PSN 6 (timer code 2 = 20 µs) acks PSN 5.
    assert!(inject(&mut h, qp, 1, vec![ack(6, Syndrome::RnrNak { timer: 2 })]).is_empty());
    assert_eq!(h.poll_cq(qp).map(|c| c.wr_id), Some(1));
    assert_eq!(h.poll_at(), Some(Instant(21)));
    assert!(inject(&mut h, qp, 20, vec![]).is_empty());
    let out = parsed(&inject(&mut h, qp, 21, vec![]));
    assert_eq!(out, vec![(OpCode::RcSendOnly, 6, true, None, 1)]);
}

#[test]
fn responder_acks_duplicates_and_naks_gaps_once() {
    let (mut h, qp) = scripted(0, 0xFF_FFFF, 256);
    let out = parsed(&inject(
        &mut h,
        qp,
        0,
        vec![req(OpCode::RcSendOnly, 0xFF_FFFF, true, None, b"one")],
    ));
    assert_eq!(
        out,
        vec![(
            OpCode::RcAcknowledge,
            0xFF_FFFF,
            false,
            Some(Syndrome::ACK),
            0
        )]
    );
    assert_eq!(h.recv_peek(qp), Some(&b"one"[..]));
    // Duplicate: re-ACKed with the last PSN, not delivered again.
    let out = parsed(&inject(
        &mut h,
        qp,
        1,
        vec![req(OpCode::RcSendOnly, 0xFF_FFFF, true, None, b"one")],
    ));
    assert_eq!(
        out,
        vec![(
            OpCode::RcAcknowledge,
            0xFF_FFFF,
            false,
            Some(Syndrome::ACK),
            0
        )]
    );
    h.recv_pop(qp);
    assert_eq!(h.recv_peek(qp), None);
    // Gap (PSN 1 while 0 expected): one NAK-seq naming 0, then silence.
    let out = parsed(&inject(
        &mut h,
        qp,
        2,
        vec![
            req(OpCode::RcSendOnly, 1, true, None, b"x"),
            req(OpCode::RcSendOnly, 2, true, None, b"y"),
        ],
    ));
    assert_eq!(
        out,
        vec![(
            OpCode::RcAcknowledge,
            0,
            false,
            Some(Syndrome::Nak(NakCode::PsnSequenceError)),
            0
        )]
    );
    assert_eq!(h.counters().resp_duplicate, 1);
    assert_eq!(h.counters().resp_out_of_seq, 2);
}

#[test]
fn responder_rnr_when_no_slot() {
    let (mut h, qp) = scripted(0, 10, 256);
    let pkts = (0..5)
        .map(|i| req(OpCode::RcSendOnly, 10 + i, true, None, b"m"))
        .collect();
    let out = parsed(&inject(&mut h, qp, 0, pkts));
    // Four slots: four ACKs (coalesced into one), then an RNR NAK for 14.
    assert_eq!(
        out,
        vec![
            (OpCode::RcAcknowledge, 13, false, Some(Syndrome::ACK), 0),
            (
                OpCode::RcAcknowledge,
                14,
                false,
                Some(Syndrome::RnrNak {
                    timer: param::RNR_TIMER_CODE
                }),
                0
            ),
        ]
    );
    h.recv_pop(qp);
    let out = parsed(&inject(
        &mut h,
        qp,
        1,
        vec![req(OpCode::RcSendOnly, 14, true, None, b"m")],
    ));
    assert_eq!(
        out,
        vec![(OpCode::RcAcknowledge, 14, false, Some(Syndrome::ACK), 0)]
    );
}

fn write_only(psn: u32, va: u64, rkey: u32, data: &[u8]) -> PeerPkt<'_> {
    req(
        OpCode::RcRdmaWriteOnly,
        psn,
        true,
        Some(reth::Repr {
            va,
            rkey,
            dma_len: data.len() as u32,
        }),
        data,
    )
}

#[test]
fn rdma_write_checks_key_bounds_and_access_before_writing() {
    for case in 0..5 {
        let (mut h, qp) = scripted(0, 0, 256);
        let ro = h
            .register(
                BASE + 0x100,
                0x100,
                Access {
                    remote_read: true,
                    remote_write: false,
                },
            )
            .unwrap();
        let rw = h.register(BASE + 0x1000, 0x100, RW).unwrap();
        let stale = h.register(BASE, 0x100, RW).unwrap();
        h.deregister(stale.rkey);
        let (va, key) = match case {
            0 => (rw.addr + 0xF8, rw.rkey),  // runs 8 bytes past the end
            1 => (rw.addr - 1, rw.rkey),     // starts before
            2 => (stale.addr, stale.rkey),   // revoked key
            3 => (ro.addr, ro.rkey),         // no write access
            _ => (rw.addr, rw.rkey ^ 0x100), // forged key
        };
        let before = h.memory().bytes.clone();
        let out = parsed(&inject(
            &mut h,
            qp,
            0,
            vec![write_only(0, va, key, &[0xEE; 16])],
        ));
        assert_eq!(
            out,
            vec![(
                OpCode::RcAcknowledge,
                0,
                false,
                Some(Syndrome::Nak(NakCode::RemoteAccessError)),
                0
            )],
            "case {case}"
        );
        assert!(h.memory().bytes == before, "case {case}: memory changed");
        assert_eq!(h.qp_state(qp), QpState::Error);
        // Nothing more is accepted.
        assert!(inject(&mut h, qp, 1, vec![write_only(1, rw.addr, rw.rkey, &[1])]).is_empty());
    }
}

#[test]
fn rdma_write_multi_packet_and_zero_length() {
    let (mut h, qp) = scripted(0, 0, 256);
    let r = h.register(BASE + 0x2000, 600, RW).unwrap();
    let data: Vec<u8> = (0..600u32).map(|i| (i * 7) as u8).collect();
    let out = parsed(&inject(
        &mut h,
        qp,
        0,
        vec![
            // ib_srpt's zero-length write: any key, ACKed.
            req(
                OpCode::RcRdmaWriteOnly,
                0,
                true,
                Some(reth::Repr {
                    va: 0,
                    rkey: 0,
                    dma_len: 0,
                }),
                &[],
            ),
            req(
                OpCode::RcRdmaWriteFirst,
                1,
                false,
                Some(reth::Repr {
                    va: r.addr,
                    rkey: r.rkey,
                    dma_len: 600,
                }),
                &data[..256],
            ),
            req(OpCode::RcRdmaWriteMiddle, 2, false, None, &data[256..512]),
            req(OpCode::RcRdmaWriteLast, 3, true, None, &data[512..]),
        ],
    ));
    assert_eq!(
        out,
        vec![(OpCode::RcAcknowledge, 3, false, Some(Syndrome::ACK), 0)]
    );
    assert_eq!(&h.memory().bytes[0x2000..0x2000 + 600], &data[..]);
    // MIDDLE without FIRST: class C.
    let out = parsed(&inject(
        &mut h,
        qp,
        1,
        vec![req(OpCode::RcRdmaWriteMiddle, 4, false, None, &[0; 256])],
    ));
    assert_eq!(out[0].3, Some(Syndrome::Nak(NakCode::InvalidRequest)));
}

#[test]
fn rdma_write_last_of_wrong_length_is_invalid() {
    let (mut h, qp) = scripted(0, 0, 256);
    let r = h.register(BASE, 600, RW).unwrap();
    let before = h.memory().bytes.clone();
    let out = parsed(&inject(
        &mut h,
        qp,
        0,
        vec![
            req(
                OpCode::RcRdmaWriteFirst,
                0,
                false,
                Some(reth::Repr {
                    va: r.addr,
                    rkey: r.rkey,
                    dma_len: 300,
                }),
                &[1; 256],
            ),
            req(OpCode::RcRdmaWriteLast, 1, true, None, &[1; 200]),
        ],
    ));
    assert_eq!(
        out.last().unwrap().3,
        Some(Syndrome::Nak(NakCode::InvalidRequest))
    );
    // The first packet was in bounds and was placed; nothing past 300.
    assert!(h.memory().bytes[300..] == before[300..]);
}

#[test]
fn rdma_read_responses_and_duplicate_replay() {
    let (mut h, qp) = scripted(0, 50, 256);
    let r = h.register(BASE + 0x4000, 600, RW).unwrap();
    for (i, b) in h.memory_mut().bytes[0x4000..0x4000 + 600]
        .iter_mut()
        .enumerate()
    {
        *b = i as u8 ^ 0x5A;
    }
    let read = |psn, va, len| {
        req(
            OpCode::RcRdmaReadRequest,
            psn,
            true,
            Some(reth::Repr {
                va,
                rkey: r.rkey,
                dma_len: len,
            }),
            &[],
        )
    };
    let out = parsed(&inject(&mut h, qp, 0, vec![read(50, r.addr, 600)]));
    assert_eq!(
        out,
        vec![
            (
                OpCode::RcRdmaReadResponseFirst,
                50,
                false,
                Some(Syndrome::ACK),
                256
            ),
            (OpCode::RcRdmaReadResponseMiddle, 51, false, None, 256),
            (
                OpCode::RcRdmaReadResponseLast,
                52,
                false,
                Some(Syndrome::ACK),
                88
            ),
        ]
    );
    // A SEND after it must see PSN 53 (the READ consumed three).
    let out = parsed(&inject(
        &mut h,
        qp,
        1,
        vec![req(OpCode::RcSendOnly, 53, true, None, b"s")],
    ));
    assert_eq!(
        out,
        vec![(OpCode::RcAcknowledge, 53, false, Some(Syndrome::ACK), 0)]
    );
    // The requester lost the MIDDLE and asks again from PSN 51.
    let out = parsed(&inject(&mut h, qp, 2, vec![read(51, r.addr + 256, 344)]));
    assert_eq!(
        out.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
        vec![
            (OpCode::RcRdmaReadResponseFirst, 51),
            (OpCode::RcRdmaReadResponseLast, 52)
        ]
    );
    // A duplicate outside the original range is dropped.
    assert!(inject(&mut h, qp, 3, vec![read(51, r.addr + 256, 345)]).is_empty());
    // Out of bounds read: NAK access, nothing sent from memory.
    let out = parsed(&inject(&mut h, qp, 4, vec![read(54, r.addr + 1, 600)]));
    assert_eq!(
        out,
        vec![(
            OpCode::RcAcknowledge,
            54,
            false,
            Some(Syndrome::Nak(NakCode::RemoteAccessError)),
            0
        )]
    );
}

#[test]
fn read_requester_handles_out_of_order_responses() {
    let (mut h, qp) = scripted(10, 0, 256);
    let local = BASE + 0x8000;
    h.post_read(qp, 9, local, 0x5000, 0x77, 700).unwrap();
    let out = parsed(&inject(&mut h, qp, 0, vec![]));
    assert_eq!(out, vec![(OpCode::RcRdmaReadRequest, 10, true, None, 0)]);
    let data: Vec<u8> = (0..700u32).map(|i| (i * 3) as u8).collect();
    let resp = |op, psn, part: &'static [u8], aeth: bool| PeerPkt {
        op,
        psn,
        ack_req: false,
        reth: None,
        aeth: aeth.then_some(aeth::Repr {
            syndrome: Syndrome::ACK,
            msn: 1,
        }),
        payload: part,
    };
    let data: &'static [u8] = Box::leak(data.into_boxed_slice());
    // FIRST arrives, MIDDLE is lost, LAST arrives: re-request from PSN 11.
    let out = parsed(&inject(
        &mut h,
        qp,
        1,
        vec![
            resp(OpCode::RcRdmaReadResponseFirst, 10, &data[..256], true),
            resp(OpCode::RcRdmaReadResponseLast, 12, &data[512..], true),
        ],
    ));
    assert_eq!(out, vec![(OpCode::RcRdmaReadRequest, 11, true, None, 0)]);
    assert_eq!(h.counters().comp_out_of_order, 1);
    assert!(
        inject(&mut h, qp, 2, vec![]).is_empty(),
        "no second re-request for the same gap"
    );
    let out = inject(
        &mut h,
        qp,
        3,
        vec![
            resp(OpCode::RcRdmaReadResponseFirst, 11, &data[256..512], true), // the re-request's answer starts FIRST
            resp(OpCode::RcRdmaReadResponseMiddle, 11, &data[256..512], false), // late first answer: duplicate
            resp(OpCode::RcRdmaReadResponseMiddle, 12, &data[512..], false), // MIDDLE for the last PSN: refused
            resp(OpCode::RcRdmaReadResponseLast, 12, &data[512..], true),
        ],
    );
    assert!(out.is_empty());
    let c = h.poll_cq(qp).unwrap();
    assert_eq!(
        (c.wr_id, c.kind, c.status),
        (9, WrKind::Read, WcStatus::Success)
    );
    assert_eq!(&h.memory().bytes[0x8000..0x8000 + 700], data);
}

#[test]
fn forged_and_foreign_packets_are_dropped_and_counted() {
    let (mut h, qp) = scripted(0, 0, 256);
    let good = frame(h.qpn(qp), req(OpCode::RcSendOnly, 0, true, None, b"x"));
    let mut bad_icrc = good.clone();
    *bad_icrc.last_mut().unwrap() ^= 1;
    let mut other_qp = good.clone();
    other_qp[42 + 7] ^= 0x55;
    let mut other_ip = good.clone();
    other_ip[26 + 3] ^= 1; // source address: header checksum now wrong too
    for f in [
        bad_icrc,
        other_qp,
        other_ip,
        good[..40].to_vec(),
        vec![0; 10],
    ] {
        h.nic_mut().rx.push_back(f);
    }
    h.poll(Instant(0));
    assert!(h.nic_mut().tx.is_empty());
    let c = h.counters();
    assert_eq!(c.drop_malformed, 2);
    assert_eq!(c.drop_unknown_qp, 1);
    assert_eq!(c.drop_short, 2);
    assert_eq!(h.recv_peek(qp), None);
}

#[test]
fn arp_is_answered_and_resolved() {
    let mut h = ScriptHca::new(
        ScriptNic::default(),
        VecMem {
            base: 0,
            bytes: vec![],
        },
        HcaConfig::new(IP_A, 3),
    );
    let arp = |op: crate::wire::arp::Operation, tpa: Ipv4Address| {
        let mut f = vec![0u8; 42];
        crate::wire::eth::Repr {
            src_addr: MAC_B,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: crate::wire::eth::EtherType::Arp,
        }
        .emit(&mut crate::wire::eth::Frame::new_unchecked(&mut f[..]));
        crate::wire::arp::Repr {
            operation: op,
            source_hardware_addr: MAC_B,
            source_protocol_addr: IP_B,
            target_hardware_addr: MAC_A,
            target_protocol_addr: tpa,
        }
        .emit(&mut crate::wire::arp::Packet::new_unchecked(&mut f[14..]));
        f
    };
    h.nic_mut()
        .rx
        .push_back(arp(crate::wire::arp::Operation::Request, IP_A));
    h.nic_mut().rx.push_back(arp(
        crate::wire::arp::Operation::Request,
        Ipv4Address::new(10, 0, 0, 9),
    ));
    h.poll(Instant(0));
    let tx = core::mem::take(&mut h.nic_mut().tx);
    assert_eq!(tx.len(), 1);
    assert_eq!(&tx[0][..6], &MAC_B.0);
    assert_eq!(&tx[0][20..22], &[0, 2]); // reply
    let ip_c = Ipv4Address::new(10, 0, 0, 3);
    assert_eq!(h.resolve(Instant(0), ip_c), Resolution::Pending);
    h.poll(Instant(0));
    let tx = core::mem::take(&mut h.nic_mut().tx);
    assert_eq!(tx.len(), 1);
    assert_eq!(&tx[0][..6], &[0xFF; 6]);
    assert_eq!(&tx[0][38..42], &ip_c.0);
}

// ----------------------------------------------------- loopback pair ---

type LoopHca = Hca<SharedPort, VecMem, 2, 8, 1024>;

fn pair(seed: u64, faults: Faults, pmtu: usize, window: u32) -> (LoopHca, LoopHca, usize, usize) {
    let seg = Rc::new(RefCell::new(Box::new(Segment::new(MAC_A.0, MAC_B.0))));
    seg.borrow_mut().set_faults(faults);
    let mk = |port, ip, s| {
        let mut cfg = HcaConfig::new(ip, s);
        cfg.tx_budget = 16;
        cfg.window = window;
        cfg.retransmit_us = 20_000;
        LoopHca::new(
            SharedPort {
                seg: seg.clone(),
                port,
            },
            VecMem {
                base: BASE,
                bytes: vec![0; 3 << 20],
            },
            cfg,
        )
    };
    let mut a = mk(0, IP_A, seed);
    let mut b = mk(1, IP_B, seed + 1);
    let qa = a.create_qp().unwrap();
    let qb = b.create_qp().unwrap();
    let (pa, pb) = (0xFF_FFF0, 0x12_3456);
    let mut at = attr(pa, pb, pmtu);
    at.dest_qpn = b.qpn(qb);
    at.window = window;
    at.timeout_us = 20_000;
    a.modify_rtr(qa, at).unwrap();
    a.modify_rts(qa).unwrap();
    let bt = QpAttr {
        dest_qpn: a.qpn(qa),
        peer_ip: IP_A,
        peer_mac: MAC_A,
        sq_psn: pb,
        rq_psn: pa,
        ..at
    };
    b.modify_rtr(qb, bt).unwrap();
    b.modify_rts(qb).unwrap();
    (a, b, qa, qb)
}

/// Polls both until `done` or a step limit; time jumps when idle.
fn run(
    a: &mut LoopHca,
    b: &mut LoopHca,
    now: &mut u64,
    mut done: impl FnMut(&mut LoopHca, &mut LoopHca) -> bool,
) {
    for _ in 0..2_000_000 {
        a.poll(Instant(*now));
        b.poll(Instant(*now));
        if done(a, b) {
            return;
        }
        let next = [a.poll_at(), b.poll_at()].into_iter().flatten().min();
        *now = match next {
            Some(t) if t.0 > *now => t.0,
            _ => *now + 1,
        };
    }
    panic!(
        "did not finish; a: {:?} b: {:?}",
        a.counters(),
        b.counters()
    );
}

fn lossy(seed: u64) -> Faults {
    Faults {
        drop_per_64k: 2000,
        dup_per_64k: 1500,
        swap_per_64k: 2500,
        seed,
    }
}

#[test]
fn loopback_sends_in_order_under_faults() {
    for seed in [1, 2, 3] {
        let (mut a, mut b, qa, qb) = pair(seed, lossy(seed), 256, 8);
        let mut now = 0;
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut next = 0u32;
        let total = 200u32;
        run(&mut a, &mut b, &mut now, |a, b| {
            while next < total && a.sq_room(qa) > 0 {
                let len = (next as usize * 37) % 1024;
                let msg: Vec<u8> = (0..len).map(|i| (i as u32 ^ next) as u8).collect();
                a.post_send(qa, u64::from(next), &msg).unwrap();
                next += 1;
            }
            while a.poll_cq(qa).is_some() {}
            while let Some(m) = b.recv_peek(qb) {
                got.push(m.to_vec());
                b.recv_pop(qb);
            }
            got.len() == total as usize && a.sq_room(qa) == 8
        });
        for (n, m) in got.iter().enumerate() {
            let len = (n * 37) % 1024;
            assert_eq!(m.len(), len);
            assert!(m
                .iter()
                .enumerate()
                .all(|(i, &x)| x == (i as u32 ^ n as u32) as u8));
        }
        assert!(
            a.counters().req_retries > 0,
            "seed {seed}: faults should force retries"
        );
    }
}

#[test]
fn loopback_rdma_write_and_read_mib_under_faults() {
    for seed in [11, 12] {
        let (mut a, mut b, _qa, qb) = pair(seed, lossy(seed), 1024, 16);
        // A exposes 1 MiB for writes and 1 MiB for reads; B moves them.
        let wr = a
            .register(
                BASE,
                1 << 20,
                Access {
                    remote_write: true,
                    remote_read: false,
                },
            )
            .unwrap();
        let rd = a
            .register(
                BASE + (1 << 20),
                1 << 20,
                Access {
                    remote_write: false,
                    remote_read: true,
                },
            )
            .unwrap();
        for (i, x) in a.memory_mut().bytes[1 << 20..2 << 20]
            .iter_mut()
            .enumerate()
        {
            *x = (i * 13 + 5) as u8;
        }
        for (i, x) in b.memory_mut().bytes[..1 << 20].iter_mut().enumerate() {
            *x = (i * 7 + 1) as u8;
        }
        let chunk = 64 * 1024u32;
        let mut now = 0;
        let (mut posted, mut done) = (0u32, 0u32);
        let n = (1u32 << 20) / chunk;
        run(&mut a, &mut b, &mut now, |a, b| {
            while posted < 2 * n && b.sq_room(qb) > 0 {
                let (i, write) = (posted % n, posted < n);
                let off = u64::from(i * chunk);
                if write {
                    b.post_write(
                        qb,
                        u64::from(posted),
                        BASE + off,
                        wr.addr + off,
                        wr.rkey,
                        chunk,
                    )
                    .unwrap();
                } else {
                    b.post_read(
                        qb,
                        u64::from(posted),
                        BASE + (2 << 20) + off,
                        rd.addr + off,
                        rd.rkey,
                        chunk,
                    )
                    .unwrap();
                }
                posted += 1;
            }
            while let Some(c) = b.poll_cq(qb) {
                assert_eq!(
                    c.status,
                    WcStatus::Success,
                    "{c:?}\na {:?}\nb {:?}",
                    a.counters(),
                    b.counters()
                );
                done += 1;
            }
            done == 2 * n
        });
        assert!(
            a.memory().bytes[..1 << 20] == b.memory().bytes[..1 << 20],
            "seed {seed}: written bytes"
        );
        assert!(
            a.memory().bytes[1 << 20..2 << 20] == b.memory().bytes[2 << 20..3 << 20],
            "seed {seed}: read bytes"
        );
        assert!(b.counters().req_retries > 0);
    }
}
