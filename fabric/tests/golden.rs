//! The golden capture (`shared/golden/srp-session.pcap`, a Linux ib_srp ↔
//! LIO ib_srpt session over rdma_rxe) run through `fabric::wire`: every frame
//! parses, every ICRC verifies, every frame re-emits bit for bit, the CM
//! handshake carries what `shared/lio-srpt/SEQUENCE.md` says, and key frames
//! are rebuilt from literal field values.

mod common;

use std::collections::BTreeMap;

use common::pcap::{Pcap, Record};
use fabric::wire::aeth::{self, Syndrome};
use fabric::wire::bth::{self, OpCode};
use fabric::wire::cm::{
    self, CmaHeaderPacket, CmaHeaderRepr, Gid, IdsRepr, Message, PathMtu, PathRepr, RepRepr,
    ReqRepr, TransportType,
};
use fabric::wire::deth::{self, GSI_QKEY};
use fabric::wire::eth::{self, EtherType};
use fabric::wire::{arp, icrc, ipv4, mad, reth, roce};
use fabric::wire::{EthernetAddress, Ipv4Address};

const MAC_I: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x77, 0x00, 0x02]);
const MAC_T: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x77, 0x00, 0x01]);
const IP_I: Ipv4Address = Ipv4Address::new(192, 168, 77, 2);
const IP_T: Ipv4Address = Ipv4Address::new(192, 168, 77, 1);
const GUID_I: u64 = 0x5054_00ff_fe77_0002;
const GUID_T: u64 = 0x5054_00ff_fe77_0001;
const TID: u64 = 0x0000_0002_9ed5_3f79;
const COMM_ID_I: u32 = 0x793f_d59e;
const COMM_ID_T: u32 = 0x1f16_e4cb;
const QPN: u32 = 0x11;
const REQ_PSN: u32 = 0x95_3c7b;
const REP_PSN: u32 = 0x29_b871;
const GSI_UDP_PORT: u16 = 55410;
const RC_UDP_PORT: u16 = 51206;

fn load() -> Vec<u8> {
    common::golden_pcap_bytes()
}

fn frames(bytes: &[u8]) -> Vec<Record<'_>> {
    let pcap = Pcap::parse(bytes).expect("golden pcap parses");
    assert_eq!(pcap.records.len(), 1769, "SEQUENCE.md: 1769 frames");
    pcap.records
}

