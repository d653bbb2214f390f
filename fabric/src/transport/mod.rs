//! The software HCA: RoCEv2 RC queue pairs and the GSI (QP1) on a plain
//! Ethernet NIC, shaped like Linux rxe.
//!
//! | file | role |
//! |---|---|
//! | `recv.rs` | validates and routes every frame, cheapest check first; every drop is counted |
//! | `req.rs` | requester: turns work requests into packets, segments by path MTU, AckReq, retransmission |
//! | `resp.rs` | responder: SEND into receive slots, RDMA WRITE/READ after key, bounds and rights checks, ACK/NAK, duplicates |
//! | `comp.rs` | completer: ACK/NAK/RNR handling, READ response placement, timeouts, completions |
//! | `net.rs` | frames: Ethernet/IPv4/UDP/ICRC around a transport packet, ARP |
//! | `arp.rs`, `mr.rs`, `qp.rs`, `param.rs` | ARP cache, memory regions, QP state, limits |
//!
//! Nothing here blocks or reads a clock: [`Hca::poll`] does bounded ready
//! work at the time it is given, and [`Hca::poll_at`] says when timed work
//! is due. Storage is fixed: `QPS` RC queue pairs, each with `DEPTH` send,
//! receive and completion slots for messages of up to `MSG` bytes.

pub mod arp;
mod comp;
pub mod mr;
pub mod net;
pub mod param;
pub mod qp;
mod recv;
mod req;
mod resp;

use crate::channel::{Access, RemoteRegion};
use crate::memory::Memory;
use crate::nic::Nic;
use crate::time::{Duration, Instant};
use crate::wire::arp::Operation;
use crate::wire::bth::{self, OpCode, GSI_QPN};
use crate::wire::cm::Gid;
use crate::wire::{deth, mad, EthernetAddress, Ipv4Address};

pub use self::arp::Resolution;
pub use self::mr::{MrError, MrTable};
use self::net::NetCtx;
use self::param::*;
pub use self::qp::{Completion, QpAttr, QpState, RcQp, WcStatus, WrKind};

/// Static configuration of an HCA.
#[derive(Debug, Clone, Copy)]
pub struct HcaConfig {
    /// Our IPv4 address (our GID is `::ffff:` it).
    pub ip: Ipv4Address,
    /// Our subnet mask (peers outside go through `gateway`).
    pub netmask: Ipv4Address,
    /// Router for peers outside the subnet, if any.
    pub gateway: Option<Ipv4Address>,
    /// Seed for keys, QPNs, PSNs and comm IDs (no global RNG here).
    pub seed: u64,
    /// Frames sent per `poll` at most.
    pub tx_budget: usize,
    /// Request packets in flight per QP.
    pub window: u32,
    /// Retransmit timeout of our requester, µs.
    pub retransmit_us: u64,
}

impl HcaConfig {
    /// Defaults for `ip` on a flat network.
    pub const fn new(ip: Ipv4Address, seed: u64) -> Self {
        HcaConfig {
            ip,
            netmask: Ipv4Address::UNSPECIFIED,
            gateway: None,
            seed,
            tx_budget: TX_BUDGET,
            window: DEFAULT_WINDOW,
            retransmit_us: DEFAULT_RETRANSMIT_US,
        }
    }
}

/// Why a work request could not be posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostError {
    /// No such QP, or it is failed.
    WrongState,
    /// The send queue is full.
    Busy,
    /// Longer than a message slot (SEND) or 2^31 bytes (RDMA).
    TooLarge,
}

