//! Responder: incoming requests (rxe_resp's checks, in its order).
//!
//! 1. PSN: ahead → NAK-seq once (latched) and drop; behind → duplicate;
//! 2. opcode sequence (no MIDDLE/LAST without FIRST, no FIRST inside a
//!    message) → NAK invalid request, QP fails;
//! 3. opcode allowed on this QP (remote write / read rights);
//! 4. resources: a receive slot for a new SEND (else RNR NAK), room in the
//!    ordered output queue (else silent drop: the requester retries);
//! 5. lengths (path MTU rules, RETH length, SEND size vs. slot);
//! 6. R_Key, bounds and access through the region table — **before** any
//!    byte is written or read; zero-length RDMA skips it (IBA C9-88, what
//!    ib_srpt's zero-length write relies on) → NAK remote access, QP fails;
//! 7. execute (at the region's local address, which a rebind may have
//!    moved), then ACK if AckReq.
//!
//! Everything we send back goes through one ordered queue so that ACKs
//! never overtake READ responses that precede them in PSN order.

use super::param::{RD_RES, RNR_TIMER_CODE};
use super::qp::{InMsg, ReadRes, RespItem};
use super::{net, Core};
use crate::memory::Memory;
use crate::nic::Nic;
use crate::wire::aeth::{self, NakCode, Syndrome};
use crate::wire::bth::{self, psn_add, psn_diff, OpCode, OpFlags};
use crate::wire::roce;

