//! One CM connection's state and the MADs it sends (IB CM as rdma_cm uses
//! it on RoCEv2: fabric-wire §3, the golden capture's frames 5–7 and the
//! DREQ/DREP at its end).

use crate::channel::CloseReason;
use crate::time::Instant;
use crate::wire::cm::{
    self, CmaHeaderPacket, CmaHeaderRepr, DreqRepr, Gid, IdsRepr, Message, MessageKind, PathMtu,
    PathRepr, RejRepr, RejectReason, RepRepr, ReqRepr, TransportType,
};
use crate::wire::{mad, EthernetAddress, Ipv4Address};

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmState {
    /// Slot unused.
    Free,
    /// Active: resolving the peer's MAC before the REQ.
    Resolving,
    /// Active: REQ sent, waiting for REP/REJ.
    ReqSent,
    /// Passive: REQ received, waiting for the user's accept or reject.
    ReqRcvd,
    /// Passive: REP sent, waiting for RTU.
    RepSent,
    /// RTU sent (active) or received (passive): the QP carries traffic.
    Established,
    /// DREQ sent, waiting for DREP.
    DreqSent,
    /// Done; the comm IDs are kept to answer a repeated DREQ.
    Closed(CloseReason),
}

/// Parameters both sides put in their CM messages.
#[derive(Debug, Clone, Copy)]
pub struct CmConfig {
    /// CM response timeout exponent (4.096 µs × 2^n) we announce and wait
    /// (rdma_cm: 20 ≈ 4.3 s).
    pub cm_response_timeout: u8,
    /// CM retransmissions of a REQ, REP or DREQ (rdma_cm: 15).
    pub max_cm_retries: u8,
    /// Local ACK timeout exponent the passive side's QP uses (fabric-wire:
    /// 18; ib_srp sends 19).
    pub local_ack_timeout: u8,
    /// Transport retry count (7).
    pub retry_count: u8,
    /// RNR retry count (7 = forever).
    pub rnr_retry: u8,
    /// RDMA READs we serve at once (REQ/REP responder resources; 4).
    pub responder_resources: u8,
    /// RDMA READs we issue at once (initiator depth; ib_srp 0, ib_srpt 4).
    pub initiator_depth: u8,
    /// Largest path MTU to ask for (1024 is safe on 1500-byte links; 4096
    /// only when both NICs carry jumbo frames). Our NIC's limit also caps it.
    pub max_path_mtu: usize,
    /// The rdma_cm source port we claim in the REQ's cma header.
    pub local_port: u16,
}

impl Default for CmConfig {
    fn default() -> Self {
        CmConfig {
            cm_response_timeout: 20,
            max_cm_retries: 15,
            local_ack_timeout: 18,
            retry_count: 7,
            rnr_retry: 7,
            responder_resources: 4,
            initiator_depth: 0,
            max_path_mtu: 1024,
            local_port: 0xC000,
        }
    }
}

/// `4.096 µs × 2^exp` in µs (the IBA timeout encoding).
pub fn ib_timeout_us(exp: u8) -> u64 {
    (4096u64 << exp.min(31)) / 1000
}

/// The IB path MTU code for a byte size.
pub fn mtu_code(bytes: usize) -> PathMtu {
    match bytes {
        4096.. => PathMtu::Mtu4096,
        2048.. => PathMtu::Mtu2048,
        1024.. => PathMtu::Mtu1024,
        512.. => PathMtu::Mtu512,
        _ => PathMtu::Mtu256,
    }
}

/// Pending user events.
pub(crate) mod ev {
    pub const REQUEST: u8 = 1;
    pub const ESTABLISHED: u8 = 2;
    pub const REJECTED: u8 = 4;
    pub const CLOSED: u8 = 8;
}

