//! Receive path: validate and route, cheapest check first (rxe_recv's
//! order). Every failure is a silent drop with a counter; malformed input
//! never gets a reply. Requests go to the responder, responses to the
//! completer, MADs on QP1 to the GSI ring, ARP to the cache.

use super::param::{ARP_REPLY_QUEUE, GSI_RX_SLOTS};
use super::qp::QpState;
use super::Core;
use crate::memory::Memory;
use crate::time::Instant;
use crate::wire::arp::{self, Operation};
use crate::wire::bth::{self, OpCode, GSI_QPN};
use crate::wire::eth;
use crate::wire::icrc::ICRC_LEN;
use crate::wire::roce::{self, OUTER_HEADERS_LEN};
use crate::wire::{deth, ipv4, mad, udp, EthernetAddress, Ipv4Address};

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];

enum Route {
    Gsi,
    Qp(usize),
}

impl<M: Memory, const QPS: usize, const DEPTH: usize, const MSG: usize> Core<M, QPS, DEPTH, MSG> {
    /// One received frame.
    pub(crate) fn rx(&mut self, now: Instant, frame: &[u8]) {
        self.counters.rx_frames += 1;
        if frame.len() < eth::HEADER_LEN {
            self.counters.drop_short += 1;
            return;
        }
        let ethertype = [frame[12], frame[13]];
        if ethertype == ETHERTYPE_ARP {
            self.rx_arp(now, &frame[eth::HEADER_LEN..]);
        } else if ethertype == ETHERTYPE_IPV4 && frame[..6] == self.net.mac.0 {
            self.rx_ipv4(now, frame);
        } else {
            self.counters.drop_not_ours += 1;
        }
    }

    fn rx_arp(&mut self, now: Instant, body: &[u8]) {
        let Ok(repr) = arp::Packet::new_checked(body).and_then(|p| arp::Repr::parse(&p)) else {
            self.counters.drop_short += 1;
            return;
        };
        let sender = (repr.source_protocol_addr, repr.source_hardware_addr);
        if repr.target_protocol_addr == self.net.ip {
            // Addressed to us: remember the asker (it is about to talk to us).
            self.arp.learn(now, sender.0, sender.1);
            if repr.operation == Operation::Request {
                let item = Some((sender.1, sender.0));
                if !self.arp_replies.contains(&item) {
                    if let Some(slot) = self.arp_replies.iter_mut().find(|s| s.is_none()) {
                        *slot = item;
                    }
                }
                debug_assert!(self.arp_replies.len() == ARP_REPLY_QUEUE);
            }
        } else {
            self.arp.refresh(now, sender.0, sender.1);
        }
    }

    fn rx_ipv4(&mut self, now: Instant, frame: &[u8]) {
        // Cheap checks on raw bytes before the full parse and the ICRC.
        if frame.len() < OUTER_HEADERS_LEN + bth::HEADER_LEN + ICRC_LEN {
            self.counters.drop_short += 1;
            return;
        }
        let ip = &frame[eth::HEADER_LEN..];
        if ip[0] != 0x45 || ip[9] != 17 {
            self.counters.drop_not_roce += 1;
            return;
        }
        if Ipv4Address::from_bytes(&ip[16..20]) != self.net.ip {
            self.counters.drop_not_ours += 1;
            return;
        }
        let udp_at = ipv4::HEADER_LEN;
        if u16::from_be_bytes([ip[udp_at + 2], ip[udp_at + 3]]) != udp::ROCE_V2_PORT {
            self.counters.drop_not_roce += 1;
            return;
        }
        let bth_at = OUTER_HEADERS_LEN;
        let dest_qpn =
            u32::from_be_bytes([0, frame[bth_at + 5], frame[bth_at + 6], frame[bth_at + 7]]);
        let route = if dest_qpn == GSI_QPN {
            Route::Gsi
        } else {
            match self
                .qps
                .iter()
                .position(|q| q.state != QpState::Free && q.qpn == dest_qpn)
            {
                None => {
                    self.counters.drop_unknown_qp += 1;
                    return;
                }
                Some(i) => {
                    let q = &self.qps[i];
                    if !matches!(q.state, QpState::Rtr | QpState::Rts) || q.fatal_pending {
                        self.counters.drop_bad_state += 1;
                        return;
                    }
                    Route::Qp(i)
                }
            }
        };
        // Full parse: headers, lengths, opcode table, ICRC (last).
        let Ok(pkt) = roce::Repr::parse(frame) else {
            self.counters.drop_malformed += 1;
            return;
        };
        if pkt.bth.pkey & 0x7FFF != 0x7FFF {
            self.counters.drop_pkey += 1;
            return;
        }
        match route {
            Route::Gsi => self.rx_gsi(&pkt),
            Route::Qp(qi) => {
                let q = &self.qps[qi];
                if pkt.ip.src_addr != q.attr.peer_ip {
                    self.counters.drop_bad_addr += 1;
                    return;
                }
                let op = pkt.bth.opcode;
                if op.is_ud() || op.flags().is_none() {
                    self.counters.drop_bad_opcode += 1;
                    return;
                }
                if op.is_request() {
                    self.responder(qi, &pkt);
                } else if q.state == QpState::Rts {
                    self.completer(now, qi, &pkt);
                } else {
                    self.counters.drop_bad_state += 1;
                }
            }
        }
    }

    fn rx_gsi(&mut self, pkt: &roce::Repr<'_>) {
        let ok = pkt.bth.opcode == OpCode::UdSendOnly
            && pkt.deth.is_some_and(|d| d.qkey == deth::GSI_QKEY)
            && pkt.payload.len() >= mad::MAD_LEN
            && self.gsi.len < GSI_RX_SLOTS;
        if !ok {
            self.counters.drop_gsi += 1;
            return;
        }
        let g = &mut self.gsi;
        let slot = &mut g.rx[(g.head + g.len) % GSI_RX_SLOTS];
        slot.mad.copy_from_slice(&pkt.payload[..mad::MAD_LEN]);
        slot.src_ip = pkt.ip.src_addr;
        slot.src_mac = EthernetAddress(pkt.src_mac.0);
        slot.src_qpn = pkt.deth.map_or(0, |d| d.src_qpn);
        g.len += 1;
    }
}