impl<M: Memory, const QPS: usize, const DEPTH: usize, const MSG: usize> Core<M, QPS, DEPTH, MSG> {
    /// Handles one request packet for QP `qi` (state RTR or RTS).
    pub(crate) fn responder(&mut self, qi: usize, pkt: &roce::Repr<'_>) {
        let Some(flags) = pkt.bth.opcode.flags() else {
            return;
        };
        let psn = pkt.bth.psn;
        let q = &mut self.qps[qi];

        // 1. PSN.
        let d = psn_diff(psn, q.resp.psn);
        if d > 0 {
            self.counters.resp_out_of_seq += 1;
            if !q.resp.nak_latch {
                let nak = RespItem::Ack {
                    psn: q.resp.psn,
                    msn: q.resp.msn,
                    syndrome: Syndrome::Nak(NakCode::PsnSequenceError),
                };
                if q.resp.push_out(nak) {
                    q.resp.nak_latch = true;
                }
            }
            return;
        }
        if d < 0 {
            self.duplicate(qi, pkt);
            return;
        }
        q.rx_seen = true;

        // 4 (part): room to answer at all; otherwise let the requester retry.
        if q.resp.out_room() < 2 {
            self.counters.resp_busy += 1;
            return;
        }
        q.resp.nak_latch = false;

        // 2. Opcode sequence.
        let in_seq = match q.resp.msg {
            InMsg::None => flags.contains(OpFlags::FIRST),
            InMsg::Send { .. } => flags.contains(OpFlags::SEND) && !flags.contains(OpFlags::FIRST),
            InMsg::Write { .. } => {
                flags.contains(OpFlags::WRITE) && !flags.contains(OpFlags::FIRST)
            }
        };
        // 3. Opcode permitted (invalidate is not supported: we never hand
        // out keys the peer may revoke).
        let permitted = !(flags.contains(OpFlags::WRITE) && !q.attr.remote_write)
            && !(flags.contains(OpFlags::READ) && !q.attr.remote_read)
            && !flags.intersects(OpFlags::IETH | OpFlags::ATOMIC);
        if !in_seq || !permitted {
            self.fatal(qi, psn, NakCode::InvalidRequest);
            return;
        }

        // 4. Resources: a receive slot for a new SEND.
        let q = &mut self.qps[qi];
        if flags.contains(OpFlags::SEND | OpFlags::FIRST) && q.rq_done >= DEPTH {
            self.counters.resp_rnr += 1;
            let rnr = RespItem::Ack {
                psn,
                msn: q.resp.msn,
                syndrome: Syndrome::RnrNak {
                    timer: RNR_TIMER_CODE,
                },
            };
            q.resp.push_out(rnr);
            return;
        }

        // 5. Lengths.
        let len = pkt.payload.len();
        let pmtu = q.attr.pmtu;
        if !pkt.bth.opcode.payload_rule().allows(len, pmtu) {
            self.fatal(qi, psn, NakCode::InvalidRequest);
            return;
        }
        let reth = pkt.reth;
        if reth.is_some_and(|r| r.dma_len > 1 << 31) {
            self.fatal(qi, psn, NakCode::InvalidRequest);
            return;
        }
        let length_ok = if flags.contains(OpFlags::WRITE) {
            match (q.resp.msg, reth) {
                (_, Some(r)) if flags.contains(OpFlags::LAST) => len as u64 == u64::from(r.dma_len),
                (_, Some(r)) => u64::from(r.dma_len) > pmtu as u64,
                (InMsg::Write { resid, .. }, None) if flags.contains(OpFlags::LAST) => {
                    len as u64 == resid
                }
                (InMsg::Write { resid, .. }, None) => resid > len as u64,
                _ => false,
            }
        } else if flags.contains(OpFlags::SEND) {
            let off = match q.resp.msg {
                InMsg::Send { off, .. } => off,
                _ => 0,
            };
            off + len <= MSG
        } else {
            true
        };
        if !length_ok {
            self.fatal(qi, psn, NakCode::InvalidRequest);
            return;
        }

        // 6. R_Key, bounds, access — before touching memory.
        if flags.intersects(OpFlags::WRITE | OpFlags::READ) {
            let (key, va, n) = match (q.resp.msg, reth) {
                (_, Some(r)) if flags.contains(OpFlags::READ) => {
                    (r.rkey, r.va, u64::from(r.dma_len))
                }
                (_, Some(r)) => (r.rkey, r.va, u64::from(r.dma_len)),
                (InMsg::Write { va, rkey, .. }, None) => (rkey, va, len as u64),
                _ => (0, 0, 0),
            };
            if n > 0 {
                let write = flags.contains(OpFlags::WRITE);
                if self.mrs.check(key, va, n, write).is_err() {
                    self.fatal(qi, psn, NakCode::RemoteAccessError);
                    return;
                }
            }
        }

        // 7. Execute.
        let q = &mut self.qps[qi];
        let last = flags.contains(OpFlags::LAST);
        if flags.contains(OpFlags::SEND) {
            let (slot, off) = match q.resp.msg {
                InMsg::Send { slot, off } => (slot, off),
                _ => ((q.rq_head + q.rq_done) % DEPTH, 0),
            };
            q.rq[slot][off..off + len].copy_from_slice(pkt.payload);
            if last {
                q.rq_lens[slot] = off + len;
                q.rq_done += 1;
                q.resp.msg = InMsg::None;
                q.resp.msn = psn_add(q.resp.msn, 1);
            } else {
                q.resp.msg = InMsg::Send {
                    slot,
                    off: off + len,
                };
            }
        } else if flags.contains(OpFlags::WRITE) {
            let (va, rkey, resid) = match (q.resp.msg, reth) {
                (_, Some(r)) => (r.va, r.rkey, u64::from(r.dma_len)),
                (InMsg::Write { va, rkey, resid }, None) => (va, rkey, resid),
                _ => return,
            };
            if len > 0 {
                // Checked in step 6; `locate_write` follows a rebind and
                // records what a later rebind must carry over.
                let Ok(at) = self.mrs.locate_write(rkey, va, len as u64) else {
                    self.fatal(qi, psn, NakCode::RemoteAccessError);
                    return;
                };
                if !self.mem.write(at, pkt.payload) {
                    self.fatal(qi, psn, NakCode::RemoteOperationalError);
                    return;
                }
            }
            let q = &mut self.qps[qi];
            if last {
                q.resp.msg = InMsg::None;
                q.resp.msn = psn_add(q.resp.msn, 1);
            } else {
                q.resp.msg = InMsg::Write {
                    va: va + len as u64,
                    rkey,
                    resid: resid - len as u64,
                };
            }
        } else if flags.contains(OpFlags::READ) {
            let Some(r) = reth else { return };
            let npkts = (r.dma_len as usize).div_ceil(pmtu).max(1) as u32;
            q.resp.msn = psn_add(q.resp.msn, 1);
            let res = ReadRes {
                live: true,
                psn,
                npkts,
                va: r.va,
                rkey: r.rkey,
                len: r.dma_len,
            };
            q.resp.reads[q.resp.reads_next] = res;
            q.resp.reads_next = (q.resp.reads_next + 1) % RD_RES;
            let item = RespItem::Read {
                psn,
                va: r.va,
                rkey: r.rkey,
                len: r.dma_len,
                msn: q.resp.msn,
                next: 0,
            };
            q.resp.push_out(item);
            q.resp.psn = psn_add(psn, npkts);
            return;
        }
        let q = &mut self.qps[qi];
        q.resp.psn = psn_add(psn, 1);
        if pkt.bth.ack_req {
            q.resp.push_out(RespItem::Ack {
                psn,
                msn: q.resp.msn,
                syndrome: Syndrome::ACK,
            });
        }
    }

    /// A class-C error: NAK with `code`, then the QP fails once the NAK is
    /// out. Nothing of the packet was executed.
    fn fatal(&mut self, qi: usize, psn: u32, code: NakCode) {
        match code {
            NakCode::RemoteAccessError => self.counters.resp_access_nak += 1,
            NakCode::RemoteOperationalError => self.counters.resp_op_nak += 1,
            _ => self.counters.resp_invalid_nak += 1,
        }
        let q = &mut self.qps[qi];
        let nak = RespItem::Ack {
            psn,
            msn: q.resp.msn,
            syndrome: Syndrome::Nak(code),
        };
        if !q.resp.push_out(nak) {
            // No room even for the NAK: drop the oldest output instead.
            q.resp.pop_out();
            q.resp.push_out(nak);
        }
        q.fatal_pending = true;
    }