/// A connection slot.
#[derive(Clone, Copy)]
pub(crate) struct Conn {
    pub state: CmState,
    pub active: bool,
    pub qp: Option<usize>,
    pub local_id: u32,
    pub remote_id: u32,
    pub tid: u64,
    pub peer_ip: Ipv4Address,
    pub peer_mac: EthernetAddress,
    pub port: u16,
    /// Plain IB CM (no rdma_cm header; `service_id` as is), not rdma_cm.
    pub raw: bool,
    /// The REQ's service ID when `raw`.
    pub service_id: u64,
    pub remote_qpn: u32,
    pub remote_guid: u64,
    /// Our receive PSN (active: in the REQ; passive: in the REP).
    pub rq_psn: u32,
    /// Our send PSN (active: from the REP; passive: from the REQ).
    pub sq_psn: u32,
    pub pmtu: usize,
    pub flow_label: u32,
    /// From the peer's REQ (passive) or REP (active).
    pub peer_retry: u8,
    pub peer_rnr_retry: u8,
    pub peer_ack_timeout: u8,
    pub peer_resources: u8,
    /// Last MAD we sent, for retransmission; `unsent` if the NIC refused it.
    pub mad: [u8; mad::MAD_LEN],
    pub unsent: bool,
    pub timer: Option<Instant>,
    pub retries_left: u8,
    /// Private data to hand to the user, and a REJ reason.
    pub pd: [u8; cm::REP_PRIVATE_DATA_LEN],
    pub pd_len: usize,
    pub reason: u16,
    pub events: u8,
    /// Why we are closing (reported when the DREQ exchange ends).
    pub closing: CloseReason,
}

impl Conn {
    pub const FREE: Conn = Conn {
        state: CmState::Free,
        active: false,
        qp: None,
        local_id: 0,
        remote_id: 0,
        tid: 0,
        peer_ip: Ipv4Address::UNSPECIFIED,
        peer_mac: EthernetAddress([0; 6]),
        port: 0,
        raw: false,
        service_id: 0,
        remote_qpn: 0,
        remote_guid: 0,
        rq_psn: 0,
        sq_psn: 0,
        pmtu: 1024,
        flow_label: 0,
        peer_retry: 7,
        peer_rnr_retry: 7,
        peer_ack_timeout: 18,
        peer_resources: 0,
        mad: [0; mad::MAD_LEN],
        unsent: false,
        timer: None,
        retries_left: 0,
        pd: [0; cm::REP_PRIVATE_DATA_LEN],
        pd_len: 0,
        reason: 0,
        events: 0,
        closing: CloseReason::Local,
    };

    pub fn set_pd(&mut self, data: &[u8]) {
        let n = data.len().min(self.pd.len());
        self.pd[..n].copy_from_slice(&data[..n]);
        self.pd_len = n;
    }

    pub fn pd(&self) -> &[u8] {
        &self.pd[..self.pd_len]
    }

    /// Whether the slot may be taken for a new connection.
    pub fn reusable(&self) -> bool {
        matches!(self.state, CmState::Free)
            || matches!(self.state, CmState::Closed(_)) && self.events == 0
    }

    fn emit(&mut self, message: Message<'_>) {
        let repr = cm::Repr {
            tid: self.tid,
            message,
        };
        self.mad = [0; mad::MAD_LEN];
        repr.emit(&mut mad::Packet::new_unchecked(&mut self.mad[..]));
    }