/// Drop, retry and error counters (rxe_hw_counters in spirit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames taken from the NIC.
    pub rx_frames: u64,
    /// Dropped: too short for the headers their type needs.
    pub drop_short: u64,
    /// Dropped: not addressed to us (MAC, IP) or not a protocol we speak.
    pub drop_not_ours: u64,
    /// Dropped: IPv4 but not RoCEv2 (protocol, port, options).
    pub drop_not_roce: u64,
    /// Dropped: no QP with that number.
    pub drop_unknown_qp: u64,
    /// Dropped: QP not in a state that receives.
    pub drop_bad_state: u64,
    /// Dropped: malformed headers or bad ICRC (`wire::roce` refused it).
    pub drop_malformed: u64,
    /// Dropped: P_Key mismatch.
    pub drop_pkey: u64,
    /// Dropped: RC packet from an address that is not the QP's peer.
    pub drop_bad_addr: u64,
    /// Dropped: opcode not valid for the QP type.
    pub drop_bad_opcode: u64,
    /// Dropped on QP1: not a MAD, wrong Q_Key, or no buffer.
    pub drop_gsi: u64,
    /// ARP requests we answered.
    pub arp_replies: u64,
    /// ARP requests we sent.
    pub arp_requests: u64,
    /// Responder: duplicate requests (re-ACKed or READ replayed).
    pub resp_duplicate: u64,
    /// Responder: requests past the expected PSN (NAK-seq sent once).
    pub resp_out_of_seq: u64,
    /// Responder: RNR NAKs sent (no receive slot).
    pub resp_rnr: u64,
    /// Responder: remote access NAKs sent (key, bounds, rights).
    pub resp_access_nak: u64,
    /// Responder: invalid request NAKs sent (sequence, length, opcode).
    pub resp_invalid_nak: u64,
    /// Responder: operational error NAKs sent (memory refused bytes).
    pub resp_op_nak: u64,
    /// Responder: requests dropped because its output queue was full.
    pub resp_busy: u64,
    /// Completer: responses dropped as duplicates, stale or inconsistent.
    pub comp_dropped: u64,
    /// Completer: READ responses past the expected PSN.
    pub comp_out_of_order: u64,
    /// Requester: retransmit timer expiries.
    pub req_timeouts: u64,
    /// Requester: go-back-N restarts (timeout, NAK-seq, RNR, READ gap).
    pub req_retries: u64,
    /// Requester: packets sent again.
    pub req_retransmitted: u64,
    /// Requester: RNR NAKs received.
    pub req_rnr_naks: u64,
    /// Requester: NAK-seq received.
    pub req_seq_naks: u64,
    /// Frames the NIC could not take right now.
    pub tx_busy: u64,
}

/// A MAD received on QP1, with where it came from.
#[derive(Debug, Clone, Copy)]
pub struct GsiMad {
    /// The 256 bytes.
    pub mad: [u8; mad::MAD_LEN],
    /// Sender IPv4 (its GID is `::ffff:` it).
    pub src_ip: Ipv4Address,
    /// Sender (or last router) MAC.
    pub src_mac: EthernetAddress,
    /// Sender QP (DETH SrcQP; 1 for CM).
    pub src_qpn: u32,
}

impl GsiMad {
    const EMPTY: GsiMad = GsiMad {
        mad: [0; mad::MAD_LEN],
        src_ip: Ipv4Address::UNSPECIFIED,
        src_mac: EthernetAddress([0; 6]),
        src_qpn: 0,
    };
}

/// QP1 state: received MADs and our send PSN counter.
#[derive(Debug, Clone)]
pub(crate) struct Gsi {
    pub rx: [GsiMad; GSI_RX_SLOTS],
    pub head: usize,
    pub len: usize,
    pub tx_psn: u32,
}

/// A small deterministic generator (xorshift64*), seeded by the caller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Everything but the NIC, so that frames borrowed from the NIC can be
/// handed to the receive path.
pub(crate) struct Core<M, const QPS: usize, const DEPTH: usize, const MSG: usize> {
    pub mem: M,
    pub net: NetCtx,
    pub cfg: HcaConfig,
    pub arp: arp::ArpCache,
    pub arp_replies: [Option<(EthernetAddress, Ipv4Address)>; ARP_REPLY_QUEUE],
    pub mrs: MrTable,
    pub gsi: Gsi,
    pub qps: [RcQp<DEPTH, MSG>; QPS],
    pub scratch: [u8; MAX_PMTU],
    pub counters: Counters,
    pub rng: Rng,
    /// Round-robin start for transmit fairness between QPs.
    pub tx_next: usize,
}