fn frame<'a>(records: &'a [Record<'a>], number: usize) -> &'a [u8] {
    records[number - 1].data
}

/// Frame 5 onwards: the CM MADs (UD SEND Only to QP1) in capture order.
fn cm_mads<'a>(records: &'a [Record<'a>]) -> Vec<(usize, roce::Repr<'a>, cm::Repr<'a>)> {
    let mut out = Vec::new();
    for r in records {
        let Ok(repr) = roce::Repr::parse(r.data) else {
            continue;
        };
        if repr.bth.opcode != OpCode::UdSendOnly {
            continue;
        }
        let packet = mad::Packet::new_checked(repr.payload).expect("a whole MAD");
        let cm = cm::Repr::parse(&packet).expect("a CM message");
        out.push((r.number, repr, cm));
    }
    out
}

#[test]
fn every_frame_parses_verifies_icrc_and_re_emits_bit_exact() {
    let bytes = load();
    let records = frames(&bytes);
    let mut arp_frames = 0;
    let mut roce_frames = 0;
    let mut icrcs_verified = 0;
    let mut census: BTreeMap<u8, usize> = BTreeMap::new();
    for r in &records {
        assert_eq!(
            r.orig_len as usize,
            r.data.len(),
            "frame {} not truncated",
            r.number
        );
        let eth_frame = eth::Frame::new_checked(r.data).unwrap();
        match eth_frame.ethertype() {
            EtherType::Arp => {
                let eth_repr = eth::Repr::parse(&eth_frame).unwrap();
                let arp_repr =
                    arp::Repr::parse(&arp::Packet::new_checked(eth_frame.payload()).unwrap())
                        .unwrap_or_else(|_| panic!("frame {}: ARP", r.number));
                let mut out = vec![0xA5u8; r.data.len()];
                eth_repr.emit(&mut eth::Frame::new_unchecked(&mut out[..]));
                arp_repr.emit(&mut arp::Packet::new_unchecked(&mut out[eth::HEADER_LEN..]));
                assert_eq!(out, r.data, "frame {}: ARP re-emits", r.number);
                arp_frames += 1;
            }
            EtherType::Ipv4 => {
                let repr = roce::Repr::parse(r.data)
                    .unwrap_or_else(|e| panic!("frame {}: RoCEv2 parse: {e:?}", r.number));
                // The ICRC, checked once more on its own.
                let total = usize::from(u16::from_be_bytes([r.data[16], r.data[17]]));
                assert!(
                    icrc::check(&r.data[14..14 + total]),
                    "frame {}: ICRC",
                    r.number
                );
                icrcs_verified += 1;
                let mut out = vec![0xA5u8; r.data.len() + 16];
                let n = repr.emit(&mut out).unwrap();
                assert_eq!(&out[..n], r.data, "frame {}: re-emit", r.number);
                *census.entry(repr.bth.opcode.into()).or_default() += 1;
                roce_frames += 1;
            }
            other => panic!("frame {}: unexpected EtherType {other:?}", r.number),
        }
    }
    assert_eq!(arp_frames, 5);
    assert_eq!(roce_frames, 1764);
    assert_eq!(icrcs_verified, 1764);
    // The census printed at the end of srp-session.decoded.txt.
    let expected: BTreeMap<u8, usize> = [
        (0x11, 241),  // RC ACK
        (0x0c, 4),    // RDMA READ Request
        (0x0d, 4),    // READ Response First
        (0x0f, 4),    // READ Response Last
        (0x0e, 120),  // READ Response Middle
        (0x06, 43),   // RDMA WRITE First
        (0x08, 43),   // RDMA WRITE Last
        (0x07, 1094), // RDMA WRITE Middle
        (0x0a, 32),   // RDMA WRITE Only
        (0x00, 2),    // SEND First
        (0x02, 2),    // SEND Last
        (0x01, 6),    // SEND Middle
        (0x04, 164),  // SEND Only
        (0x64, 5),    // UD SEND Only (CM MADs)
    ]
    .into_iter()
    .collect();
    assert_eq!(census, expected);
}

#[test]
fn cm_handshake_matches_sequence_md() {
    let bytes = load();
    let records = frames(&bytes);
    let mads = cm_mads(&records);
    let numbers: Vec<usize> = mads.iter().map(|m| m.0).collect();
    assert_eq!(numbers, [5, 6, 7, 1767, 1768]);

    for (number, frame, cm) in &mads {
        // QP1 transport as SEQUENCE.md §1 describes it.
        assert_eq!(frame.bth.dest_qpn, bth::GSI_QPN, "frame {number}");
        assert_eq!(frame.bth.pkey, bth::DEFAULT_PKEY);
        assert_eq!(
            frame.deth,
            Some(deth::Repr {
                qkey: GSI_QKEY,
                src_qpn: 1
            })
        );
        assert_eq!(frame.udp_src_port, GSI_UDP_PORT);
        assert_eq!(frame.payload.len(), mad::MAD_LEN);
        assert!(frame.ip.dont_frag);
        assert_eq!((frame.ip.ttl, frame.ip.dscp_ecn), (64, 0));
        // One TID for the whole connection, REQ to DREP.
        assert_eq!(cm.tid, TID, "frame {number}");
        let header = mad::Repr::parse(&mad::Packet::new_checked(frame.payload).unwrap()).unwrap();
        assert_eq!(header.mgmt_class, mad::MgmtClass::Cm);
        assert_eq!(header.class_version, 2);
        assert_eq!(header.method, mad::Method::Send);
    }
    // QP1 PSNs run 0, 1, 2 on each side.
    let psns: Vec<(EthernetAddress, u32)> =
        mads.iter().map(|m| (m.1.src_mac, m.1.bth.psn)).collect();
    assert_eq!(
        psns,
        [(MAC_I, 0), (MAC_T, 0), (MAC_I, 1), (MAC_I, 2), (MAC_T, 1)]
    );

    // REQ, frame 5.
    let Message::Req(req) = mads[0].2.message else {
        panic!("frame 5 is a REQ")
    };
    assert_eq!(req.local_comm_id, COMM_ID_I);
    assert_eq!(req.service_id, 0x0000_0000_0106_1388);
    assert_eq!(cm::rdma_cm_port(req.service_id), Some(5000));
    assert_eq!(req.local_ca_guid, GUID_I);
    assert_eq!(req.local_qpn, QPN);
    assert_eq!((req.responder_resources, req.initiator_depth), (4, 0));
    assert_eq!(
        (
            req.remote_cm_response_timeout,
            req.local_cm_response_timeout
        ),
        (20, 20)
    );
    assert_eq!(req.transport_type, TransportType::Rc);
    assert!(req.e2e_flow_control);
    assert_eq!(req.starting_psn, REQ_PSN);
    assert_eq!(
        (req.retry_count, req.rnr_retry_count, req.max_cm_retries),
        (7, 7, 15)
    );
    assert_eq!(req.pkey, 0xffff);
    assert_eq!(req.path_mtu, PathMtu::Mtu1024);
    assert_eq!(req.path_mtu.bytes(), Some(1024));
    assert!(!req.srq);
    let path = req.primary_path;
    assert_eq!((path.local_lid, path.remote_lid), (0xffff, 0xffff));
    assert_eq!(path.local_gid, Gid::from_ipv4(IP_I));
    assert_eq!(path.remote_gid, Gid::from_ipv4(IP_T));
    assert_eq!((path.traffic_class, path.hop_limit, path.sl), (0, 64, 0));
    assert_eq!(path.local_ack_timeout, 19);
    assert_eq!(req.alternate_path, None);
    // Private data: the rdma_cm header, then srp_login_req_rdma.
    assert_eq!(req.private_data.len(), cm::REQ_PRIVATE_DATA_LEN);
    let cma =
        CmaHeaderRepr::parse(&CmaHeaderPacket::new_checked(req.private_data).unwrap()).unwrap();
    assert_eq!(cma.src_addr, IP_I);
    assert_eq!(cma.dst_addr, IP_T);
    assert_eq!(cma.src_port, 54343);
    assert_eq!(&req.private_data[..2], &[0x00, 0x40], "version 0, IPv4");
    assert!(
        req.private_data[4..16].iter().all(|&b| b == 0),
        "no ::ffff: prefix"
    );
    let login = &req.private_data[cm::CMA_HEADER_LEN..];
    assert_eq!(login.len(), cm::CMA_USER_DATA_LEN);
    assert_eq!(&login[0..8], &[0; 8], "tag 0");
    assert_eq!(&login[8..10], &[0x00, 0x06], "req_buf_fmt");
    assert_eq!(
        (login[10], login[11]),
        (0x80, 0x00),
        "IMMED_REQUESTED, opcode LOGIN_REQ"
    );
    assert_eq!(u32::from_be_bytes(login[12..16].try_into().unwrap()), 8260);
    assert_eq!(&login[16..24], &[0; 8]);
    assert_eq!(
        u64::from_be_bytes(login[24..32].try_into().unwrap()),
        GUID_I
    );
    assert_eq!(
        u64::from_be_bytes(login[32..40].try_into().unwrap()),
        GUID_T
    );
    assert_eq!(
        u64::from_be_bytes(login[40..48].try_into().unwrap()),
        GUID_T
    );
    assert_eq!(
        u16::from_be_bytes([login[48], login[49]]),
        68,
        "imm_data_offset"
    );

    // REP, frame 6.
    let Message::Rep(rep) = mads[1].2.message else {
        panic!("frame 6 is a REP")
    };
    assert_eq!(
        (rep.local_comm_id, rep.remote_comm_id),
        (COMM_ID_T, COMM_ID_I)
    );
    assert_eq!(rep.local_qpn, QPN);
    assert_eq!(rep.starting_psn, REP_PSN);
    assert_eq!((rep.responder_resources, rep.initiator_depth), (4, 4));
    assert_eq!((rep.target_ack_delay, rep.failover_accepted), (15, 0));
    assert!(rep.e2e_flow_control);
    assert_eq!(rep.rnr_retry_count, 7);
    assert!(!rep.srq);
    assert_eq!(rep.local_ca_guid, GUID_T);
    let rsp = rep.private_data;
    assert_eq!(rsp[0], 0xc0, "SRP_LOGIN_RSP, no rdma_cm header");
    assert_eq!(
        u32::from_be_bytes(rsp[4..8].try_into().unwrap()),
        128,
        "req_lim_delta"
    );
    assert_eq!(
        u32::from_be_bytes(rsp[16..20].try_into().unwrap()),
        8276,
        "max_it_iu_len"
    );
    assert_eq!(
        u32::from_be_bytes(rsp[20..24].try_into().unwrap()),
        8260,
        "max_ti_iu_len"
    );
    assert_eq!((&rsp[24..26], rsp[26]), (&[0x00, 0x06][..], 0x80));
    assert!(rsp[52..].iter().all(|&b| b == 0));

    // RTU, frame 7.
    let Message::Rtu(rtu) = mads[2].2.message else {
        panic!("frame 7 is an RTU")
    };
    assert_eq!(
        (rtu.local_comm_id, rtu.remote_comm_id),
        (COMM_ID_I, COMM_ID_T)
    );
    // DREQ and DREP, frames 1767 and 1768.
    let Message::Dreq(dreq) = mads[3].2.message else {
        panic!("frame 1767 is a DREQ")
    };
    assert_eq!(
        (dreq.local_comm_id, dreq.remote_comm_id, dreq.remote_qpn),
        (COMM_ID_I, COMM_ID_T, QPN)
    );
    let Message::Drep(drep) = mads[4].2.message else {
        panic!("frame 1768 is a DREP")
    };
    assert_eq!(
        (drep.local_comm_id, drep.remote_comm_id),
        (COMM_ID_T, COMM_ID_I)
    );
}

#[test]
fn rc_traffic_matches_sequence_md() {
    let bytes = load();
    let records = frames(&bytes);
    // PSN rule: the REQ's starting PSN is what the REQ sender receives first,
    // the REP's what the REP sender receives first.
    let f8 = roce::Repr::parse(frame(&records, 8)).unwrap();
    assert_eq!(f8.bth.opcode, OpCode::RcRdmaWriteOnly);
    assert_eq!((f8.src_mac, f8.bth.psn), (MAC_T, REQ_PSN));
    assert!(f8.bth.ack_req);
    assert_eq!(
        f8.reth,
        Some(reth::Repr {
            va: 0,
            rkey: 0,
            dma_len: 0
        }),
        "zero-length WRITE"
    );
    let f9 = roce::Repr::parse(frame(&records, 9)).unwrap();
    assert_eq!(f9.bth.opcode, OpCode::RcAcknowledge);
    assert_eq!((f9.src_mac, f9.bth.psn), (MAC_I, REQ_PSN));
    assert_eq!(
        f9.aeth,
        Some(aeth::Repr {
            syndrome: Syndrome::ACK,
            msn: 1
        })
    );
    let f10 = roce::Repr::parse(frame(&records, 10)).unwrap();
    assert_eq!(f10.bth.opcode, OpCode::RcSendOnly);
    assert_eq!((f10.src_mac, f10.bth.psn), (MAC_I, REP_PSN));
    assert_eq!(f10.payload.len(), 64, "SRP_CMD with one direct descriptor");

    // Every RC packet: QPN 0x11, P_Key 0xffff, one UDP source port, payload
    // within the 1024-byte path MTU and of the size its opcode allows; AckReq
    // exactly on the last packet of each request; every ACK is a plain ACK
    // (0x1f) answering an AckReq'd packet of the peer with the same PSN.
    let mut waiting_for_ack: BTreeMap<(EthernetAddress, u32), usize> = BTreeMap::new();
    let mut acks = 0;
    for r in &records {
        let Ok(p) = roce::Repr::parse(r.data) else {
            continue;
        };
        if p.bth.opcode.is_ud() {
            continue;
        }
        assert_eq!(
            (p.bth.dest_qpn, p.bth.pkey, p.udp_src_port),
            (QPN, 0xffff, RC_UDP_PORT)
        );
        assert!(
            p.bth.opcode.payload_rule().allows(p.payload.len(), 1024),
            "frame {}",
            r.number
        );
        if p.bth.opcode.is_request() {
            assert_eq!(
                p.bth.ack_req,
                p.bth.opcode.ack_req_expected(),
                "frame {}",
                r.number
            );
            if p.bth.ack_req && p.bth.opcode != OpCode::RcRdmaReadRequest {
                *waiting_for_ack.entry((p.src_mac, p.bth.psn)).or_default() += 1;
            }
        } else {
            assert!(!p.bth.ack_req);
            if let Some(a) = p.aeth {
                assert_eq!(a.syndrome, Syndrome::ACK, "frame {}", r.number);
            }
            if p.bth.opcode == OpCode::RcAcknowledge {
                let peer = if p.src_mac == MAC_I { MAC_T } else { MAC_I };
                let n = waiting_for_ack.get_mut(&(peer, p.bth.psn));
                let n = n.unwrap_or_else(|| panic!("frame {}: ACK of nothing", r.number));
                *n -= 1;
                acks += 1;
            }
        }
    }
    assert_eq!(acks, 241);
    assert!(
        waiting_for_ack.values().all(|&n| n == 0),
        "every AckReq got its ACK"
    );
}

// ---------------------------------------------------------------------------
// Rebuilding key frames from literal field values (not from the parsed Repr).

fn ip(src: Ipv4Address, dst: Ipv4Address, ident: u16) -> ipv4::Repr {
    ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: ipv4::Protocol::Udp,
        payload_len: 0, // emit computes it
        ttl: 64,
        dscp_ecn: 0,
        ident,
        dont_frag: true,
    }
}