    /// Builds the REQ (active side). `user` is at most 56 bytes after the
    /// rdma_cm header, or (`raw`, plain IB CM) at most 92 bytes as is.
    #[allow(clippy::too_many_arguments)]
    pub fn build_req(
        &mut self,
        cfg: &CmConfig,
        our_ip: Ipv4Address,
        our_guid: u64,
        our_qpn: u32,
        pmtu: usize,
        user: &[u8],
    ) {
        let mut pd = [0u8; cm::REQ_PRIVATE_DATA_LEN];
        let service_id = if self.raw {
            pd[..user.len()].copy_from_slice(user);
            self.service_id
        } else {
            let cma = CmaHeaderRepr {
                src_port: cfg.local_port,
                src_addr: our_ip,
                dst_addr: self.peer_ip,
            };
            cma.emit(&mut CmaHeaderPacket::new_unchecked(
                &mut pd[..cm::CMA_HEADER_LEN],
            ));
            pd[cm::CMA_HEADER_LEN..cm::CMA_HEADER_LEN + user.len()].copy_from_slice(user);
            cm::rdma_cm_service_id(self.port)
        };
        let req = ReqRepr {
            local_comm_id: self.local_id,
            service_id,
            local_ca_guid: our_guid,
            local_qkey: 0,
            local_qpn: our_qpn,
            responder_resources: cfg.responder_resources,
            local_eecn: 0,
            initiator_depth: cfg.initiator_depth,
            remote_eecn: 0,
            remote_cm_response_timeout: cfg.cm_response_timeout,
            transport_type: TransportType::Rc,
            e2e_flow_control: true,
            starting_psn: self.rq_psn,
            local_cm_response_timeout: cfg.cm_response_timeout,
            retry_count: cfg.retry_count,
            pkey: 0xFFFF,
            path_mtu: mtu_code(pmtu),
            rdc_exists: false,
            rnr_retry_count: cfg.rnr_retry,
            max_cm_retries: cfg.max_cm_retries,
            srq: false,
            ext_transport_type: 0,
            primary_path: PathRepr {
                local_lid: 0xFFFF,
                remote_lid: 0xFFFF,
                local_gid: Gid::from_ipv4(our_ip),
                remote_gid: Gid::from_ipv4(self.peer_ip),
                flow_label: self.flow_label,
                packet_rate: 0,
                traffic_class: 0,
                hop_limit: 64,
                sl: 0,
                subnet_local: false,
                local_ack_timeout: cfg.local_ack_timeout,
            },
            alternate_path: None,
            private_data: &pd,
        };
        self.emit(Message::Req(req));
    }

    /// Builds the REP (passive side).
    pub fn build_rep(&mut self, cfg: &CmConfig, our_guid: u64, our_qpn: u32, user: &[u8]) {
        let rep = RepRepr {
            local_comm_id: self.local_id,
            remote_comm_id: self.remote_id,
            local_qkey: 0,
            local_qpn: our_qpn,
            local_eecn: 0,
            starting_psn: self.rq_psn,
            responder_resources: cfg.responder_resources,
            initiator_depth: cfg.initiator_depth.min(self.peer_resources),
            target_ack_delay: 15,
            failover_accepted: 0,
            e2e_flow_control: true,
            rnr_retry_count: cfg.rnr_retry,
            srq: false,
            local_ca_guid: our_guid,
            private_data: user,
        };
        self.emit(Message::Rep(rep));
    }

    pub fn build_rtu(&mut self) {
        self.emit(Message::Rtu(IdsRepr {
            local_comm_id: self.local_id,
            remote_comm_id: self.remote_id,
            private_data: &[],
        }));
    }

    pub fn build_dreq(&mut self) {
        self.emit(Message::Dreq(DreqRepr {
            local_comm_id: self.local_id,
            remote_comm_id: self.remote_id,
            remote_qpn: self.remote_qpn,
            private_data: &[],
        }));
    }
}

/// A REJ MAD for a REQ (or REP) we refuse.
pub(crate) fn rej_mad(
    tid: u64,
    local_id: u32,
    remote_id: u32,
    what: MessageKind,
    reason: RejectReason,
    pd: &[u8],
) -> [u8; mad::MAD_LEN] {
    let mut out = [0u8; mad::MAD_LEN];
    let rej = RejRepr {
        local_comm_id: local_id,
        remote_comm_id: remote_id,
        message_rejected: what,
        reject_info_len: 0,
        reason,
        ari: &[],
        private_data: pd,
    };
    cm::Repr {
        tid,
        message: Message::Rej(rej),
    }
    .emit(&mut mad::Packet::new_unchecked(&mut out[..]));
    out
}

/// A DREP MAD.
pub(crate) fn drep_mad(tid: u64, local_id: u32, remote_id: u32) -> [u8; mad::MAD_LEN] {
    let mut out = [0u8; mad::MAD_LEN];
    let drep = IdsRepr {
        local_comm_id: local_id,
        remote_comm_id: remote_id,
        private_data: &[],
    };
    cm::Repr {
        tid,
        message: Message::Drep(drep),
    }
    .emit(&mut mad::Packet::new_unchecked(&mut out[..]));
    out
}