/// The soft HCA. See the module documentation.
pub struct Hca<N: Nic, M: Memory, const QPS: usize, const DEPTH: usize, const MSG: usize> {
    nic: N,
    core: Core<M, QPS, DEPTH, MSG>,
}

impl<N: Nic, M: Memory, const QPS: usize, const DEPTH: usize, const MSG: usize>
    Hca<N, M, QPS, DEPTH, MSG>
{
    /// An HCA on `nic` serving `mem`.
    pub fn new(nic: N, mem: M, cfg: HcaConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let salt = rng.next() as u32;
        let net = NetCtx {
            mac: EthernetAddress(nic.mac()),
            ip: cfg.ip,
            ttl: DEFAULT_TTL,
            ident: rng.next() as u16,
        };
        Hca {
            nic,
            core: Core {
                mem,
                net,
                cfg,
                arp: arp::ArpCache::new(),
                arp_replies: [None; ARP_REPLY_QUEUE],
                mrs: MrTable::new(salt),
                gsi: Gsi {
                    rx: [GsiMad::EMPTY; GSI_RX_SLOTS],
                    head: 0,
                    len: 0,
                    tx_psn: 0,
                },
                qps: core::array::from_fn(|_| RcQp::new()),
                scratch: [0; MAX_PMTU],
                counters: Counters::default(),
                rng,
                tx_next: 0,
            },
        }
    }

    /// Our MAC.
    pub fn mac(&self) -> EthernetAddress {
        self.core.net.mac
    }
    /// Our IPv4 address.
    pub fn ip(&self) -> Ipv4Address {
        self.core.net.ip
    }
    /// Our RoCEv2 GID (`::ffff:` our IPv4).
    pub fn gid(&self) -> Gid {
        Gid::from_ipv4(self.core.net.ip)
    }
    /// Node GUID: the EUI-64 of our MAC, as rxe.
    pub fn node_guid(&self) -> u64 {
        u64::from_be_bytes(self.core.net.mac.eui64())
    }
    /// The NIC.
    pub fn nic(&self) -> &N {
        &self.nic
    }
    /// The NIC, mutably.
    pub fn nic_mut(&mut self) -> &mut N {
        &mut self.nic
    }
    /// The platform memory.
    pub fn memory(&self) -> &M {
        &self.core.mem
    }
    /// The platform memory, mutably.
    pub fn memory_mut(&mut self) -> &mut M {
        &mut self.core.mem
    }
    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.core.counters
    }
    /// The configuration.
    pub fn config(&self) -> &HcaConfig {
        &self.core.cfg
    }
    /// A random-ish number from the seeded generator.
    pub fn random(&mut self) -> u64 {
        self.core.rng.next()
    }

    /// Largest path MTU our NIC carries: the largest IB MTU that fits the
    /// netdev MTU minus 80 (rxe; 1500 → 1024, 9000 → 4096).
    pub fn local_pmtu(&self) -> usize {
        let mtu = self
            .nic
            .max_frame()
            .saturating_sub(crate::wire::eth::HEADER_LEN);
        let room = mtu.saturating_sub(ROCE_MAX_HDR);
        let mut p = MAX_PMTU;
        while p > 256 && p > room {
            p /= 2;
        }
        p
    }

    // ------------------------------------------------------------ ARP ---

    fn next_hop(&self, ip: Ipv4Address) -> Ipv4Address {
        let mask = u32::from_be_bytes(self.core.cfg.netmask.0);
        let ours = u32::from_be_bytes(self.core.net.ip.0);
        let theirs = u32::from_be_bytes(ip.0);
        match self.core.cfg.gateway {
            Some(gw) if (ours ^ theirs) & mask != 0 => gw,
            _ => ip,
        }
    }

    /// Resolves the MAC to reach `ip` (itself or the gateway), starting ARP
    /// if needed; the requests go out from `poll`.
    pub fn resolve(&mut self, now: Instant, ip: Ipv4Address) -> Resolution {
        let hop = self.next_hop(ip);
        self.core.arp.resolve(now, hop)
    }

    /// Where resolving `ip` stands, without starting anything.
    pub fn arp_status(&self, ip: Ipv4Address) -> Resolution {
        self.core.arp.status(self.next_hop(ip))
    }

    /// Records that `ip` is reached through `mac` (e.g. the source of a
    /// CM MAD it sent us).
    pub fn learn(&mut self, now: Instant, ip: Ipv4Address, mac: EthernetAddress) {
        let hop = self.next_hop(ip);
        self.core.arp.learn(now, hop, mac);
    }

    // ----------------------------------------------------------- MRs ----

    /// Registers `[addr, addr + len)` for remote access.
    pub fn register(&mut self, addr: u64, len: u32, access: Access) -> Option<RemoteRegion> {
        self.core.mrs.register(addr, len, access)
    }

    /// Revokes a region by key: later packets naming it are NAKed.
    pub fn deregister(&mut self, rkey: u32) {
        self.core.mrs.deregister(rkey)
    }

    /// Moves a live region's bytes to `new_addr` (see [`MrTable::rebind`]):
    /// what the peer already wrote is copied there, later accesses land
    /// there. `false` (nothing changed) for an unknown key, a wrapping
    /// range, or memory that cannot be read or written.
    pub fn rebind(&mut self, rkey: u32, new_addr: u64) -> bool {
        let core = &mut self.core;
        let Some((old, written)) = core.mrs.rebind(rkey, new_addr) else {
            return false;
        };
        if !core
            .mem
            .copy(old, new_addr, u64::from(written), &mut core.scratch)
        {
            // Put it back: the bytes are still all at the old place.
            core.mrs.rebind(rkey, old);
            return false;
        }
        true
    }

    /// The region table.
    pub fn regions(&self) -> &MrTable {
        &self.core.mrs
    }

    // ----------------------------------------------------------- QP1 ----

    /// Sends a MAD to QP1 at `dst_ip` via `dst_mac` (UD SEND Only, Q_Key
    /// 0x80010000, SrcQP 1, AckReq set as Linux does). `false` if the NIC
    /// had no buffer.
    pub fn gsi_send(
        &mut self,
        dst_ip: Ipv4Address,
        dst_mac: EthernetAddress,
        mad: &[u8; mad::MAD_LEN],
    ) -> bool {
        let psn = self.core.gsi.tx_psn;
        let p = net::Pkt {
            dst_mac,
            dst_ip,
            sport: net::udp_sport(GSI_QPN),
            bth: net::bth(OpCode::UdSendOnly, GSI_QPN, psn, true),
            deth: Some(deth::Repr {
                qkey: deth::GSI_QKEY,
                src_qpn: GSI_QPN,
            }),
            reth: None,
            aeth: None,
            payload: mad,
        };
        let ok = net::send_roce(&mut self.nic, &mut self.core.net, &p);
        if ok {
            self.core.gsi.tx_psn = bth::psn_add(psn, 1);
        } else {
            self.core.counters.tx_busy += 1;
        }
        ok
    }

    /// Takes the oldest received MAD.
    pub fn gsi_recv(&mut self) -> Option<GsiMad> {
        let g = &mut self.core.gsi;
        if g.len == 0 {
            return None;
        }
        let m = g.rx[g.head];
        g.head = (g.head + 1) % GSI_RX_SLOTS;
        g.len -= 1;
        Some(m)
    }

    // ----------------------------------------------------------- QPs ----

    /// Creates an RC QP (state Reset) with a fresh random QPN; its index.
    pub fn create_qp(&mut self) -> Option<usize> {
        let i = self
            .core
            .qps
            .iter()
            .position(|q| q.state == QpState::Free)?;
        let qpn = loop {
            let n = (self.core.rng.next() as u32) & bth::MASK_24;
            let clash = self
                .core
                .qps
                .iter()
                .any(|q| q.state != QpState::Free && q.qpn == n);
            if n >= 0x10 && n != bth::MULTICAST_QPN && !clash {
                break n;
            }
        };
        self.core.qps[i].reset(qpn, net::udp_sport(qpn));
        Some(i)
    }

    /// Frees a QP; its number stops matching at once.
    pub fn destroy_qp(&mut self, qp: usize) {
        if let Some(q) = self.core.qps.get_mut(qp) {
            q.reset(0, 0);
            q.state = QpState::Free;
        }
    }

    /// The QP's number.
    pub fn qpn(&self, qp: usize) -> u32 {
        self.core.qps.get(qp).map_or(0, |q| q.qpn)
    }

    /// The index of the QP with number `qpn`.
    pub fn find_qp(&self, qpn: u32) -> Option<usize> {
        self.core
            .qps
            .iter()
            .position(|q| q.state != QpState::Free && q.qpn == qpn)
    }

    /// The QP's state (`Free` for a bad index).
    pub fn qp_state(&self, qp: usize) -> QpState {
        self.core.qps.get(qp).map_or(QpState::Free, |q| q.state)
    }

    /// The QP's attributes.
    pub fn qp_attr(&self, qp: usize) -> Option<&QpAttr> {
        self.core.qps.get(qp).map(|q| &q.attr)
    }

    /// Whether a valid request has arrived on the QP since it became RTR
    /// (the CM's "communication established" hint when the RTU is lost).
    pub fn qp_rx_seen(&self, qp: usize) -> bool {
        self.core.qps.get(qp).is_some_and(|q| q.rx_seen)
    }

    /// Reset → RTR: the responder starts with the peer's PSN; receives work.
    pub fn modify_rtr(&mut self, qp: usize, attr: QpAttr) -> Result<(), PostError> {
        let q = self.core.qps.get_mut(qp).ok_or(PostError::WrongState)?;
        if q.state != QpState::Reset {
            return Err(PostError::WrongState);
        }
        q.attr = attr;
        if attr.flow_label != 0 {
            q.udp_sport = net::flow_label_sport(attr.flow_label);
        }
        q.attr.window = q.attr.window.clamp(1, 1 << 22);
        q.resp.psn = attr.rq_psn & bth::MASK_24;
        q.req.next_psn = attr.sq_psn & bth::MASK_24;
        q.comp.psn = attr.sq_psn & bth::MASK_24;
        q.comp.retry_left = attr.retry_cnt;
        q.comp.rnr_left = attr.rnr_retry;
        q.state = QpState::Rtr;
        Ok(())
    }

    /// RTR → RTS: the requester may send.
    pub fn modify_rts(&mut self, qp: usize) -> Result<(), PostError> {
        let q = self.core.qps.get_mut(qp).ok_or(PostError::WrongState)?;
        if q.state != QpState::Rtr {
            return Err(PostError::WrongState);
        }
        q.state = QpState::Rts;
        Ok(())
    }

    /// Fails the QP: everything posted completes as flushed.
    pub fn set_error(&mut self, qp: usize) {
        if let Some(q) = self.core.qps.get_mut(qp) {
            q.set_error();
        }
    }

    fn postable(&mut self, qp: usize) -> Result<&mut RcQp<DEPTH, MSG>, PostError> {
        let q = self.core.qps.get_mut(qp).ok_or(PostError::WrongState)?;
        if !matches!(q.state, QpState::Reset | QpState::Rtr | QpState::Rts) {
            return Err(PostError::WrongState);
        }
        if q.sq_room() == 0 {
            return Err(PostError::Busy);
        }
        Ok(q)
    }

    /// Room in the send queue.
    pub fn sq_room(&self, qp: usize) -> usize {
        self.core.qps.get(qp).map_or(0, |q| q.sq_room())
    }

    /// Posts a SEND of `msg` (copied now).
    pub fn post_send(&mut self, qp: usize, wr_id: u64, msg: &[u8]) -> Result<(), PostError> {
        if msg.len() > MSG {
            return Err(PostError::TooLarge);
        }
        let q = self.postable(qp)?;
        let i = q.sq_len;
        let w = q.wqe_mut(i);
        w.wr_id = wr_id;
        w.kind = WrKind::Send;
        w.len = msg.len() as u32;
        w.assigned = false;
        w.buf[..msg.len()].copy_from_slice(msg);
        q.sq_len += 1;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn post_rdma(
        &mut self,
        qp: usize,
        wr_id: u64,
        kind: WrKind,
        local: u64,
        va: u64,
        rkey: u32,
        len: u32,
    ) -> Result<(), PostError> {
        if len > 1 << 31 {
            return Err(PostError::TooLarge);
        }
        let q = self.postable(qp)?;
        let i = q.sq_len;
        let w = q.wqe_mut(i);
        w.wr_id = wr_id;
        w.kind = kind;
        w.len = len;
        w.local = local;
        w.va = va;
        w.rkey = rkey;
        w.assigned = false;
        q.sq_len += 1;
        Ok(())
    }

    /// Posts an RDMA WRITE of `len` bytes of our memory at `local` to the
    /// peer's `(va, rkey)`.
    pub fn post_write(
        &mut self,
        qp: usize,
        wr_id: u64,
        local: u64,
        va: u64,
        rkey: u32,
        len: u32,
    ) -> Result<(), PostError> {
        self.post_rdma(qp, wr_id, WrKind::Write, local, va, rkey, len)
    }

    /// Posts an RDMA READ of `len` bytes at the peer's `(va, rkey)` into our
    /// memory at `local`.
    pub fn post_read(
        &mut self,
        qp: usize,
        wr_id: u64,
        local: u64,
        va: u64,
        rkey: u32,
        len: u32,
    ) -> Result<(), PostError> {
        self.post_rdma(qp, wr_id, WrKind::Read, local, va, rkey, len)
    }

    /// The oldest received message, if any (it stays until `recv_pop`).
    pub fn recv_peek(&self, qp: usize) -> Option<&[u8]> {
        let q = self.core.qps.get(qp)?;
        if q.rq_done == 0 {
            return None;
        }
        Some(&q.rq[q.rq_head][..q.rq_lens[q.rq_head]])
    }

    /// Frees the oldest received message's slot (re-posts the buffer).
    pub fn recv_pop(&mut self, qp: usize) {
        if let Some(q) = self.core.qps.get_mut(qp) {
            if q.rq_done > 0 {
                q.rq_head = (q.rq_head + 1) % DEPTH;
                q.rq_done -= 1;
            }
        }
    }

    /// Takes the oldest completion.
    pub fn poll_cq(&mut self, qp: usize) -> Option<Completion> {
        let q = self.core.qps.get_mut(qp)?;
        if q.cq_len == 0 {
            return None;
        }
        let c = q.cq[q.cq_head].take();
        q.cq_head = (q.cq_head + 1) % DEPTH;
        q.cq_len -= 1;
        c
    }

    // ---------------------------------------------------------- poll ----

    /// Does the work that is ready at `now`: takes up to `RX_BUDGET` frames
    /// from the NIC, runs timers, and sends up to `tx_budget` frames
    /// (ARP, responder output, then requests, round-robin over QPs).
    pub fn poll(&mut self, now: Instant) {
        for _ in 0..RX_BUDGET {
            let core = &mut self.core;
            if self.nic.receive(|frame| core.rx(now, frame)).is_none() {
                break;
            }
        }
        self.core.timers(now);
        self.core.tx(now, &mut self.nic);
    }

    /// When `poll` next has timed work, or `Some(Instant(0))` if it has
    /// work right away (output waiting for budget or a NIC buffer).
    pub fn poll_at(&self) -> Option<Instant> {
        let c = &self.core;
        if c.arp_replies.iter().any(Option::is_some) {
            return Some(Instant(0));
        }
        let mut at = c.arp.poll_at();
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        for q in c.qps.iter() {
            match q.state {
                QpState::Rtr | QpState::Rts => {}
                _ => continue,
            }
            if q.resp.out_len > 0 {
                earliest(Some(Instant(0)));
            }
            if q.state == QpState::Rts {
                if q.comp.rnr_until.is_some() {
                    earliest(q.comp.rnr_until);
                } else if req::can_send(q) {
                    earliest(Some(Instant(0)));
                }
                earliest(q.comp.timer);
            }
        }
        at
    }
}