fn bth(opcode: OpCode, dest_qpn: u32, psn: u32, ack_req: bool) -> bth::Repr {
    bth::Repr {
        opcode,
        solicited: false,
        migreq: false,
        pad_count: 0, // emit computes it
        pkey: bth::DEFAULT_PKEY,
        fecn: false,
        becn: false,
        dest_qpn,
        ack_req,
        psn,
    }
}

/// A CM MAD on QP1 as rxe sends it (note: with AckReq set).
fn cm_frame(from_initiator: bool, ident: u16, psn: u32, message: Message<'_>) -> Vec<u8> {
    let mut mad_bytes = [0u8; mad::MAD_LEN];
    cm::Repr { tid: TID, message }.emit(&mut mad::Packet::new_unchecked(&mut mad_bytes[..]));
    let (src_mac, dst_mac, src_ip, dst_ip) = if from_initiator {
        (MAC_I, MAC_T, IP_I, IP_T)
    } else {
        (MAC_T, MAC_I, IP_T, IP_I)
    };
    let repr = roce::Repr {
        src_mac,
        dst_mac,
        ip: ip(src_ip, dst_ip, ident),
        udp_src_port: GSI_UDP_PORT,
        bth: bth(OpCode::UdSendOnly, bth::GSI_QPN, psn, true),
        deth: Some(deth::Repr {
            qkey: GSI_QKEY,
            src_qpn: 1,
        }),
        reth: None,
        aeth: None,
        immdt: None,
        ieth: None,
        payload: &mad_bytes,
    };
    let mut out = vec![0xA5u8; 400];
    let n = repr.emit(&mut out).unwrap();
    out.truncate(n);
    out
}

