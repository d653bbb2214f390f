//! Frames our HCA and CM build, compared with the golden Linux capture
//! (`shared/golden/srp-session.pcap`, ib_srp ↔ ib_srpt over rdma_rxe):
//! CM REQ, REP and RTU (frames 5–7), the target's zero-length RDMA WRITE
//! and its ACK (8–9), the first SRP_CMD SEND and its ACK (10–11).
//!
//! Both ends run here with the capture's MACs, IPs, rdma_cm ports and CM
//! parameters, on 1500-byte NICs. For each frame, the values that are
//! random per connection — comm IDs, TIDs, QPNs, PSNs, the IPv4
//! identification — are copied from the golden frame into ours; then our
//! frame is emitted again and must equal the golden frame byte for byte
//! (ICRC included). UDP source ports are not patched: rxe's QP1 hash and
//! rdma_cm's flow label give the same values as Linux.

mod common;
mod hca_util;

use common::pcap::Pcap;
use fabric::channel::{Channel, ChannelEvent};
use fabric::cm::{CmConfig, CmEvent, Initiator, Passive};
use fabric::time::Instant;
use fabric::transport::HcaConfig;
use fabric::wire::bth::OpCode;
use fabric::wire::cm::{self, Message};
use fabric::wire::{mad, roce, Ipv4Address};
use hca_util::{segment, Mtu1500, SharedPort, VecMem};

const MAC_I: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 2];
const MAC_T: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 1];
const IP_I: Ipv4Address = Ipv4Address::new(192, 168, 77, 2);
const IP_T: Ipv4Address = Ipv4Address::new(192, 168, 77, 1);

/// Copies the per-connection random values of `golden` into `ours` and
/// re-emits it.
fn normalize(ours: &[u8], golden: &[u8]) -> Vec<u8> {
    let g = roce::Repr::parse(golden).expect("golden frame parses");
    let mut o = roce::Repr::parse(ours).expect("our frame parses");
    o.ip.ident = g.ip.ident;
    let mut mad_buf = [0u8; mad::MAD_LEN];
    if o.bth.opcode == OpCode::UdSendOnly {
        let gm = cm::Repr::parse(&mad::Packet::new_checked(g.payload).unwrap()).unwrap();
        let mut om = cm::Repr::parse(&mad::Packet::new_checked(o.payload).unwrap()).unwrap();
        om.tid = gm.tid;
        om.message = match (om.message, gm.message) {
            (Message::Req(mut a), Message::Req(b)) => {
                a.local_comm_id = b.local_comm_id;
                a.local_qpn = b.local_qpn;
                a.starting_psn = b.starting_psn;
                Message::Req(a)
            }
            (Message::Rep(mut a), Message::Rep(b)) => {
                a.local_comm_id = b.local_comm_id;
                a.remote_comm_id = b.remote_comm_id;
                a.local_qpn = b.local_qpn;
                a.starting_psn = b.starting_psn;
                Message::Rep(a)
            }
            (Message::Rtu(mut a), Message::Rtu(b)) => {
                a.local_comm_id = b.local_comm_id;
                a.remote_comm_id = b.remote_comm_id;
                Message::Rtu(a)
            }
            (a, b) => panic!(
                "message mismatch: ours {:?}, golden {:?}",
                a.attr_id(),
                b.attr_id()
            ),
        };
        om.emit(&mut mad::Packet::new_unchecked(&mut mad_buf[..]));
        o.payload = &mad_buf;
    } else {
        o.bth.psn = g.bth.psn;
        o.bth.dest_qpn = g.bth.dest_qpn;
    }
    let mut out = vec![0u8; o.buffer_len().unwrap()];
    o.emit(&mut out).unwrap();
    out
}

fn cm_message(frame: &[u8]) -> Message<'_> {
    let r = roce::Repr::parse(frame).unwrap();
    cm::Repr::parse(&mad::Packet::new_checked(r.payload).unwrap())
        .unwrap()
        .message
}

