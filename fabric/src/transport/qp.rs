//! One RC queue pair: its attributes and the state of its three roles
//! (requester, responder, completer), plus the send queue, the receive
//! slots and the completion queue. The logic lives in `req.rs`, `resp.rs`
//! and `comp.rs`; this file only holds state and small ring helpers.

use super::param::{RD_RES, RESP_QUEUE};
use crate::time::Instant;
use crate::wire::aeth::Syndrome;
use crate::wire::{EthernetAddress, Ipv4Address};

/// QP states that matter to a soft HCA (IBA 10.3 without SQD/SQE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QpState {
    /// Slot unused.
    Free,
    /// Created, not yet connected: receives are dropped.
    Reset,
    /// Ready to receive: the responder works, the requester does not send.
    Rtr,
    /// Ready to send: everything works.
    Rts,
    /// Failed: everything flushed, every packet dropped.
    Error,
}

/// What the connection manager negotiated for a QP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QpAttr {
    /// The peer's QPN.
    pub dest_qpn: u32,
    /// The peer's IPv4 address (its GID is `::ffff:` this).
    pub peer_ip: Ipv4Address,
    /// The next hop's MAC.
    pub peer_mac: EthernetAddress,
    /// Path MTU in payload bytes (256..=4096, a power of two).
    pub pmtu: usize,
    /// PSN of our first request packet.
    pub sq_psn: u32,
    /// PSN we expect on the peer's first request packet.
    pub rq_psn: u32,
    /// Transport retries after a timeout (0..=7).
    pub retry_cnt: u8,
    /// RNR retries (7 = forever).
    pub rnr_retry: u8,
    /// Retransmit timeout in µs (0 = never).
    pub timeout_us: u64,
    /// RDMA READs we may have outstanding (the peer's responder resources).
    pub max_rd_atomic: u8,
    /// Request packets in flight.
    pub window: u32,
    /// The peer may RDMA WRITE on this QP (regions still decide where).
    pub remote_write: bool,
    /// The peer may RDMA READ on this QP (regions still decide where).
    pub remote_read: bool,
    /// Flow label of the path (0: none); picks the UDP source port as
    /// Linux does, else rxe's hash of the QPN is used.
    pub flow_label: u32,
}

/// The kind of a work request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrKind {
    /// SEND of bytes copied at post time.
    Send,
    /// RDMA WRITE from local memory to (va, rkey).
    Write,
    /// RDMA READ from (va, rkey) into local memory.
    Read,
}

/// How a work request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WcStatus {
    /// Done and acknowledged.
    Success,
    /// Retransmit timer retries exhausted.
    RetryExceeded,
    /// RNR retries exhausted.
    RnrRetryExceeded,
    /// The peer NAKed it: remote access error (key, bounds, rights).
    RemoteAccess,
    /// The peer NAKed it: invalid request.
    RemoteInvalid,
    /// The peer NAKed it: remote operational error.
    RemoteOperational,
    /// Our own memory refused the bytes (READ target or WRITE source).
    LocalMemory,
    /// The QP failed before this request finished.
    Flushed,
}

/// A completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// The caller's ID of the work request.
    pub wr_id: u64,
    /// What it was.
    pub kind: WrKind,
    /// How it ended.
    pub status: WcStatus,
    /// Bytes of the request.
    pub len: u32,
}

/// One posted work request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wqe<const MSG: usize> {
    pub wr_id: u64,
    pub kind: WrKind,
    pub len: u32,
    /// Local address (WRITE source, READ destination).
    pub local: u64,
    /// Remote address and key (WRITE, READ).
    pub va: u64,
    pub rkey: u32,
    /// PSNs, once the requester first sends it.
    pub assigned: bool,
    pub first_psn: u32,
    pub npkts: u32,
    /// SEND payload.
    pub buf: [u8; MSG],
}

impl<const MSG: usize> Wqe<MSG> {
    pub const EMPTY: Self = Wqe {
        wr_id: 0,
        kind: WrKind::Send,
        len: 0,
        local: 0,
        va: 0,
        rkey: 0,
        assigned: false,
        first_psn: 0,
        npkts: 0,
        buf: [0; MSG],
    };

    /// Packets this request takes (a READ request consumes one PSN per
    /// expected response packet; zero-length messages take one).
    pub fn packets(&self, pmtu: usize) -> u32 {
        let len = self.len as usize;
        (len.div_ceil(pmtu)).max(1) as u32
    }

    /// PSN of the last packet.
    pub fn last_psn(&self) -> u32 {
        crate::wire::bth::psn_add(self.first_psn, self.npkts - 1)
    }
}

/// Requester progress.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReqState {
    /// PSN the next *new* request gets.
    pub next_psn: u32,
    /// Send-queue offset (from the head) of the request being sent.
    pub cur: usize,
    /// Packet index within it.
    pub pkt: u32,
    /// Packets sent since the last one with AckReq.
    pub since_ackreq: u32,
    /// Highest PSN ever sent (valid once `any_sent`), to count retransmits.
    pub high_psn: u32,
    pub any_sent: bool,
}