fn rc_frame(from_initiator: bool, ident: u16, template: roce::Repr<'_>) -> Vec<u8> {
    let (src_mac, dst_mac, src_ip, dst_ip) = if from_initiator {
        (MAC_I, MAC_T, IP_I, IP_T)
    } else {
        (MAC_T, MAC_I, IP_T, IP_I)
    };
    let repr = roce::Repr {
        src_mac,
        dst_mac,
        ip: ip(src_ip, dst_ip, ident),
        ..template
    };
    let mut out = vec![0xA5u8; 1200];
    let n = repr.emit(&mut out).unwrap();
    out.truncate(n);
    out
}

fn rc(op: OpCode, psn: u32, ack_req: bool, payload: &[u8]) -> roce::Repr<'_> {
    roce::Repr {
        src_mac: EthernetAddress::BROADCAST,
        dst_mac: EthernetAddress::BROADCAST,
        ip: ip(Ipv4Address::UNSPECIFIED, Ipv4Address::UNSPECIFIED, 0),
        udp_src_port: RC_UDP_PORT,
        bth: bth(op, QPN, psn, ack_req),
        deth: None,
        reth: None,
        aeth: None,
        immdt: None,
        ieth: None,
        payload,
    }
}

#[test]
fn rebuild_cm_req_rep_rtu_from_literals() {
    let bytes = load();
    let records = frames(&bytes);

    // REQ (frame 5): private data = rdma_cm header + srp_login_req_rdma.
    let mut private = [0u8; cm::REQ_PRIVATE_DATA_LEN];
    let cma = CmaHeaderRepr {
        src_port: 54343,
        src_addr: IP_I,
        dst_addr: IP_T,
    };
    cma.emit(&mut CmaHeaderPacket::new_unchecked(&mut private[..]));
    let login = &mut private[cm::CMA_HEADER_LEN..];
    login[8..10].copy_from_slice(&0x0006u16.to_be_bytes()); // req_buf_fmt
    login[10] = 0x80; // IMMED_REQUESTED
    login[12..16].copy_from_slice(&8260u32.to_be_bytes()); // req_it_iu_len
    login[24..32].copy_from_slice(&GUID_I.to_be_bytes()); // initiator port ID
    login[32..40].copy_from_slice(&GUID_T.to_be_bytes()); // target port ID, twice
    login[40..48].copy_from_slice(&GUID_T.to_be_bytes());
    login[48..50].copy_from_slice(&68u16.to_be_bytes()); // imm_data_offset
    let req = ReqRepr {
        local_comm_id: COMM_ID_I,
        service_id: cm::rdma_cm_service_id(5000),
        local_ca_guid: GUID_I,
        local_qkey: 0,
        local_qpn: QPN,
        responder_resources: 4,
        local_eecn: 0,
        initiator_depth: 0,
        remote_eecn: 0,
        remote_cm_response_timeout: 20,
        transport_type: TransportType::Rc,
        e2e_flow_control: true,
        starting_psn: REQ_PSN,
        local_cm_response_timeout: 20,
        retry_count: 7,
        pkey: 0xffff,
        path_mtu: PathMtu::Mtu1024,
        rdc_exists: false,
        rnr_retry_count: 7,
        max_cm_retries: 15,
        srq: false,
        ext_transport_type: 0,
        primary_path: PathRepr {
            local_lid: 0xffff,
            remote_lid: 0xffff,
            local_gid: Gid::from_ipv4(IP_I),
            remote_gid: Gid::from_ipv4(IP_T),
            flow_label: 0x9c821,
            packet_rate: 0,
            traffic_class: 0,
            hop_limit: 64,
            sl: 0,
            subnet_local: false,
            local_ack_timeout: 19,
        },
        alternate_path: None,
        private_data: &private,
    };
    assert_eq!(
        cm_frame(true, 0xf33a, 0, Message::Req(req)),
        frame(&records, 5),
        "REQ"
    );

    // REP (frame 6): private data = SRP_LOGIN_RSP.
    let mut login_rsp = [0u8; 52];
    login_rsp[0] = 0xc0;
    login_rsp[4..8].copy_from_slice(&128u32.to_be_bytes());
    login_rsp[16..20].copy_from_slice(&8276u32.to_be_bytes());
    login_rsp[20..24].copy_from_slice(&8260u32.to_be_bytes());
    login_rsp[24..26].copy_from_slice(&0x0006u16.to_be_bytes());
    login_rsp[26] = 0x80;
    let rep = RepRepr {
        local_comm_id: COMM_ID_T,
        remote_comm_id: COMM_ID_I,
        local_qkey: 0,
        local_qpn: QPN,
        local_eecn: 0,
        starting_psn: REP_PSN,
        responder_resources: 4,
        initiator_depth: 4,
        target_ack_delay: 15,
        failover_accepted: 0,
        e2e_flow_control: true,
        rnr_retry_count: 7,
        srq: false,
        local_ca_guid: GUID_T,
        private_data: &login_rsp, // emit zero-fills the rest of the 196 bytes
    };
    assert_eq!(
        cm_frame(false, 0xce83, 0, Message::Rep(rep)),
        frame(&records, 6),
        "REP"
    );

    // RTU (frame 7).
    let rtu = IdsRepr {
        local_comm_id: COMM_ID_I,
        remote_comm_id: COMM_ID_T,
        private_data: &[],
    };
    assert_eq!(
        cm_frame(true, 0xf346, 1, Message::Rtu(rtu)),
        frame(&records, 7),
        "RTU"
    );
}