    /// A request behind the expected PSN: re-ACK SENDs and WRITEs (not
    /// re-executed), replay READs from the remembered resource.
    fn duplicate(&mut self, qi: usize, pkt: &roce::Repr<'_>) {
        self.counters.resp_duplicate += 1;
        let q = &mut self.qps[qi];
        let psn = pkt.bth.psn;
        if pkt.bth.opcode != OpCode::RcRdmaReadRequest {
            let ack = RespItem::Ack {
                psn: psn_add(q.resp.psn, bth::MASK_24),
                msn: q.resp.msn,
                syndrome: Syndrome::ACK,
            };
            q.resp.push_out(ack);
            return;
        }
        let Some(r) = pkt.reth else { return };
        let end = r.va.checked_add(u64::from(r.dma_len));
        let found = q.resp.reads.iter().find(|res| {
            let off = psn_diff(psn, res.psn);
            res.live
                && off >= 0
                && (off as u32) < res.npkts
                && res.rkey == r.rkey
                && r.va >= res.va
                && end.is_some_and(|e| e <= res.va + u64::from(res.len))
        });
        let Some(res) = found.copied() else { return };
        if r.dma_len > 0
            && self
                .mrs
                .check(r.rkey, r.va, u64::from(r.dma_len), false)
                .is_err()
        {
            return;
        }
        let q = &mut self.qps[qi];
        if q.resp.out_room() < 1 {
            self.counters.resp_busy += 1;
            return;
        }
        let msn = q.resp.msn;
        let _ = res;
        q.resp.push_out(RespItem::Read {
            psn,
            va: r.va,
            rkey: r.rkey,
            len: r.dma_len,
            msn,
            next: 0,
        });
    }

    /// Sends queued responder output for QP `qi`; returns frames sent.
    pub(crate) fn resp_tx<N: Nic>(&mut self, nic: &mut N, qi: usize, budget: usize) -> usize {
        let mut sent = 0;
        while sent < budget {
            let q = &self.qps[qi];
            let Some(item) = q.resp.front() else { break };
            let (dst_mac, dst_ip, sport, dqpn, pmtu) = (
                q.attr.peer_mac,
                q.attr.peer_ip,
                q.udp_sport,
                q.attr.dest_qpn,
                q.attr.pmtu,
            );
            match item {
                RespItem::Ack { psn, msn, syndrome } => {
                    let p = net::Pkt {
                        dst_mac,
                        dst_ip,
                        sport,
                        bth: net::bth(OpCode::RcAcknowledge, dqpn, psn, false),
                        deth: None,
                        reth: None,
                        aeth: Some(aeth::Repr { syndrome, msn }),
                        payload: &[],
                    };
                    if !net::send_roce(nic, &mut self.net, &p) {
                        self.counters.tx_busy += 1;
                        break;
                    }
                    self.qps[qi].resp.pop_out();
                }
                RespItem::Read {
                    psn,
                    va,
                    rkey,
                    len,
                    msn,
                    next,
                } => {
                    let npkts = (len as usize).div_ceil(pmtu).max(1) as u32;
                    let off = next as usize * pmtu;
                    let n = (len as usize - off.min(len as usize)).min(pmtu);
                    let at = va + off as u64;
                    // Re-check: the region may have been revoked since.
                    let readable = n == 0
                        || self
                            .mrs
                            .locate(rkey, at, n as u64, false)
                            .is_ok_and(|local| self.mem.read(local, &mut self.scratch[..n]));
                    if !readable {
                        self.qps[qi].resp.pop_out();
                        continue;
                    }
                    let opcode = match (next, npkts) {
                        (_, 1) => OpCode::RcRdmaReadResponseOnly,
                        (0, _) => OpCode::RcRdmaReadResponseFirst,
                        (i, n) if i + 1 == n => OpCode::RcRdmaReadResponseLast,
                        _ => OpCode::RcRdmaReadResponseMiddle,
                    };
                    let aeth = (opcode != OpCode::RcRdmaReadResponseMiddle).then_some(aeth::Repr {
                        syndrome: Syndrome::ACK,
                        msn,
                    });
                    let p = net::Pkt {
                        dst_mac,
                        dst_ip,
                        sport,
                        bth: net::bth(opcode, dqpn, psn_add(psn, next), false),
                        deth: None,
                        reth: None,
                        aeth,
                        payload: &self.scratch[..n],
                    };
                    if !net::send_roce(nic, &mut self.net, &p) {
                        self.counters.tx_busy += 1;
                        break;
                    }
                    let q = &mut self.qps[qi];
                    if next + 1 >= npkts {
                        q.resp.pop_out();
                    } else if let Some(RespItem::Read { next, .. }) = q.resp.front_mut() {
                        *next += 1;
                    }
                }
            }
            sent += 1;
        }
        let q = &mut self.qps[qi];
        if q.fatal_pending && q.resp.out_len == 0 {
            q.set_error();
        }
        sent
    }
}
