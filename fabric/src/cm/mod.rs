//! Connection management: IB CM over QP1 the way rdma_cm does it on
//! RoCEv2, both sides (iPXE's ib_cm role), and the message channel built
//! on it (`channel.rs`, iPXE's ib_cmrc role).
//!
//! [`Cm`] owns the [`Hca`] and a table of connections, one RC QP each.
//! Active side: [`Cm::connect`] resolves the peer, sends a REQ whose
//! private data is the 36-byte rdma_cm header plus the caller's bytes,
//! retransmits it per the CM response timeout and retry count, and on REP
//! moves the QP to RTS and sends RTU (again for a repeated REP); a REJ
//! ends it with its reason and private data; an MRA extends the wait.
//! Passive side: [`Cm::listen`] on an rdma_cm port, or
//! [`Cm::listen_service_id`] on a plain IB CM service ID (ib_srpt's form on
//! InfiniBand: the REQ private data is the user's, with no rdma_cm header,
//! and the GIDs are not checked against our IP); a REQ becomes a
//! [`CmEvent::ConnectRequest`] that the user answers with [`Cm::accept`]
//! (REP with private data) or [`Cm::reject`]; RTU (or the first request
//! on the QP, when the RTU was lost) establishes it; a repeated REQ gets
//! the REP again. DREQ/DREP work both ways; a DREQ for a connection we no
//! longer know is answered anyway, as Linux does. [`Cm::connect_service_id`]
//! is the active side of the plain form.
//!
//! PSNs follow the golden capture: the REQ's starting PSN is what the
//! active side expects to *receive*, the REP's what the passive side
//! expects to receive (Linux ib_cm; fabric-wire §0 says the opposite).

pub mod channel;

pub use self::channel::{Initiator, Passive};
mod conn;

pub use self::conn::{ib_timeout_us, mtu_code, CmConfig, CmState};

use self::conn::{drep_mad, ev, rej_mad, Conn};
use crate::channel::{Access, CloseReason, RemoteRegion};
use crate::memory::Memory;
use crate::nic::Nic;
use crate::time::{Duration, Instant};
use crate::transport::net::rdma_cm_flow_label;
use crate::transport::{
    Completion, GsiMad, Hca, HcaConfig, PostError, QpAttr, QpState, Resolution,
};
use crate::wire::cm::{
    self, CmaHeaderPacket, CmaHeaderRepr, Message, MessageKind, RejectReason, TransportType,
};
use crate::wire::{mad, Ipv4Address};

/// A connection handle (an index into the connection table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub usize);

/// Something the user of a [`Cm`] must see. Data borrows the CM's buffers
/// for the duration of the callback.
#[derive(Debug, PartialEq, Eq)]
pub enum CmEvent<'a> {
    /// Passive: a peer asks to connect. Answer with [`Cm::accept`] or
    /// [`Cm::reject`]. `private_data` is what follows the rdma_cm header
    /// ([`Service::RdmaCm`]), or the whole REQ private data (92 bytes,
    /// [`Service::Ib`]).
    ConnectRequest {
        conn: ConnId,
        peer: Ipv4Address,
        service: Service,
        private_data: &'a [u8],
    },
    /// The connection is up; the REP's private data (empty on the passive
    /// side).
    Established {
        conn: ConnId,
        private_data: &'a [u8],
    },
    /// The peer rejected our REQ.
    Rejected {
        conn: ConnId,
        reason: u16,
        private_data: &'a [u8],
    },
    /// A message (SEND) arrived.
    Message { conn: ConnId, data: &'a [u8] },
    /// A posted work request finished.
    Completion {
        conn: ConnId,
        completion: Completion,
    },
    /// The connection is gone (the handle may be reused after this).
    Closed { conn: ConnId, reason: CloseReason },
}

/// What a connection request was addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// An rdma_cm port (TCP port space), from [`Cm::listen`].
    RdmaCm(u16),
    /// A plain IB CM service ID, from [`Cm::listen_service_id`].
    Ib(u64),
}

/// Why a CM call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmError {
    /// Not in a state that allows this.
    WrongState,
    /// No free connection or QP.
    NoResources,
    /// Private data or message too long.
    TooLarge,
    /// The send queue is full.
    Busy,
}

impl From<PostError> for CmError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::WrongState => CmError::WrongState,
            PostError::Busy => CmError::Busy,
            PostError::TooLarge => CmError::TooLarge,
        }
    }
}