#[test]
fn rebuild_ack_and_rdma_write_first_middle_last_from_literals() {
    let bytes = load();
    let records = frames(&bytes);

    // Frame 9: ACK of the zero-length WRITE.
    let ack = roce::Repr {
        aeth: Some(aeth::Repr {
            syndrome: Syndrome::Ack {
                credits: aeth::CREDITS_INVALID,
            },
            msn: 1,
        }),
        ..rc(OpCode::RcAcknowledge, REQ_PSN, false, &[])
    };
    assert_eq!(rc_frame(true, 0xf347, ack), frame(&records, 9), "ACK");

    // Frame 8: the zero-length RDMA WRITE Only.
    let zero = roce::Repr {
        reth: Some(reth::Repr {
            va: 0,
            rkey: 0,
            dma_len: 0,
        }),
        ..rc(OpCode::RcRdmaWriteOnly, REQ_PSN, true, &[])
    };
    assert_eq!(
        rc_frame(false, 0xce85, zero),
        frame(&records, 8),
        "WRITE Only, 0 bytes"
    );

    // Frames 138, 139, 141: REPORT LUNS data, 4 KiB as FIRST, MIDDLE, MIDDLE,
    // LAST. The payload is taken from the capture; every header is literal.
    let payload_of = |n: usize| roce::Repr::parse(frame(&records, n)).unwrap().payload;
    let first = roce::Repr {
        reth: Some(reth::Repr {
            va: 0xffff_8a72_8268_6000,
            rkey: 0x3ca,
            dma_len: 4096,
        }),
        ..rc(OpCode::RcRdmaWriteFirst, 0x95_3ca6, false, payload_of(138))
    };
    assert_eq!(
        rc_frame(false, 0xcf46, first),
        frame(&records, 138),
        "WRITE First"
    );
    let middle = rc(OpCode::RcRdmaWriteMiddle, 0x95_3ca7, false, payload_of(139));
    assert_eq!(
        rc_frame(false, 0xcf47, middle),
        frame(&records, 139),
        "WRITE Middle"
    );
    let last = rc(OpCode::RcRdmaWriteLast, 0x95_3ca9, true, payload_of(141));
    assert_eq!(
        rc_frame(false, 0xcf49, last),
        frame(&records, 141),
        "WRITE Last"
    );

    // Frame 60: a WRITE Only whose 13-byte payload needs 3 pad bytes.
    let padded = roce::Repr {
        reth: Some(reth::Repr {
            va: 0xffff_8a72_93af_f000,
            rkey: 0x3bd,
            dma_len: 13,
        }),
        ..rc(
            OpCode::RcRdmaWriteOnly,
            0x95_3c8c,
            true,
            b"\x00\x80\x00\x09srpdisk0\x00",
        )
    };
    assert_eq!(
        rc_frame(false, 0xcec5, padded),
        frame(&records, 60),
        "WRITE Only, padded"
    );
}