impl<M: Memory, const QPS: usize, const DEPTH: usize, const MSG: usize> Core<M, QPS, DEPTH, MSG> {
    /// Timers: ARP retries, retransmission, end of RNR waits.
    fn timers(&mut self, now: Instant) {
        for qi in 0..QPS {
            let q = &mut self.qps[qi];
            if q.state != QpState::Rts {
                continue;
            }
            if let Some(t) = q.comp.rnr_until {
                if t <= now {
                    q.comp.rnr_until = None;
                    let psn = q.comp.rnr_psn;
                    req::retry_from(q, psn);
                    self.counters.req_retries += 1;
                    q.comp.timer = None;
                }
            }
            let q = &mut self.qps[qi];
            if let Some(t) = q.comp.timer {
                if t <= now {
                    if !q.outstanding() {
                        q.comp.timer = None;
                        continue;
                    }
                    self.counters.req_timeouts += 1;
                    if q.comp.retry_left == 0 {
                        q.complete_head(WcStatus::RetryExceeded);
                        q.set_error();
                        continue;
                    }
                    q.comp.retry_left -= 1;
                    q.comp.gap_retry_psn = None;
                    let psn = q.comp.psn;
                    req::retry_from(q, psn);
                    self.counters.req_retries += 1;
                    q.comp.timer =
                        (q.attr.timeout_us > 0).then(|| now + Duration(q.attr.timeout_us));
                }
            }
        }
    }

