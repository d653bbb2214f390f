//! Requester: turns posted work requests into packets.
//!
//! A request gets its PSNs when first sent: one per packet, and for an
//! RDMA READ one per expected response packet (fabric-wire §2.1). Packets
//! are cut at the path MTU (FIRST/MIDDLE full, LAST the rest, ONLY when it
//! fits). AckReq goes on the last packet of every message, every
//! `ACK_EVERY` packets, and on the packet that fills the window, so the
//! responder always answers before we would stall. A retry (timeout,
//! NAK-seq, RNR, READ gap) rewinds the send pointer to a PSN: go-back-N at
//! packet granularity; a READ resumes with a request for what is left.

use super::param::ACK_EVERY;
use super::qp::{RcQp, WcStatus, WrKind};
use super::{net, Core};
use crate::memory::Memory;
use crate::nic::Nic;
use crate::time::{Duration, Instant};
use crate::wire::bth::{psn_add, psn_diff, OpCode};
use crate::wire::reth;

/// Whether the window lets the next packet go.
pub(crate) fn window_open<const DEPTH: usize, const MSG: usize>(q: &RcQp<DEPTH, MSG>) -> bool {
    psn_diff(next_send_psn(q), q.comp.psn) < q.attr.window as i32
}

/// Whether the requester could send a packet right now (window open and,
/// for a new READ, below the outstanding-READ limit).
pub(crate) fn can_send<const DEPTH: usize, const MSG: usize>(q: &RcQp<DEPTH, MSG>) -> bool {
    if q.req.cur >= q.sq_len || !window_open(q) {
        return false;
    }
    let w = q.wqe(q.req.cur);
    if !w.assigned && w.kind == WrKind::Read {
        let reads = (0..q.req.cur)
            .filter(|&i| q.wqe(i).kind == WrKind::Read)
            .count();
        return reads < usize::from(q.attr.max_rd_atomic.max(1));
    }
    true
}

/// PSN of the next packet the requester would send.
fn next_send_psn<const DEPTH: usize, const MSG: usize>(q: &RcQp<DEPTH, MSG>) -> u32 {
    if q.req.cur < q.sq_len {
        let w = q.wqe(q.req.cur);
        if w.assigned {
            return psn_add(w.first_psn, q.req.pkt);
        }
    }
    q.req.next_psn
}

/// Rewinds the send pointer to `psn` (which must be outstanding; otherwise
/// nothing changes).
pub(crate) fn retry_from<const DEPTH: usize, const MSG: usize>(q: &mut RcQp<DEPTH, MSG>, psn: u32) {
    for i in 0..q.sq_len {
        let w = q.wqe(i);
        if !w.assigned {
            break;
        }
        let off = psn_diff(psn, w.first_psn);
        if off >= 0 && (off as u32) < w.npkts {
            q.req.cur = i;
            q.req.pkt = off as u32;
            q.req.since_ackreq = 0;
            return;
        }
    }
}

