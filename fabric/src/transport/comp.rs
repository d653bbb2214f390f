//! Completer: ACKs, NAKs and READ responses for our requests (rxe_comp).
//!
//! An ACK for PSN n acknowledges every packet up to n; NAK-seq, RNR NAK
//! and READ responses implicitly acknowledge everything before their PSN.
//! READ responses must arrive in PSN order: a gap makes us re-request the
//! rest of the READ at once (once per gap; the timer covers the rest),
//! duplicates are dropped. An ACK that covers a READ whose responses did
//! not all arrive means they were lost: re-request too. A fatal NAK fails
//! the request it names and then the QP.

use super::qp::{RcQp, WcStatus, WrKind};
use super::{req, Core};
use crate::memory::Memory;
use crate::time::{Duration, Instant};
use crate::wire::aeth::{rnr_timer_micros, NakCode, Syndrome};
use crate::wire::bth::{psn_add, psn_diff, OpCode, MASK_24};
use crate::wire::roce;

/// Outcome of acknowledging a range.
enum Acked {
    /// Nothing to do.
    Nothing,
    /// Progress was made.
    Progress,
    /// A READ's responses are missing: re-request from `comp.psn`.
    ReadLost,
}

/// Acknowledges every packet with PSN ≤ `psn`.
fn ack_upto<const DEPTH: usize, const MSG: usize>(q: &mut RcQp<DEPTH, MSG>, psn: u32) -> Acked {
    let mut progress = false;
    while q.sq_len > 0 && q.wqe(0).assigned {
        let w = *q.wqe(0);
        if psn_diff(psn, w.first_psn) < 0 {
            break;
        }
        if w.kind == WrKind::Read {
            return Acked::ReadLost;
        }
        if psn_diff(psn, w.last_psn()) >= 0 {
            q.comp.psn = psn_add(w.last_psn(), 1);
            q.complete_head(WcStatus::Success);
            progress = true;
            continue;
        }
        if psn_diff(psn, q.comp.psn) >= 0 {
            q.comp.psn = psn_add(psn, 1);
            progress = true;
            // Do not resend what is now acknowledged.
            if q.req.cur == 0 {
                let acked = psn_diff(q.comp.psn, w.first_psn) as u32;
                q.req.pkt = q.req.pkt.max(acked);
            }
        }
        break;
    }
    if progress {
        Acked::Progress
    } else {
        Acked::Nothing
    }
}

impl<M: Memory, const QPS: usize, const DEPTH: usize, const MSG: usize> Core<M, QPS, DEPTH, MSG> {
    /// Handles one response packet for QP `qi` (state RTS).
    pub(crate) fn completer(&mut self, now: Instant, qi: usize, pkt: &roce::Repr<'_>) {
        let q = &mut self.qps[qi];
        let psn = pkt.bth.psn;
        // Responses to nothing outstanding, or to PSNs never sent, are stale
        // or forged.
        if !q.outstanding() || psn_diff(psn, q.req.next_psn) >= 0 {
            self.counters.comp_dropped += 1;
            return;
        }
        if pkt.bth.opcode == OpCode::RcAcknowledge {
            let Some(aeth) = pkt.aeth else { return };
            match aeth.syndrome {
                Syndrome::Ack { .. } => {
                    let r = ack_upto(q, psn);
                    self.after_ack(now, qi, r);
                }
                Syndrome::RnrNak { timer } => {
                    self.counters.req_rnr_naks += 1;
                    let r = ack_upto(q, psn_add(psn, MASK_24));
                    if let Acked::ReadLost = r {
                        self.after_ack(now, qi, r);
                        return;
                    }
                    let q = &mut self.qps[qi];
                    if q.attr.rnr_retry != super::param::RNR_RETRY_INFINITE {
                        if q.comp.rnr_left == 0 {
                            q.complete_head(WcStatus::RnrRetryExceeded);
                            q.set_error();
                            return;
                        }
                        q.comp.rnr_left -= 1;
                    }
                    q.comp.rnr_until = Some(now + Duration(u64::from(rnr_timer_micros(timer))));
                    q.comp.rnr_psn = psn;
                    q.comp.timer = None;
                }
                Syndrome::Nak(NakCode::PsnSequenceError) => {
                    self.counters.req_seq_naks += 1;
                    let r = ack_upto(q, psn_add(psn, MASK_24));
                    if let Acked::ReadLost = r {
                        self.after_ack(now, qi, r);
                        return;
                    }
                    let q = &mut self.qps[qi];
                    if psn == q.comp.psn {
                        req::retry_from(q, psn);
                        self.counters.req_retries += 1;
                    }
                    self.after_ack(now, qi, Acked::Progress);
                }
                Syndrome::Nak(code) => {
                    // Everything before it is fine; the named request fails.
                    let _ = ack_upto(q, psn_add(psn, MASK_24));
                    let q = &mut self.qps[qi];
                    let status = match code {
                        NakCode::RemoteAccessError => WcStatus::RemoteAccess,
                        NakCode::RemoteOperationalError => WcStatus::RemoteOperational,
                        _ => WcStatus::RemoteInvalid,
                    };
                    q.complete_head(status);
                    q.set_error();
                }
                Syndrome::Reserved(_) => self.counters.comp_dropped += 1,
            }
        } else if pkt.bth.opcode.is_response() && pkt.reth.is_none() && pkt.deth.is_none() {
            self.read_response(now, qi, pkt);
        } else {
            self.counters.comp_dropped += 1;
        }
    }