#[test]
fn connection_setup_and_first_packets_match_linux() {
    let bytes = common::golden_pcap_bytes();
    let pcap = Pcap::parse(&bytes).unwrap();
    let golden = |n: usize| pcap.records[n - 1].data;

    // What the Linux ends said: the SRP login request and response, and
    // the first SRP_CMD.
    let login_req = match cm_message(golden(5)) {
        Message::Req(r) => r.private_data[cm::CMA_HEADER_LEN..].to_vec(),
        _ => panic!("frame 5 is the REQ"),
    };
    let login_rsp = match cm_message(golden(6)) {
        Message::Rep(r) => r.private_data[..52].to_vec(),
        _ => panic!("frame 6 is the REP"),
    };
    let srp_cmd = roce::Repr::parse(golden(10)).unwrap().payload.to_vec();

    let seg = segment(MAC_I, MAC_T);
    let mut port_i = SharedPort::new(&seg, 0);
    port_i.sent = Some(vec![]);
    let mut port_t = SharedPort::new(&seg, 1);
    port_t.sent = Some(vec![]);
    // ib_srp's REQ: local ACK timeout 19; rdma_cm port 54343 → 5000.
    let icfg = CmConfig {
        local_ack_timeout: 19,
        local_port: 54343,
        ..CmConfig::default()
    };
    let mut init: Initiator<Mtu1500, VecMem, 16, 1024> = Initiator::new(
        Mtu1500(port_i),
        VecMem::new(0, 4096),
        HcaConfig::new(IP_I, 1),
        icfg,
        IP_T,
        5000,
    );
    let tcfg = CmConfig {
        initiator_depth: 4,
        ..CmConfig::default()
    };
    let mut tgt: Passive<Mtu1500, VecMem, 1, 16, 1024> = Passive::new(
        Mtu1500(port_t),
        VecMem::new(0, 4096),
        HcaConfig::new(IP_T, 2),
        tcfg,
    );
    tgt.listen(5000).unwrap();

    let mut now = 0u64;
    init.connect(Instant(now), &login_req).unwrap();
    let (mut up_i, mut conn_t, mut wrote, mut sent, mut got_cmd) =
        (false, None, false, false, false);
    for _ in 0..1000 {
        let t = Instant(now);
        while let Some(()) = init.poll(t, |e| {
            if let ChannelEvent::Established(pd) = e {
                assert_eq!(&pd[..52], &login_rsp[..]);
                up_i = true;
            }
        }) {}
        let mut req = None;
        while let Some(()) = tgt.poll(t, |e| match e {
            CmEvent::ConnectRequest {
                conn, private_data, ..
            } => {
                assert_eq!(private_data, &login_req[..]);
                req = Some(conn);
            }
            CmEvent::Established { conn, .. } => conn_t = Some(conn),
            CmEvent::Message { data, .. } => {
                assert_eq!(data, &srp_cmd[..]);
                got_cmd = true;
            }
            _ => {}
        }) {}
        if let Some(c) = req.take() {
            tgt.accept(t, c, &login_rsp).unwrap();
        }
        if let (Some(c), false) = (conn_t, wrote) {
            // ib_srpt's liveness probe: zero-length RDMA WRITE, key 0.
            tgt.rdma_write(c, 1, 0, 0, 0, 0).unwrap();
            wrote = true;
        }
        if up_i && wrote && !sent && init.hca().counters().rx_frames >= 3 {
            init.send(t, &srp_cmd).unwrap();
            sent = true;
        }
        if got_cmd {
            break;
        }
        now += 100;
    }
    assert!(got_cmd, "session did not get to the first SRP_CMD");
    for _ in 0..10 {
        now += 100;
        init.poll(Instant(now), |_| ());
        tgt.poll(Instant(now), |_| ());
    }

    let roce_frames = |log: &Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        log.iter()
            .filter(|f| f[12..14] == [8, 0])
            .cloned()
            .collect()
    };
    let ours_i = roce_frames(init.hca().nic().0.sent.as_ref().unwrap());
    let ours_t = roce_frames(tgt.hca().nic().0.sent.as_ref().unwrap());
    // Initiator: REQ, RTU, ACK of the zero-length write, SRP_CMD.
    // Target: REP, zero-length write, ACK of the SRP_CMD.
    let pairs = [
        (&ours_i[0], 5, "REQ"),
        (&ours_t[0], 6, "REP"),
        (&ours_i[1], 7, "RTU"),
        (&ours_t[1], 8, "zero-length RDMA WRITE"),
        (&ours_i[2], 9, "ACK of it"),
        (&ours_i[3], 10, "SEND SRP_CMD"),
        (&ours_t[2], 11, "ACK of it"),
    ];
    for (ours, n, what) in pairs {
        let g = golden(n);
        let norm = normalize(ours, g);
        if norm != g {
            let diff: Vec<usize> = (0..norm.len().max(g.len()))
                .filter(|&i| norm.get(i) != g.get(i))
                .collect();
            panic!(
                "frame {n} ({what}) differs at bytes {diff:?}\n ours   {:02x?}\n golden {:02x?}",
                norm, g
            );
        }
    }
    assert_eq!(ours_i.len(), 4, "initiator sent nothing else");
    assert_eq!(ours_t.len(), 3, "target sent nothing else");
    // And the PSN rule of the capture: the target's first packet carries
    // the REQ's starting PSN, ours the REP's.
    let (req, rep) = (cm_message(&ours_i[0]), cm_message(&ours_t[0]));
    let (Message::Req(req), Message::Rep(rep)) = (req, rep) else {
        panic!()
    };
    assert_eq!(
        roce::Repr::parse(&ours_t[1]).unwrap().bth.psn,
        req.starting_psn
    );
    assert_eq!(
        roce::Repr::parse(&ours_i[3]).unwrap().bth.psn,
        rep.starting_psn
    );
}
