//! The one place that knows how a transport packet becomes an Ethernet
//! frame (rxe_net's job): IPv4 with DF and TTL 64, UDP to 4791 with
//! checksum 0 and rxe's per-QP source port, ICRC last (all by
//! `wire::roce`). ARP frames are built here too.

use crate::nic::Nic;
use crate::wire::aeth;
use crate::wire::arp::{self, Operation};
use crate::wire::bth::{self, OpCode, DEFAULT_PKEY};
use crate::wire::eth::{self, EtherType};
use crate::wire::ipv4::{self, Protocol};
use crate::wire::{deth, reth, roce, EthernetAddress, Ipv4Address};

/// rxe's UDP source port for a QP: `0xC000 + hash_32(qpn, 14)`, the
/// multiplicative hash with the 32-bit golden ratio. QP1 gives 55410 and
/// QPN 0x11 gives 51206, as in the golden capture.
pub fn udp_sport(qpn: u32) -> u16 {
    0xC000 | ((qpn.wrapping_mul(0x61C8_8647) >> 18) as u16 & 0x3FFF)
}

/// The UDP source port Linux derives from an RC connection's flow label
/// (`rdma_flow_label_to_udp_sport`: fold the top 6 of 20 bits into the low
/// 14). The golden capture's flow label 0x9c821 gives 51206.
pub fn flow_label_sport(flow_label: u32) -> u16 {
    let low = flow_label & 0x3FFF;
    let high = (flow_label & 0xF_C000) >> 14;
    0xC000 | (low ^ high) as u16
}

/// The flow label rdma_cm puts in the REQ path on RoCE for an IPv4
/// connection: `(src_port * 31 + dst_port)` masked to 20 bits (golden:
/// ports 54343 → 5000 give 0x9c821).
pub fn rdma_cm_flow_label(src_port: u16, dst_port: u16) -> u32 {
    (u32::from(src_port) * 31 + u32::from(dst_port)) & 0xF_FFFF
}

/// Our addressing and the IPv4 identification counter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NetCtx {
    pub mac: EthernetAddress,
    pub ip: Ipv4Address,
    pub ttl: u8,
    pub ident: u16,
}

/// A BTH as we send it: P_Key 0xFFFF, no SE/MigReq/ECN.
pub(crate) fn bth(opcode: OpCode, dest_qpn: u32, psn: u32, ack_req: bool) -> bth::Repr {
    bth::Repr {
        opcode,
        solicited: false,
        migreq: false,
        pad_count: 0,
        pkey: DEFAULT_PKEY,
        fecn: false,
        becn: false,
        dest_qpn,
        ack_req,
        psn: psn & bth::MASK_24,
    }
}

/// Headers of one transport packet to send.
pub(crate) struct Pkt<'a> {
    pub dst_mac: EthernetAddress,
    pub dst_ip: Ipv4Address,
    pub sport: u16,
    pub bth: bth::Repr,
    pub deth: Option<deth::Repr>,
    pub reth: Option<reth::Repr>,
    pub aeth: Option<aeth::Repr>,
    pub payload: &'a [u8],
}

/// Sends one RoCEv2 frame; `false` if the NIC had no buffer (nothing sent).
pub(crate) fn send_roce<N: Nic>(nic: &mut N, net: &mut NetCtx, p: &Pkt<'_>) -> bool {
    let repr = roce::Repr {
        src_mac: net.mac,
        dst_mac: p.dst_mac,
        ip: ipv4::Repr {
            src_addr: net.ip,
            dst_addr: p.dst_ip,
            protocol: Protocol::Udp,
            payload_len: 0,
            ttl: net.ttl,
            dscp_ecn: 0,
            ident: net.ident,
            dont_frag: true,
        },
        udp_src_port: p.sport,
        bth: p.bth,
        deth: p.deth,
        reth: p.reth,
        aeth: p.aeth,
        immdt: None,
        ieth: None,
        payload: p.payload,
    };
    let Ok(len) = repr.buffer_len() else {
        return false;
    };
    let ok = nic.transmit(len, |buf| repr.emit(buf).is_ok()) == Some(true);
    if ok {
        net.ident = net.ident.wrapping_add(1);
    }
    ok
}

/// Sends an ARP request for `ip` (broadcast) or a reply to `to`.
pub(crate) fn send_arp<N: Nic>(
    nic: &mut N,
    net: &NetCtx,
    op: Operation,
    to_mac: EthernetAddress,
    to_ip: Ipv4Address,
) -> bool {
    let (dst, tha) = match op {
        Operation::Request => (EthernetAddress::BROADCAST, EthernetAddress([0; 6])),
        _ => (to_mac, to_mac),
    };
    let repr = arp::Repr {
        operation: op,
        source_hardware_addr: net.mac,
        source_protocol_addr: net.ip,
        target_hardware_addr: tha,
        target_protocol_addr: to_ip,
    };
    let len = eth::HEADER_LEN + arp::PACKET_LEN;
    nic.transmit(len, |buf| {
        let mut frame = eth::Frame::new_unchecked(&mut *buf);
        eth::Repr {
            src_addr: net.mac,
            dst_addr: dst,
            ethertype: EtherType::Arp,
        }
        .emit(&mut frame);
        repr.emit(&mut arp::Packet::new_unchecked(&mut buf[eth::HEADER_LEN..]));
    })
    .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ports_match_golden() {
        assert_eq!(udp_sport(1), 55410);
        assert_eq!(rdma_cm_flow_label(54343, 5000), 0x9c821);
        assert_eq!(flow_label_sport(0x9c821), 51206);
    }
}