    fn after_ack(&mut self, now: Instant, qi: usize, r: Acked) {
        let q = &mut self.qps[qi];
        match r {
            Acked::Nothing => self.counters.comp_dropped += 1,
            Acked::Progress => {
                q.comp.retry_left = q.attr.retry_cnt;
                q.comp.rnr_left = q.attr.rnr_retry;
                q.comp.gap_retry_psn = None;
                q.comp.timer = (q.outstanding() && q.attr.timeout_us > 0)
                    .then(|| now + Duration(q.attr.timeout_us));
            }
            Acked::ReadLost => self.gap_retry(qi),
        }
    }

    /// Re-requests from `comp.psn`, once per gap.
    fn gap_retry(&mut self, qi: usize) {
        let q = &mut self.qps[qi];
        let psn = q.comp.psn;
        if q.comp.gap_retry_psn != Some(psn) {
            q.comp.gap_retry_psn = Some(psn);
            req::retry_from(q, psn);
            self.counters.req_retries += 1;
        }
    }

    fn read_response(&mut self, now: Instant, qi: usize, pkt: &roce::Repr<'_>) {
        let psn = pkt.bth.psn;
        let q = &mut self.qps[qi];
        // Implicitly acknowledge what precedes this response.
        let r = ack_upto(q, psn_add(psn, MASK_24));
        if let Acked::ReadLost = r {
            // A READ before this one is still missing responses, unless
            // this very response belongs to it (then it is the head).
            let head = *q.wqe(0);
            let off = psn_diff(psn, head.first_psn);
            if !(off >= 0 && (off as u32) < head.npkts) {
                self.gap_retry(qi);
                return;
            }
        } else if let Acked::Progress = r {
            self.after_ack(now, qi, Acked::Progress);
        }
        let q = &mut self.qps[qi];
        if q.sq_len == 0 || !q.wqe(0).assigned {
            self.counters.comp_dropped += 1;
            return;
        }
        let w = *q.wqe(0);
        let idx = psn_diff(psn, w.first_psn);
        if w.kind != WrKind::Read || idx < 0 || idx as u32 >= w.npkts {
            self.counters.comp_dropped += 1;
            return;
        }
        let d = psn_diff(psn, q.comp.psn);
        if d > 0 {
            self.counters.comp_out_of_order += 1;
            self.gap_retry(qi);
            return;
        }
        if d < 0 {
            self.counters.comp_dropped += 1;
            return;
        }
        let idx = idx as u32;
        // A re-requested READ is answered FIRST/MIDDLE/LAST relative to the
        // new request, while late packets of the first answer say MIDDLE:
        // both carry the same bytes for the same PSN. So accept any
        // response whose end-of-message flag fits this PSN.
        let op = pkt.bth.opcode;
        let is_last = idx + 1 == w.npkts;
        let op_ok = if is_last {
            matches!(
                op,
                OpCode::RcRdmaReadResponseLast | OpCode::RcRdmaReadResponseOnly
            )
        } else {
            matches!(
                op,
                OpCode::RcRdmaReadResponseFirst | OpCode::RcRdmaReadResponseMiddle
            )
        };
        let pmtu = q.attr.pmtu;
        let off = idx as usize * pmtu;
        let n = (w.len as usize - off.min(w.len as usize)).min(pmtu);
        let aeth_ok = pkt.aeth.is_none_or(|a| a.syndrome.is_ack());
        if !op_ok || pkt.payload.len() != n || !aeth_ok {
            self.counters.comp_dropped += 1;
            return;
        }
        if n > 0 && !self.mem.write(w.local + off as u64, pkt.payload) {
            let q = &mut self.qps[qi];
            q.complete_head(WcStatus::LocalMemory);
            q.set_error();
            return;
        }
        let q = &mut self.qps[qi];
        q.comp.psn = psn_add(psn, 1);
        if idx + 1 == w.npkts {
            q.complete_head(WcStatus::Success);
        } else if q.req.cur == 0 {
            // A rewind into this READ must not ask again for what arrived.
            q.req.pkt = q.req.pkt.max(idx + 1);
        }
        self.after_ack(now, qi, Acked::Progress);
    }
}