/// Completer progress.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CompState {
    /// PSN of the oldest unacknowledged packet.
    pub psn: u32,
    pub retry_left: u8,
    pub rnr_left: u8,
    /// Retransmit deadline while packets are outstanding.
    pub timer: Option<Instant>,
    /// Waiting out an RNR NAK until then (then resend from `rnr_psn`).
    pub rnr_until: Option<Instant>,
    pub rnr_psn: u32,
    /// A READ-response gap already made us re-request from this PSN.
    pub gap_retry_psn: Option<u32>,
}

/// A message the responder is assembling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum InMsg {
    /// Between messages.
    #[default]
    None,
    /// A SEND into receive slot `slot`, `off` bytes so far.
    Send { slot: usize, off: usize },
    /// An RDMA WRITE: next byte goes to `va`, `resid` bytes still due.
    Write { va: u64, rkey: u32, resid: u64 },
}

/// An incoming RDMA READ we executed (kept to replay duplicates).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReadRes {
    pub live: bool,
    pub psn: u32,
    pub npkts: u32,
    pub va: u64,
    pub rkey: u32,
    pub len: u32,
}

/// Something the responder must send, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RespItem {
    /// ACK, NAK or RNR NAK for `psn`.
    Ack {
        psn: u32,
        msn: u32,
        syndrome: Syndrome,
    },
    /// READ response packets `next..npkts` of a read of `len` bytes at
    /// `va` whose first response PSN is `psn`.
    Read {
        psn: u32,
        va: u64,
        rkey: u32,
        len: u32,
        msn: u32,
        next: u32,
    },
}

/// Responder state.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RespState {
    /// Expected PSN.
    pub psn: u32,
    /// Messages completed (mod 2^24).
    pub msn: u32,
    /// A NAK-seq for `psn` was sent; do not repeat it.
    pub nak_latch: bool,
    pub msg: InMsg,
    pub reads: [ReadRes; RD_RES],
    pub reads_next: usize,
    pub out: [Option<RespItem>; RESP_QUEUE],
    pub out_head: usize,
    pub out_len: usize,
}

impl RespState {
    pub const fn new() -> Self {
        RespState {
            psn: 0,
            msn: 0,
            nak_latch: false,
            msg: InMsg::None,
            reads: [ReadRes {
                live: false,
                psn: 0,
                npkts: 0,
                va: 0,
                rkey: 0,
                len: 0,
            }; RD_RES],
            reads_next: 0,
            out: [None; RESP_QUEUE],
            out_head: 0,
            out_len: 0,
        }
    }

    /// Room for `n` more output items.
    pub fn out_room(&self) -> usize {
        RESP_QUEUE - self.out_len
    }

    /// Queues an output item; a plain ACK replaces a plain ACK queued last
    /// (an ACK for PSN n covers everything before it). `false` if full.
    pub fn push_out(&mut self, item: RespItem) -> bool {
        if let RespItem::Ack { syndrome, .. } = item {
            if syndrome.is_ack() && self.out_len > 0 {
                let last = (self.out_head + self.out_len - 1) % RESP_QUEUE;
                if let Some(RespItem::Ack { syndrome: s, .. }) = self.out[last] {
                    if s.is_ack() {
                        self.out[last] = Some(item);
                        return true;
                    }
                }
            }
        }
        if self.out_len == RESP_QUEUE {
            return false;
        }
        self.out[(self.out_head + self.out_len) % RESP_QUEUE] = Some(item);
        self.out_len += 1;
        true
    }

    pub fn front(&self) -> Option<RespItem> {
        if self.out_len == 0 {
            None
        } else {
            self.out[self.out_head]
        }
    }

    pub fn front_mut(&mut self) -> Option<&mut RespItem> {
        if self.out_len == 0 {
            None
        } else {
            self.out[self.out_head].as_mut()
        }
    }

    pub fn pop_out(&mut self) {
        if self.out_len > 0 {
            self.out[self.out_head] = None;
            self.out_head = (self.out_head + 1) % RESP_QUEUE;
            self.out_len -= 1;
        }
    }
}

/// An RC queue pair with `DEPTH` send, receive and completion slots and
/// messages of up to `MSG` bytes.
pub struct RcQp<const DEPTH: usize, const MSG: usize> {
    pub(crate) state: QpState,
    pub(crate) qpn: u32,
    pub(crate) attr: QpAttr,
    pub(crate) udp_sport: u16,
    // Send queue: ring of posted, not yet completed requests.
    pub(crate) sq: [Wqe<MSG>; DEPTH],
    pub(crate) sq_head: usize,
    pub(crate) sq_len: usize,
    pub(crate) req: ReqState,
    pub(crate) comp: CompState,
    // Completion queue.
    pub(crate) cq: [Option<Completion>; DEPTH],
    pub(crate) cq_head: usize,
    pub(crate) cq_len: usize,
    // Receive slots: `rq_done` complete messages from `rq_head` on.
    pub(crate) rq: [[u8; MSG]; DEPTH],
    pub(crate) rq_lens: [usize; DEPTH],
    pub(crate) rq_head: usize,
    pub(crate) rq_done: usize,
    pub(crate) resp: RespState,
    /// A valid request arrived since RTR.
    pub(crate) rx_seen: bool,
    /// A fatal NAK is queued: drop input, fail the QP once it is sent.
    pub(crate) fatal_pending: bool,
}