impl<M: Memory, const QPS: usize, const DEPTH: usize, const MSG: usize> Core<M, QPS, DEPTH, MSG> {
    /// Sends request packets of QP `qi`; returns frames sent.
    pub(crate) fn req_tx<N: Nic>(
        &mut self,
        now: Instant,
        nic: &mut N,
        qi: usize,
        budget: usize,
    ) -> usize {
        let mut sent = 0;
        loop {
            let q = &mut self.qps[qi];
            if sent >= budget || q.state != super::QpState::Rts || q.comp.rnr_until.is_some() {
                break;
            }
            if q.req.cur >= q.sq_len {
                break;
            }
            let pmtu = q.attr.pmtu;
            let cur = q.req.cur;
            if !q.wqe(cur).assigned {
                if q.wqe(cur).kind == WrKind::Read {
                    let reads = (0..cur).filter(|&i| q.wqe(i).kind == WrKind::Read).count();
                    if reads >= usize::from(q.attr.max_rd_atomic.max(1)) {
                        break;
                    }
                }
                let first = q.req.next_psn;
                let w = q.wqe_mut(cur);
                w.npkts = w.packets(pmtu);
                w.first_psn = first;
                w.assigned = true;
                let npkts = w.npkts;
                q.req.next_psn = psn_add(first, npkts);
                q.req.pkt = 0;
            }
            if !window_open(q) {
                break;
            }
            let w = *q.wqe(cur);
            let i = q.req.pkt;
            let psn = psn_add(w.first_psn, i);
            let off = i as usize * pmtu;
            let n = (w.len as usize).saturating_sub(off).min(pmtu);
            let last_pkt = i + 1 >= w.npkts;
            let (opcode, reth, payload_from_mem) = match w.kind {
                WrKind::Send => {
                    let op = match (i == 0, last_pkt) {
                        (true, true) => OpCode::RcSendOnly,
                        (true, false) => OpCode::RcSendFirst,
                        (false, true) => OpCode::RcSendLast,
                        (false, false) => OpCode::RcSendMiddle,
                    };
                    (op, None, false)
                }
                WrKind::Write => {
                    let first = reth::Repr {
                        va: w.va,
                        rkey: w.rkey,
                        dma_len: w.len,
                    };
                    match (i == 0, last_pkt) {
                        (true, true) => (OpCode::RcRdmaWriteOnly, Some(first), true),
                        (true, false) => (OpCode::RcRdmaWriteFirst, Some(first), true),
                        (false, true) => (OpCode::RcRdmaWriteLast, None, true),
                        (false, false) => (OpCode::RcRdmaWriteMiddle, None, true),
                    }
                }
                WrKind::Read => {
                    let r = reth::Repr {
                        va: w.va + off as u64,
                        rkey: w.rkey,
                        dma_len: w.len - off.min(w.len as usize) as u32,
                    };
                    (OpCode::RcRdmaReadRequest, Some(r), false)
                }
            };
            let is_last = w.kind == WrKind::Read || last_pkt;
            let fills_window = psn_diff(psn_add(psn, 1), q.comp.psn) >= q.attr.window as i32;
            let ack_req = is_last || fills_window || q.req.since_ackreq + 1 >= ACK_EVERY;
            let (dst_mac, dst_ip, sport, dqpn) = (
                q.attr.peer_mac,
                q.attr.peer_ip,
                q.udp_sport,
                q.attr.dest_qpn,
            );
            let payload: &[u8] = if payload_from_mem {
                if n > 0 && !self.mem.read(w.local + off as u64, &mut self.scratch[..n]) {
                    // Our own source memory is gone: fail the QP.
                    let q = &mut self.qps[qi];
                    q.complete_head(WcStatus::LocalMemory);
                    q.set_error();
                    break;
                }
                &self.scratch[..n]
            } else if w.kind == WrKind::Send {
                &q.wqe(cur).buf[off.min(w.len as usize)..off.min(w.len as usize) + n]
            } else {
                &[]
            };
            let p = net::Pkt {
                dst_mac,
                dst_ip,
                sport,
                bth: net::bth(opcode, dqpn, psn, ack_req),
                deth: None,
                reth,
                aeth: None,
                payload,
            };
            if !net::send_roce(nic, &mut self.net, &p) {
                self.counters.tx_busy += 1;
                break;
            }
            let q = &mut self.qps[qi];
            if q.req.any_sent && psn_diff(psn, q.req.high_psn) <= 0 {
                self.counters.req_retransmitted += 1;
            } else {
                q.req.high_psn = psn;
                q.req.any_sent = true;
            }
            q.req.since_ackreq = if ack_req { 0 } else { q.req.since_ackreq + 1 };
            q.req.pkt = if w.kind == WrKind::Read {
                w.npkts
            } else {
                i + 1
            };
            if q.req.pkt >= w.npkts {
                q.req.cur += 1;
                q.req.pkt = 0;
            }
            if q.comp.timer.is_none() && q.attr.timeout_us > 0 {
                q.comp.timer = Some(now + Duration(q.attr.timeout_us));
            }
            sent += 1;
        }
        sent
    }
}