    /// Sends what is ready, within the budget.
    fn tx<N: Nic>(&mut self, now: Instant, nic: &mut N) {
        let mut budget = self.cfg.tx_budget.max(1);
        // ARP replies first: peers cannot reach us without them.
        for i in 0..ARP_REPLY_QUEUE {
            if let Some((mac, ip)) = self.arp_replies[i] {
                if !net::send_arp(nic, &self.net, Operation::Reply, mac, ip) {
                    self.counters.tx_busy += 1;
                    return;
                }
                self.arp_replies[i] = None;
                self.counters.arp_replies += 1;
                budget = budget.saturating_sub(1);
            }
        }
        while let Some(ip) = self.arp.due(now) {
            if !net::send_arp(
                nic,
                &self.net,
                Operation::Request,
                EthernetAddress::BROADCAST,
                ip,
            ) {
                self.counters.tx_busy += 1;
                return;
            }
            self.arp.sent(now, ip);
            self.counters.arp_requests += 1;
            budget = budget.saturating_sub(1);
        }
        // Responder output, then requests, round-robin.
        for n in 0..QPS {
            let qi = (self.tx_next + n) % QPS;
            if budget == 0 {
                self.tx_next = qi;
                return;
            }
            budget -= self.resp_tx(nic, qi, budget);
        }
        for n in 0..QPS {
            let qi = (self.tx_next + n) % QPS;
            if budget == 0 {
                break;
            }
            budget -= self.req_tx(now, nic, qi, budget);
        }
        self.tx_next = (self.tx_next + 1) % QPS.max(1);
    }
}

#[cfg(test)]
pub(crate) mod tests;