impl<const DEPTH: usize, const MSG: usize> RcQp<DEPTH, MSG> {
    pub(crate) const ATTR_NONE: QpAttr = QpAttr {
        dest_qpn: 0,
        peer_ip: Ipv4Address::UNSPECIFIED,
        peer_mac: EthernetAddress([0; 6]),
        pmtu: 1024,
        sq_psn: 0,
        rq_psn: 0,
        retry_cnt: 0,
        rnr_retry: 0,
        timeout_us: 0,
        max_rd_atomic: 0,
        window: 1,
        remote_write: false,
        remote_read: false,
        flow_label: 0,
    };

    /// A free slot.
    pub const fn new() -> Self {
        RcQp {
            state: QpState::Free,
            qpn: 0,
            attr: Self::ATTR_NONE,
            udp_sport: 0,
            sq: [Wqe::EMPTY; DEPTH],
            sq_head: 0,
            sq_len: 0,
            req: ReqState {
                next_psn: 0,
                cur: 0,
                pkt: 0,
                since_ackreq: 0,
                high_psn: 0,
                any_sent: false,
            },
            comp: CompState {
                psn: 0,
                retry_left: 0,
                rnr_left: 0,
                timer: None,
                rnr_until: None,
                rnr_psn: 0,
                gap_retry_psn: None,
            },
            cq: [None; DEPTH],
            cq_head: 0,
            cq_len: 0,
            rq: [[0; MSG]; DEPTH],
            rq_lens: [0; DEPTH],
            rq_head: 0,
            rq_done: 0,
            resp: RespState::new(),
            rx_seen: false,
            fatal_pending: false,
        }
    }

    /// Back to a fresh state (buffers are not cleared, only forgotten).
    pub(crate) fn reset(&mut self, qpn: u32, udp_sport: u16) {
        self.state = QpState::Reset;
        self.qpn = qpn;
        self.attr = Self::ATTR_NONE;
        self.udp_sport = udp_sport;
        self.sq_head = 0;
        self.sq_len = 0;
        self.req = ReqState::default();
        self.comp = CompState::default();
        self.cq = [None; DEPTH];
        self.cq_head = 0;
        self.cq_len = 0;
        self.rq_head = 0;
        self.rq_done = 0;
        self.resp = RespState::new();
        self.rx_seen = false;
        self.fatal_pending = false;
    }

    /// The `i`-th posted request from the head.
    pub(crate) fn wqe(&self, i: usize) -> &Wqe<MSG> {
        &self.sq[(self.sq_head + i) % DEPTH]
    }

    pub(crate) fn wqe_mut(&mut self, i: usize) -> &mut Wqe<MSG> {
        &mut self.sq[(self.sq_head + i) % DEPTH]
    }

    /// Posting room: send slots not holding a request or a completion.
    pub(crate) fn sq_room(&self) -> usize {
        DEPTH.saturating_sub(self.sq_len + self.cq_len)
    }

    pub(crate) fn push_cq(&mut self, c: Completion) {
        if self.cq_len < DEPTH {
            self.cq[(self.cq_head + self.cq_len) % DEPTH] = Some(c);
            self.cq_len += 1;
        }
    }

    /// Completes the head request with `status` and frees its slot.
    pub(crate) fn complete_head(&mut self, status: WcStatus) {
        if self.sq_len == 0 {
            return;
        }
        let w = self.wqe(0);
        let c = Completion {
            wr_id: w.wr_id,
            kind: w.kind,
            status,
            len: w.len,
        };
        self.sq_head = (self.sq_head + 1) % DEPTH;
        self.sq_len -= 1;
        if self.req.cur == 0 {
            // It was being (re)sent: carry on with the next one from its start.
            self.req.pkt = 0;
        } else {
            self.req.cur -= 1;
        }
        self.push_cq(c);
    }

    /// Moves to Error: every posted request completes as flushed.
    pub(crate) fn set_error(&mut self) {
        if matches!(self.state, QpState::Free) {
            return;
        }
        self.state = QpState::Error;
        while self.sq_len > 0 {
            self.complete_head(WcStatus::Flushed);
        }
        self.req.cur = 0;
        self.req.pkt = 0;
        self.comp.timer = None;
        self.comp.rnr_until = None;
        self.resp.out_len = 0;
        self.resp.msg = InMsg::None;
        self.fatal_pending = false;
    }

    /// Whether the requester has sent packets not yet acknowledged.
    pub(crate) fn outstanding(&self) -> bool {
        self.sq_len > 0 && self.wqe(0).assigned
    }
}

impl<const DEPTH: usize, const MSG: usize> Default for RcQp<DEPTH, MSG> {
    fn default() -> Self {
        Self::new()
    }
}