/// An event without its borrowed data (see [`Cm::next_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvKind {
    Request(usize),
    Established(usize),
    Rejected(usize),
    Message(usize),
    Completion(usize, Completion),
    Closed(usize),
}

/// Ports we listen on (policy).
const LISTEN_SLOTS: usize = 4;

/// The connection manager with its HCA: `QPS` connections.
pub struct Cm<N: Nic, M: Memory, const QPS: usize, const DEPTH: usize, const MSG: usize> {
    hca: Hca<N, M, QPS, DEPTH, MSG>,
    cfg: CmConfig,
    conns: [Conn; QPS],
    listen: [Option<u16>; LISTEN_SLOTS],
    listen_sid: [Option<u64>; LISTEN_SLOTS],
    next_ev: usize,
}

impl<N: Nic, M: Memory, const QPS: usize, const DEPTH: usize, const MSG: usize>
    Cm<N, M, QPS, DEPTH, MSG>
{
    /// A CM on a new HCA.
    pub fn new(nic: N, mem: M, hca_cfg: HcaConfig, cfg: CmConfig) -> Self {
        Cm {
            hca: Hca::new(nic, mem, hca_cfg),
            cfg,
            conns: [Conn::FREE; QPS],
            listen: [None; LISTEN_SLOTS],
            listen_sid: [None; LISTEN_SLOTS],
            next_ev: 0,
        }
    }

    /// The HCA (memory, counters, NIC).
    pub fn hca(&self) -> &Hca<N, M, QPS, DEPTH, MSG> {
        &self.hca
    }
    /// The HCA, mutably.
    pub fn hca_mut(&mut self) -> &mut Hca<N, M, QPS, DEPTH, MSG> {
        &mut self.hca
    }
    /// The CM configuration.
    pub fn config(&self) -> &CmConfig {
        &self.cfg
    }

    /// A connection's state (`Free` for a bad handle).
    pub fn state(&self, conn: ConnId) -> CmState {
        self.conns.get(conn.0).map_or(CmState::Free, |c| c.state)
    }

    /// A connection's peer address.
    pub fn peer(&self, conn: ConnId) -> Option<Ipv4Address> {
        self.conns.get(conn.0).map(|c| c.peer_ip)
    }

    /// The QP number behind a connection.
    pub fn qpn(&self, conn: ConnId) -> Option<u32> {
        let qp = self.conns.get(conn.0)?.qp?;
        Some(self.hca.qpn(qp))
    }

    /// Sets the largest path MTU the next `connect` asks for (the NIC's
    /// frame size still caps it): an initiator falls back to 1024 when a
    /// target refuses 4096.
    pub fn set_max_path_mtu(&mut self, mtu: usize) {
        self.cfg.max_path_mtu = mtu;
    }

    /// The path MTU a connection uses.
    pub fn path_mtu(&self, conn: ConnId) -> usize {
        self.conns.get(conn.0).map_or(0, |c| c.pmtu)
    }

    fn random_nonzero(&mut self) -> u32 {
        loop {
            let v = self.hca.random() as u32;
            if v != 0 {
                return v;
            }
        }
    }

    fn alloc(&mut self) -> Option<usize> {
        let i = self.conns.iter().position(|c| c.reusable())?;
        if let Some(qp) = self.conns[i].qp.take() {
            self.hca.destroy_qp(qp);
        }
        let qp = self.hca.create_qp()?;
        self.conns[i] = Conn::FREE;
        self.conns[i].qp = Some(qp);
        Some(i)
    }

    fn pmtu_limit(&self) -> usize {
        self.hca.local_pmtu().min(self.cfg.max_path_mtu.max(256))
    }

    // ------------------------------------------------------- active ----

    /// Starts connecting to rdma_cm port `port` at `peer`; `private_data`
    /// (at most 56 bytes) rides in the REQ after the rdma_cm header.
    pub fn connect(
        &mut self,
        now: Instant,
        peer: Ipv4Address,
        port: u16,
        private_data: &[u8],
    ) -> Result<ConnId, CmError> {
        if private_data.len() > cm::CMA_USER_DATA_LEN {
            return Err(CmError::TooLarge);
        }
        self.start_connect(now, peer, Service::RdmaCm(port), private_data)
    }

    /// Starts connecting to plain IB CM service ID `service_id` at `peer`
    /// (no rdma_cm header): `private_data` (at most 92 bytes) is the REQ's
    /// private data as is. ib_srp without rdma_cm does this with the
    /// 64-byte SRP_LOGIN_REQ and the target's service GUID.
    pub fn connect_service_id(
        &mut self,
        now: Instant,
        peer: Ipv4Address,
        service_id: u64,
        private_data: &[u8],
    ) -> Result<ConnId, CmError> {
        if private_data.len() > cm::REQ_PRIVATE_DATA_LEN {
            return Err(CmError::TooLarge);
        }
        self.start_connect(now, peer, Service::Ib(service_id), private_data)
    }

    fn start_connect(
        &mut self,
        now: Instant,
        peer: Ipv4Address,
        service: Service,
        private_data: &[u8],
    ) -> Result<ConnId, CmError> {
        let i = self.alloc().ok_or(CmError::NoResources)?;
        let local_id = self.random_nonzero();
        let tid = self.hca.random() & 0xFFFF_FFFF;
        let rq_psn = self.hca.random() as u32 & 0xFF_FFFF;
        let pmtu = self.pmtu_limit();
        let c = &mut self.conns[i];
        c.state = CmState::Resolving;
        c.active = true;
        c.peer_ip = peer;
        c.local_id = local_id;
        c.tid = tid;
        c.rq_psn = rq_psn;
        c.pmtu = pmtu;
        match service {
            Service::RdmaCm(port) => {
                c.port = port;
                c.flow_label = rdma_cm_flow_label(self.cfg.local_port, port);
            }
            Service::Ib(id) => {
                // No flow label: both sides keep their default UDP port.
                c.raw = true;
                c.service_id = id;
            }
        }
        c.set_pd(private_data);
        let _ = self.hca.resolve(now, peer);
        Ok(ConnId(i))
    }

    fn send_req(&mut self, now: Instant, i: usize, mac: crate::wire::EthernetAddress) {
        let Some(qp) = self.conns[i].qp else { return };
        let (ip, guid, qpn) = (self.hca.ip(), self.hca.node_guid(), self.hca.qpn(qp));
        let cfg = self.cfg;
        let c = &mut self.conns[i];
        c.peer_mac = mac;
        let mut user = [0u8; cm::REQ_PRIVATE_DATA_LEN];
        let room = if c.raw {
            cm::REQ_PRIVATE_DATA_LEN
        } else {
            cm::CMA_USER_DATA_LEN
        };
        let n = c.pd_len.min(room);
        user[..n].copy_from_slice(&c.pd[..n]);
        c.build_req(&cfg, ip, guid, qpn, c.pmtu, &user[..n]);
        c.state = CmState::ReqSent;
        c.retries_left = cfg.max_cm_retries;
        self.transmit(now, i);
    }

    /// Sends the connection's stored MAD and arms its timer.
    fn transmit(&mut self, now: Instant, i: usize) {
        let c = &self.conns[i];
        let (ip, mac, m) = (c.peer_ip, c.peer_mac, c.mad);
        let ok = self.hca.gsi_send(ip, mac, &m);
        let c = &mut self.conns[i];
        c.unsent = !ok;
        let wait = ib_timeout_us(self.cfg.cm_response_timeout);
        c.timer = Some(if ok { now + Duration(wait) } else { now });
    }

    fn close(&mut self, i: usize, reason: CloseReason) {
        let c = &mut self.conns[i];
        c.state = CmState::Closed(reason);
        c.timer = None;
        c.events |= ev::CLOSED;
        if let Some(qp) = c.qp {
            self.hca.set_error(qp);
        }
    }

    // ------------------------------------------------------ passive ----

    /// Accepts REQs for rdma_cm port `port` (TCP port space).
    pub fn listen(&mut self, port: u16) -> Result<(), CmError> {
        if self.listen.contains(&Some(port)) {
            return Ok(());
        }
        let slot = self
            .listen
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(CmError::NoResources)?;
        *slot = Some(port);
        Ok(())
    }

    /// Accepts REQs for plain IB CM service ID `id` (no rdma_cm header:
    /// the REQ private data reaches the user as is; ib_srpt listens so on
    /// InfiniBand with `srpt_service_guid`). An rdma_cm listener for the
    /// same service ID (`0x0106_xxxx`) takes precedence.
    pub fn listen_service_id(&mut self, id: u64) -> Result<(), CmError> {
        if self.listen_sid.contains(&Some(id)) {
            return Ok(());
        }
        let slot = self
            .listen_sid
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(CmError::NoResources)?;
        *slot = Some(id);
        Ok(())
    }

    /// What a connection was requested for (passive) or asks for
    /// (active); `None` for a free slot.
    pub fn service(&self, conn: ConnId) -> Option<Service> {
        let c = self.conns.get(conn.0)?;
        if c.state == CmState::Free {
            return None;
        }
        Some(if c.raw {
            Service::Ib(c.service_id)
        } else {
            Service::RdmaCm(c.port)
        })
    }

    /// Accepts a connection request: the QP goes to RTS and a REP with
    /// `private_data` (at most 196 bytes) goes out.
    pub fn accept(
        &mut self,
        now: Instant,
        conn: ConnId,
        private_data: &[u8],
    ) -> Result<(), CmError> {
        let i = conn.0;
        let c = *self.conns.get(i).ok_or(CmError::WrongState)?;
        if c.state != CmState::ReqRcvd {
            return Err(CmError::WrongState);
        }
        if private_data.len() > cm::REP_PRIVATE_DATA_LEN {
            return Err(CmError::TooLarge);
        }
        let qp = c.qp.ok_or(CmError::WrongState)?;
        let rq_psn = self.hca.random() as u32 & 0xFF_FFFF;
        let hcfg = *self.hca.config();
        let attr = QpAttr {
            dest_qpn: c.remote_qpn,
            peer_ip: c.peer_ip,
            peer_mac: c.peer_mac,
            pmtu: c.pmtu,
            sq_psn: c.sq_psn,
            rq_psn,
            retry_cnt: c.peer_retry,
            rnr_retry: c.peer_rnr_retry,
            timeout_us: ib_timeout_us(c.peer_ack_timeout),
            max_rd_atomic: c.peer_resources.min(self.cfg.initiator_depth).max(1),
            window: hcfg.window,
            remote_write: true,
            remote_read: true,
            flow_label: c.flow_label,
        };
        self.hca.modify_rtr(qp, attr)?;
        self.hca.modify_rts(qp)?;
        let (guid, qpn, cfg) = (self.hca.node_guid(), self.hca.qpn(qp), self.cfg);
        let local_id = self.random_nonzero();
        let c = &mut self.conns[i];
        c.local_id = local_id;
        c.rq_psn = rq_psn;
        c.build_rep(&cfg, guid, qpn, private_data);
        c.state = CmState::RepSent;
        c.retries_left = cfg.max_cm_retries;
        c.pd_len = 0;
        self.transmit(now, i);
        Ok(())
    }

    /// Rejects a connection request with `reason` (ib_srpt: 28, consumer
    /// defined, with SRP_LOGIN_REJ in `private_data`, at most 148 bytes).
    pub fn reject(
        &mut self,
        conn: ConnId,
        reason: u16,
        private_data: &[u8],
    ) -> Result<(), CmError> {
        let i = conn.0;
        let c = *self.conns.get(i).ok_or(CmError::WrongState)?;
        if c.state != CmState::ReqRcvd {
            return Err(CmError::WrongState);
        }
        if private_data.len() > cm::REJ_PRIVATE_DATA_LEN {
            return Err(CmError::TooLarge);
        }
        let local_id = self.random_nonzero();
        let m = rej_mad(
            c.tid,
            local_id,
            c.remote_id,
            MessageKind::Req,
            RejectReason::from(reason),
            private_data,
        );
        self.hca.gsi_send(c.peer_ip, c.peer_mac, &m);
        if let Some(qp) = c.qp {
            self.hca.destroy_qp(qp);
        }
        self.conns[i] = Conn::FREE;
        Ok(())
    }

    fn on_req(&mut self, now: Instant, m: &GsiMad, tid: u64, req: &cm::ReqRepr<'_>) {
        let refuse = |cm: &mut Self, reason: RejectReason| {
            let out = rej_mad(tid, 0, req.local_comm_id, MessageKind::Req, reason, &[]);
            cm.hca.gsi_send(m.src_ip, m.src_mac, &out);
        };
        // A repeated REQ: answer as the state says.
        if let Some(i) = self.conns.iter().position(|c| {
            !c.active
                && c.state != CmState::Free
                && c.remote_id == req.local_comm_id
                && c.peer_ip == m.src_ip
        }) {
            if self.conns[i].state == CmState::RepSent {
                self.transmit(now, i);
            }
            return;
        }
        let rdma_cm =
            cm::rdma_cm_port(req.service_id).is_some_and(|p| self.listen.contains(&Some(p)));
        let raw = !rdma_cm && self.listen_sid.contains(&Some(req.service_id));
        if !rdma_cm && !raw {
            return refuse(self, RejectReason::InvalidServiceId);
        }
        if rdma_cm {
            let cma = CmaHeaderPacket::new_checked(req.private_data)
                .and_then(|p| CmaHeaderRepr::parse(&p));
            let Ok(cma) = cma else {
                return refuse(self, RejectReason::ConsumerDefined);
            };
            if cma.dst_addr != self.hca.ip() || req.primary_path.remote_gid != self.hca.gid() {
                return refuse(self, RejectReason::InvalidGid);
            }
        }
        // Plain IB CM: the GIDs may be any (ib_srp takes GID index 0, the
        // link-local one); the reply goes where the MAD came from.
        if req.transport_type != TransportType::Rc {
            return refuse(self, RejectReason::InvalidTransportType);
        }
        let pmtu = match req.path_mtu.bytes() {
            Some(b) if b <= self.hca.local_pmtu() => b,
            _ => return refuse(self, RejectReason::InvalidMtu),
        };
        let stale = self.conns.iter().any(|c| {
            matches!(
                c.state,
                CmState::ReqRcvd | CmState::RepSent | CmState::Established
            ) && c.peer_ip == m.src_ip
                && c.remote_qpn == req.local_qpn
        });
        if stale {
            return refuse(self, RejectReason::StaleConnection);
        }
        let Some(i) = self.alloc() else {
            return refuse(self, RejectReason::NoQp);
        };
        self.hca.learn(now, m.src_ip, m.src_mac);
        let c = &mut self.conns[i];
        c.state = CmState::ReqRcvd;
        c.active = false;
        c.remote_id = req.local_comm_id;
        c.tid = tid;
        c.peer_ip = m.src_ip;
        c.peer_mac = m.src_mac;
        c.port = cm::rdma_cm_port(req.service_id)
            .filter(|_| !raw)
            .unwrap_or(0);
        c.raw = raw;
        c.service_id = req.service_id;
        c.remote_qpn = req.local_qpn;
        c.remote_guid = req.local_ca_guid;
        c.sq_psn = req.starting_psn;
        c.pmtu = pmtu;
        c.flow_label = req.primary_path.flow_label;
        c.peer_retry = req.retry_count;
        c.peer_rnr_retry = req.rnr_retry_count;
        c.peer_ack_timeout = req.primary_path.local_ack_timeout;
        c.peer_resources = req.responder_resources;
        if raw {
            c.set_pd(req.private_data);
        } else {
            c.set_pd(&req.private_data[cm::CMA_HEADER_LEN.min(req.private_data.len())..]);
        }
        c.events |= ev::REQUEST;
    }

    // ----------------------------------------------------- messages ----

    fn find(&self, f: impl Fn(&Conn) -> bool) -> Option<usize> {
        self.conns
            .iter()
            .position(|c| c.state != CmState::Free && f(c))
    }

    fn on_mad(&mut self, now: Instant, m: &GsiMad) {
        let Ok(packet) = mad::Packet::new_checked(&m.mad[..]) else {
            return;
        };
        let Ok(repr) = cm::Repr::parse(&packet) else {
            return;
        };
        match repr.message {
            Message::Req(req) => self.on_req(now, m, repr.tid, &req),
            Message::Rep(rep) => {
                let Some(i) = self.find(|c| {
                    c.active && c.local_id == rep.remote_comm_id && c.peer_ip == m.src_ip
                }) else {
                    return;
                };
                match self.conns[i].state {
                    CmState::ReqSent => self.on_rep(now, i, &rep),
                    CmState::Established if self.conns[i].remote_id == rep.local_comm_id => {
                        // Our RTU was lost: send it again.
                        let c = &self.conns[i];
                        let (ip, mac, mm) = (c.peer_ip, c.peer_mac, c.mad);
                        self.hca.gsi_send(ip, mac, &mm);
                    }
                    _ => {}
                }
            }
            Message::Rtu(rtu) => {
                let found = self.find(|c| {
                    !c.active
                        && c.state == CmState::RepSent
                        && c.local_id == rtu.remote_comm_id
                        && c.remote_id == rtu.local_comm_id
                });
                if let Some(i) = found {
                    self.establish_passive(i);
                }
            }
            Message::Rej(rej) => {
                let found = self.find(|c| {
                    c.local_id == rej.remote_comm_id
                        && matches!(
                            c.state,
                            CmState::ReqSent | CmState::RepSent | CmState::Resolving
                        )
                });
                if let Some(i) = found {
                    let reason = u16::from(rej.reason);
                    let c = &mut self.conns[i];
                    if c.active {
                        c.set_pd(rej.private_data);
                        c.reason = reason;
                        c.events |= ev::REJECTED;
                    }
                    self.close(i, CloseReason::Rejected(reason));
                }
            }
            Message::Mra(mra) => {
                if let Some(i) = self.find(|c| c.local_id == mra.remote_comm_id) {
                    let c = &mut self.conns[i];
                    if matches!(c.state, CmState::ReqSent | CmState::RepSent) {
                        let extra = ib_timeout_us(mra.service_timeout)
                            + ib_timeout_us(self.cfg.cm_response_timeout);
                        c.timer = Some(now + Duration(extra));
                    }
                }
            }
            Message::Dreq(dreq) => {
                let found = self.find(|c| {
                    c.local_id == dreq.remote_comm_id && c.remote_id == dreq.local_comm_id
                });
                let (local, remote) = (dreq.remote_comm_id, dreq.local_comm_id);
                let out = drep_mad(repr.tid, local, remote);
                self.hca.gsi_send(m.src_ip, m.src_mac, &out);
                if let Some(i) = found {
                    match self.conns[i].state {
                        CmState::Established | CmState::RepSent => {
                            self.close(i, CloseReason::Remote)
                        }
                        CmState::DreqSent => {
                            let r = self.conns[i].closing;
                            self.close(i, r)
                        }
                        _ => {}
                    }
                }
            }
            Message::Drep(drep) => {
                let found = self.find(|c| {
                    c.state == CmState::DreqSent
                        && c.local_id == drep.remote_comm_id
                        && c.remote_id == drep.local_comm_id
                });
                if let Some(i) = found {
                    let r = self.conns[i].closing;
                    self.close(i, r);
                }
            }
        }
    }

    fn on_rep(&mut self, now: Instant, i: usize, rep: &cm::RepRepr<'_>) {
        let Some(qp) = self.conns[i].qp else { return };
        let hcfg = *self.hca.config();
        let c = &mut self.conns[i];
        c.remote_id = rep.local_comm_id;
        c.remote_qpn = rep.local_qpn;
        c.remote_guid = rep.local_ca_guid;
        c.sq_psn = rep.starting_psn;
        let attr = QpAttr {
            dest_qpn: rep.local_qpn,
            peer_ip: c.peer_ip,
            peer_mac: c.peer_mac,
            pmtu: c.pmtu,
            sq_psn: rep.starting_psn,
            rq_psn: c.rq_psn,
            retry_cnt: self.cfg.retry_count,
            rnr_retry: rep.rnr_retry_count,
            timeout_us: hcfg.retransmit_us,
            max_rd_atomic: rep.responder_resources.min(self.cfg.initiator_depth).max(1),
            window: hcfg.window,
            remote_write: true,
            remote_read: true,
            flow_label: c.flow_label,
        };
        c.set_pd(rep.private_data);
        if self
            .hca
            .modify_rtr(qp, attr)
            .and_then(|_| self.hca.modify_rts(qp))
            .is_err()
        {
            self.close(i, CloseReason::TransportError);
            return;
        }
        let c = &mut self.conns[i];
        c.build_rtu();
        c.state = CmState::Established;
        c.events |= ev::ESTABLISHED;
        let (ip, mac, mm) = (c.peer_ip, c.peer_mac, c.mad);
        c.timer = None;
        if !self.hca.gsi_send(ip, mac, &mm) {
            self.conns[i].unsent = true;
            self.conns[i].timer = Some(now);
        }
    }

    fn establish_passive(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.state = CmState::Established;
        c.timer = None;
        c.pd_len = 0;
        c.events |= ev::ESTABLISHED;
    }

    /// Starts an orderly disconnect: the QP stops (posted work completes
    /// as flushed) and a DREQ goes out; `Closed(Local)` follows its DREP
    /// (or the last retry).
    pub fn disconnect(&mut self, now: Instant, conn: ConnId) {
        let i = conn.0;
        let Some(c) = self.conns.get(i) else { return };
        match c.state {
            CmState::Established | CmState::RepSent => self.start_dreq(now, i, CloseReason::Local),
            CmState::Resolving | CmState::ReqSent => self.close(i, CloseReason::Local),
            CmState::ReqRcvd => {
                let _ = self.reject(conn, RejectReason::ConsumerDefined.into(), &[]);
            }
            _ => {}
        }
    }

    /// Drops a connection without a DREQ (its peer is gone): the QP stops
    /// and the state becomes `Closed(Local)` at once. A later DREQ from the
    /// peer is still answered with a DREP.
    pub fn abandon(&mut self, conn: ConnId) {
        let i = conn.0;
        let Some(c) = self.conns.get(i) else { return };
        if !matches!(c.state, CmState::Free | CmState::Closed(_)) {
            self.close(i, CloseReason::Local);
        }
        // The caller asked for it: no events to deliver, and the slot is
        // free for the next connect at once.
        self.conns[i].events = 0;
    }

    fn start_dreq(&mut self, now: Instant, i: usize, why: CloseReason) {
        if let Some(qp) = self.conns[i].qp {
            self.hca.set_error(qp);
        }
        let c = &mut self.conns[i];
        c.closing = why;
        c.build_dreq();
        c.state = CmState::DreqSent;
        c.retries_left = self.cfg.max_cm_retries;
        self.transmit(now, i);
    }

    // --------------------------------------------------------- data ----

    fn qp_of(&self, conn: ConnId) -> Result<usize, CmError> {
        let c = self.conns.get(conn.0).ok_or(CmError::WrongState)?;
        match (c.state, c.qp) {
            (CmState::Established | CmState::RepSent, Some(qp)) => Ok(qp),
            _ => Err(CmError::WrongState),
        }
    }

    /// Queues a SEND.
    pub fn send(&mut self, conn: ConnId, wr_id: u64, msg: &[u8]) -> Result<(), CmError> {
        let qp = self.qp_of(conn)?;
        Ok(self.hca.post_send(qp, wr_id, msg)?)
    }

    /// Queues an RDMA WRITE of our `[local, local+len)` to the peer's region.
    pub fn rdma_write(
        &mut self,
        conn: ConnId,
        wr_id: u64,
        local: u64,
        remote_va: u64,
        rkey: u32,
        len: u32,
    ) -> Result<(), CmError> {
        let qp = self.qp_of(conn)?;
        Ok(self
            .hca
            .post_write(qp, wr_id, local, remote_va, rkey, len)?)
    }

    /// Queues an RDMA READ of the peer's region into our `[local, local+len)`.
    pub fn rdma_read(
        &mut self,
        conn: ConnId,
        wr_id: u64,
        local: u64,
        remote_va: u64,
        rkey: u32,
        len: u32,
    ) -> Result<(), CmError> {
        let qp = self.qp_of(conn)?;
        Ok(self.hca.post_read(qp, wr_id, local, remote_va, rkey, len)?)
    }

    /// Work requests that can be posted on `conn` now.
    pub fn send_window(&self, conn: ConnId) -> usize {
        self.qp_of(conn).map_or(0, |qp| self.hca.sq_room(qp))
    }

    /// Registers memory for the peers (see [`Hca::register`]).
    pub fn register(&mut self, addr: u64, len: u32, access: Access) -> Option<RemoteRegion> {
        self.hca.register(addr, len, access)
    }

    /// Revokes a region.
    pub fn deregister(&mut self, region: RemoteRegion) {
        self.hca.deregister(region.rkey)
    }

    /// Moves where a region's bytes land (see [`Hca::rebind`]).
    pub fn rebind(&mut self, region: RemoteRegion, new_addr: u64) -> bool {
        self.hca.rebind(region.rkey, new_addr)
    }

    // --------------------------------------------------------- poll ----

    /// Runs the HCA and the CM at `now`: frames, MADs, timers.
    pub(crate) fn step(&mut self, now: Instant) {
        self.hca.poll(now);
        while let Some(m) = self.hca.gsi_recv() {
            self.on_mad(now, &m);
        }
        for i in 0..QPS {
            let c = self.conns[i];
            match c.state {
                CmState::Resolving => match self.hca.arp_status(c.peer_ip) {
                    Resolution::Resolved(mac) => self.send_req(now, i, mac),
                    Resolution::Failed => self.close(i, CloseReason::ArpTimeout),
                    Resolution::Pending => {}
                },
                CmState::RepSent if c.qp.is_some_and(|qp| self.hca.qp_rx_seen(qp)) => {
                    // The RTU was lost but the peer already talks on the QP.
                    self.establish_passive(i);
                }
                CmState::Established => {
                    if c.qp
                        .is_some_and(|qp| self.hca.qp_state(qp) == QpState::Error)
                    {
                        self.start_dreq(now, i, CloseReason::TransportError);
                    } else if c.unsent && c.timer.is_some_and(|t| t <= now) {
                        self.transmit(now, i);
                        self.conns[i].timer = None;
                    }
                }
                CmState::ReqSent | CmState::RepSent | CmState::DreqSent
                    if c.timer.is_some_and(|t| t <= now) =>
                {
                    if c.unsent {
                        self.transmit(now, i);
                    } else if c.retries_left > 0 {
                        self.conns[i].retries_left -= 1;
                        self.transmit(now, i);
                    } else if c.state == CmState::DreqSent {
                        self.close(i, c.closing);
                    } else {
                        self.close(i, CloseReason::CmTimeout);
                    }
                }
                _ => {}
            }
        }
        self.hca.poll(now);
    }

    /// The next event to deliver, without its data.
    pub(crate) fn next_event(&mut self) -> Option<EvKind> {
        for n in 0..QPS {
            let i = (self.next_ev + n) % QPS;
            let c = &self.conns[i];
            if c.state == CmState::Free {
                continue;
            }
            let e = c.events;
            let kind = if e & ev::REQUEST != 0 {
                Some(EvKind::Request(i))
            } else if e & ev::ESTABLISHED != 0 {
                Some(EvKind::Established(i))
            } else if e & ev::REJECTED != 0 {
                Some(EvKind::Rejected(i))
            } else if c.qp.is_some_and(|qp| self.hca.recv_peek(qp).is_some()) && e & ev::CLOSED == 0
            {
                Some(EvKind::Message(i))
            } else if let Some(comp) = c.qp.and_then(|qp| self.hca.poll_cq(qp)) {
                Some(EvKind::Completion(i, comp))
            } else if e & ev::CLOSED != 0 {
                Some(EvKind::Closed(i))
            } else {
                None
            };
            if kind.is_some() {
                self.next_ev = (i + 1) % QPS;
                return kind;
            }
        }
        None
    }

    /// Hands `kind` to `f` with its data, then marks it delivered.
    pub(crate) fn deliver<R>(&mut self, kind: EvKind, f: impl FnOnce(CmEvent<'_>) -> R) -> R {
        match kind {
            EvKind::Request(i) => {
                self.conns[i].events &= !ev::REQUEST;
                let c = &self.conns[i];
                f(CmEvent::ConnectRequest {
                    conn: ConnId(i),
                    peer: c.peer_ip,
                    service: if c.raw {
                        Service::Ib(c.service_id)
                    } else {
                        Service::RdmaCm(c.port)
                    },
                    private_data: c.pd(),
                })
            }
            EvKind::Established(i) => {
                self.conns[i].events &= !ev::ESTABLISHED;
                f(CmEvent::Established {
                    conn: ConnId(i),
                    private_data: self.conns[i].pd(),
                })
            }
            EvKind::Rejected(i) => {
                self.conns[i].events &= !ev::REJECTED;
                let c = &self.conns[i];
                f(CmEvent::Rejected {
                    conn: ConnId(i),
                    reason: c.reason,
                    private_data: c.pd(),
                })
            }
            EvKind::Message(i) => {
                let qp = self.conns[i].qp.unwrap_or(usize::MAX);
                let r = f(CmEvent::Message {
                    conn: ConnId(i),
                    data: self.hca.recv_peek(qp).unwrap_or(&[]),
                });
                self.hca.recv_pop(qp);
                r
            }
            EvKind::Completion(i, completion) => f(CmEvent::Completion {
                conn: ConnId(i),
                completion,
            }),
            EvKind::Closed(i) => {
                let c = &mut self.conns[i];
                c.events = 0;
                let reason = match c.state {
                    CmState::Closed(r) => r,
                    _ => CloseReason::Local,
                };
                if let Some(qp) = c.qp.take() {
                    self.hca.destroy_qp(qp);
                }
                f(CmEvent::Closed {
                    conn: ConnId(i),
                    reason,
                })
            }
        }
    }

    /// Does the ready work at `now` and hands at most one event to `f`.
    pub fn poll<R>(&mut self, now: Instant, f: impl FnOnce(CmEvent<'_>) -> R) -> Option<R> {
        self.step(now);
        let kind = self.next_event()?;
        Some(self.deliver(kind, f))
    }

    /// When `poll` next has timed work, if ever (`Some(Instant(0))`: now).
    pub fn poll_at(&self) -> Option<Instant> {
        let mut at = self.hca.poll_at();
        for c in self.conns.iter() {
            let t = match c.state {
                _ if c.events != 0 => Some(Instant(0)),
                _ => c.timer,
            };
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        }
        at
    }
}

#[cfg(test)]
mod tests;
