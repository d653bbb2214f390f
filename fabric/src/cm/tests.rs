//! CM tests over the loopback segment: both sides in one process.

use super::*;
use crate::channel::{Channel, ChannelEvent, ChannelState};
use crate::nic::loopback::{Faults, Segment};
use crate::transport::tests::{SharedPort, VecMem, IP_A, IP_B, MAC_A, MAC_B};
use std::boxed::Box;
use std::cell::RefCell;
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

type Init = Initiator<SharedPort, VecMem, 8, 512>;
type Target = Passive<SharedPort, VecMem, 2, 8, 512>;
const PORT: u16 = 5000;

fn cm_cfg() -> CmConfig {
    CmConfig {
        cm_response_timeout: 14,
        local_ack_timeout: 12,
        max_cm_retries: 5,
        ..CmConfig::default()
    }
}

fn setup(faults: Faults) -> (Init, Target, Rc<RefCell<Box<Segment>>>) {
    let seg = Rc::new(RefCell::new(Box::new(Segment::new(MAC_A.0, MAC_B.0))));
    seg.borrow_mut().set_faults(faults);
    let mut hc = HcaConfig::new(IP_A, 5);
    hc.retransmit_us = 20_000;
    hc.tx_budget = 16;
    let init = Init::new(
        SharedPort {
            seg: seg.clone(),
            port: 0,
        },
        VecMem {
            base: 0,
            bytes: vec![0; 4096],
        },
        hc,
        cm_cfg(),
        IP_B,
        PORT,
    );
    let mut hc = HcaConfig::new(IP_B, 6);
    hc.retransmit_us = 20_000;
    hc.tx_budget = 16;
    let tgt = Target::new(
        SharedPort {
            seg: seg.clone(),
            port: 1,
        },
        VecMem {
            base: 0,
            bytes: vec![0; 4096],
        },
        hc,
        CmConfig {
            initiator_depth: 4,
            ..cm_cfg()
        },
    );
    (init, tgt, seg)
}

#[derive(Debug, PartialEq, Eq)]
enum Ev {
    I(String, Vec<u8>),
    T(String, Vec<u8>),
}

/// Polls both sides until `stop` says so; the target accepts every
/// request with "welcome" unless `reject` is set.
fn drive(
    init: &mut Init,
    tgt: &mut Target,
    now: &mut u64,
    reject: bool,
    mut stop: impl FnMut(&[Ev], &mut Init, &mut Target) -> bool,
) -> Vec<Ev> {
    let mut evs = Vec::new();
    for _ in 0..200_000 {
        let t = Instant(*now);
        if let Some(e) = init.poll(t, |e| match e {
            ChannelEvent::Established(pd) => Ev::I("up".into(), pd[..7].to_vec()),
            ChannelEvent::Rejected {
                reason,
                private_data,
            } => Ev::I(std::format!("rej {reason}"), private_data[..4].to_vec()),
            ChannelEvent::Message(m) => Ev::I("msg".into(), m.to_vec()),
            ChannelEvent::Closed(r) => Ev::I(std::format!("closed {r:?}"), vec![]),
        }) {
            evs.push(e);
        }
        let mut req = None;
        if let Some(e) = tgt.poll(t, |e| match e {
            CmEvent::ConnectRequest {
                conn,
                service,
                private_data,
                ..
            } => {
                req = Some(conn);
                vec![
                    Ev::T("req".into(), private_data[..5].to_vec()),
                    Ev::T(std::format!("req {service:?}"), private_data.to_vec()),
                ]
            }
            CmEvent::Established { .. } => vec![Ev::T("up".into(), vec![])],
            CmEvent::Message { data, .. } => vec![Ev::T("msg".into(), data.to_vec())],
            CmEvent::Closed { reason, .. } => {
                vec![Ev::T(std::format!("closed {reason:?}"), vec![])]
            }
            CmEvent::Completion { .. } => vec![],
            CmEvent::Rejected { .. } => vec![Ev::T("rejected?".into(), vec![])],
        }) {
            evs.extend(e);
        }
        if let Some(conn) = req {
            if reject {
                tgt.reject(conn, 28, b"nope").unwrap();
            } else {
                tgt.accept(t, conn, b"welcome").unwrap();
            }
        }
        if stop(&evs, init, tgt) {
            return evs;
        }
        let next = [init.poll_at(), tgt.poll_at()].into_iter().flatten().min();
        *now = match next {
            Some(n) if n.0 > *now => n.0,
            _ => *now + 10,
        };
    }
    panic!("stuck: {evs:?}");
}

fn has(evs: &[Ev], e: &Ev) -> bool {
    evs.contains(e)
}

#[test]
fn connect_exchange_disconnect() {
    for (seed, faults) in [
        (0, Faults::default()),
        (
            3,
            Faults {
                drop_per_64k: 8000,
                dup_per_64k: 4000,
                swap_per_64k: 4000,
                seed: 3,
            },
        ),
    ] {
        let (mut init, mut tgt, _seg) = setup(faults);
        tgt.listen(PORT).unwrap();
        let mut now = 0;
        init.connect(Instant(now), b"hello login").unwrap();
        assert_eq!(init.state(), ChannelState::Connecting);
        let evs = drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
            has(e, &Ev::I("up".into(), b"welcome".to_vec())) && has(e, &Ev::T("up".into(), vec![]))
        });
        assert_eq!(
            evs[0],
            Ev::T("req".into(), b"hello".to_vec()),
            "seed {seed}"
        );
        assert_eq!(init.state(), ChannelState::Up);
        let mut evs = Vec::new();
        let count = |e: &[Ev]| {
            e.iter()
                .filter(|x| matches!(x, Ev::T(k, _) if k == "msg"))
                .count()
        };
        for i in 0..20u8 {
            while init.send_window() == 0 {
                evs.extend(drive(&mut init, &mut tgt, &mut now, false, |_, i, _| {
                    i.send_window() > 0
                }));
            }
            init.send(Instant(now), &[i; 100]).unwrap();
        }
        let conn = ConnId(0);
        tgt.send(conn, 1, b"response").unwrap();
        let before = count(&evs);
        evs.extend(drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
            before + count(e) == 20 && has(e, &Ev::I("msg".into(), b"response".to_vec()))
        }));
        let msgs: Vec<_> = evs
            .iter()
            .filter_map(|e| match e {
                Ev::T(k, m) if k == "msg" => Some(m[0]),
                _ => None,
            })
            .collect();
        assert_eq!(msgs, (0..20).collect::<Vec<u8>>());
        init.disconnect(Instant(now));
        assert_eq!(init.state(), ChannelState::Closing);
        drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
            has(e, &Ev::I("closed Local".into(), vec![]))
                && has(e, &Ev::T("closed Remote".into(), vec![]))
        });
        assert_eq!(init.state(), ChannelState::Closed(CloseReason::Local));
        // And again, on the same objects.
        init.connect(Instant(now), b"again").unwrap();
        drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
            has(e, &Ev::I("up".into(), b"welcome".to_vec()))
        });
    }
}

#[test]
fn reject_carries_reason_and_private_data() {
    let (mut init, mut tgt, _seg) = setup(Faults::default());
    tgt.listen(PORT).unwrap();
    let mut now = 0;
    init.connect(Instant(now), b"login").unwrap();
    let evs = drive(&mut init, &mut tgt, &mut now, true, |e, _, _| {
        has(e, &Ev::I("closed Rejected(28)".into(), vec![]))
    });
    assert!(has(&evs, &Ev::I("rej 28".into(), b"nope".to_vec())));
    assert_eq!(
        init.state(),
        ChannelState::Closed(CloseReason::Rejected(28))
    );
}

#[test]
fn no_listener_is_rejected_with_invalid_service_id() {
    let (mut init, mut tgt, _seg) = setup(Faults::default());
    let mut now = 0;
    init.connect(Instant(now), b"login").unwrap();
    drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
        has(e, &Ev::I("closed Rejected(8)".into(), vec![]))
    });
}

#[test]
fn silent_peer_times_out() {
    let (mut init, tgt, seg) = setup(Faults::default());
    // ARP unanswered: nobody polls the other port.
    let mut now = 0;
    init.connect(Instant(now), b"x").unwrap();
    let mut closed = None;
    for _ in 0..1000 {
        if let Some(r) = init
            .poll(Instant(now), |e| match e {
                ChannelEvent::Closed(r) => Some(r),
                _ => None,
            })
            .flatten()
        {
            closed = Some(r);
            break;
        }
        seg.borrow_mut().port(1).receive(|_| ());
        now = init.poll_at().map_or(now + 1000, |t| t.0.max(now + 1));
    }
    assert_eq!(closed, Some(CloseReason::ArpTimeout));
    drop(tgt);
    // ARP answered (an HCA without a CM), MADs ignored: CM timeout after retries.
    let (mut init, tgt, _seg) = setup(Faults::default());
    let Cm { hca: mut raw, .. } = tgt;
    init.connect(Instant(now), b"x").unwrap();
    let mut closed = None;
    let mut reqs = 0;
    for _ in 0..10_000 {
        if let Some(r) = init
            .poll(Instant(now), |e| match e {
                ChannelEvent::Closed(r) => Some(r),
                _ => None,
            })
            .flatten()
        {
            closed = Some(r);
            break;
        }
        raw.poll(Instant(now));
        while raw.gsi_recv().is_some() {
            reqs += 1;
        }
        now = init.poll_at().map_or(now + 1000, |t| t.0.max(now + 1));
    }
    assert_eq!(closed, Some(CloseReason::CmTimeout));
    assert_eq!(reqs, 1 + cm_cfg().max_cm_retries as usize);
}

#[test]
fn lost_rtu_is_covered_by_traffic_and_dup_req_gets_rep_again() {
    let (mut init, mut tgt, seg) = setup(Faults::default());
    tgt.listen(PORT).unwrap();
    let mut now = 0;
    init.connect(Instant(now), b"hello").unwrap();
    // Run until the REQ is accepted and the REP is on the wire.
    drive(&mut init, &mut tgt, &mut now, false, |_, _, t| {
        t.state(ConnId(0)) == CmState::RepSent
    });
    // Initiator takes the REP and sends the RTU; drop that RTU.
    init.poll(Instant(now), |_| ());
    assert_eq!(init.state(), ChannelState::Up);
    let mut dropped = 0;
    while seg.borrow_mut().port(1).receive(|_| ()).is_some() {
        dropped += 1;
    }
    assert!(dropped >= 1);
    assert_eq!(tgt.state(ConnId(0)), CmState::RepSent);
    init.send(Instant(now), b"first").unwrap();
    let evs = drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
        has(e, &Ev::T("msg".into(), b"first".to_vec()))
    });
    assert!(has(&evs, &Ev::T("up".into(), vec![])));
    assert_eq!(tgt.state(ConnId(0)), CmState::Established);
}

/// Plain IB CM service ID (ib_srpt's `srpt_service_guid` form).
const SID: u64 = 0x0002_c903_00a1_b2c3;

#[test]
fn plain_service_id_request_is_delivered_raw_and_accepted() {
    let (mut init, mut tgt, _seg) = setup(Faults::default());
    tgt.listen(PORT).unwrap();
    tgt.listen_service_id(SID).unwrap();
    init.set_service_id(Some(SID));
    // 64 bytes: more than the 56 rdma_cm leaves, as the classic login.
    let login: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
    let mut now = 0;
    init.connect(Instant(now), &login).unwrap();
    assert_eq!(init.cm().service(ConnId(0)), Some(Service::Ib(SID)));
    let evs = drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
        has(e, &Ev::I("up".into(), b"welcome".to_vec())) && has(e, &Ev::T("up".into(), vec![]))
    });
    // The whole REQ private data, no rdma_cm header taken off.
    let mut want = login.clone();
    want.resize(crate::wire::cm::REQ_PRIVATE_DATA_LEN, 0);
    let full = std::format!("req {:?}", Service::Ib(SID));
    assert!(has(&evs, &Ev::T(full, want)), "{evs:?}");
    assert_eq!(tgt.service(ConnId(0)), Some(Service::Ib(SID)));
    // Traffic and an orderly close work as on the rdma_cm path.
    init.send(Instant(now), b"ping").unwrap();
    tgt.send(ConnId(0), 1, b"pong").unwrap();
    drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
        has(e, &Ev::T("msg".into(), b"ping".to_vec()))
            && has(e, &Ev::I("msg".into(), b"pong".to_vec()))
    });
    init.disconnect(Instant(now));
    drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
        has(e, &Ev::I("closed Local".into(), vec![]))
            && has(e, &Ev::T("closed Remote".into(), vec![]))
    });
    // The rdma_cm path on the same listener is unchanged.
    init.set_service_id(None);
    init.connect(Instant(now), b"hello").unwrap();
    let evs = drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
        has(e, &Ev::I("up".into(), b"welcome".to_vec()))
    });
    let full = std::format!("req {:?}", Service::RdmaCm(PORT));
    let mut want = b"hello".to_vec();
    want.resize(crate::wire::cm::CMA_USER_DATA_LEN, 0);
    assert!(has(&evs, &Ev::T(full, want)), "{evs:?}");
}

#[test]
fn unknown_plain_service_id_is_rejected_with_invalid_service_id() {
    let (mut init, mut tgt, _seg) = setup(Faults::default());
    tgt.listen(PORT).unwrap();
    tgt.listen_service_id(SID).unwrap();
    init.set_service_id(Some(SID + 1));
    let mut now = 0;
    init.connect(Instant(now), &[0u8; 64]).unwrap();
    drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
        has(e, &Ev::I("closed Rejected(8)".into(), vec![]))
    });
    // Nor does a plain listener answer the rdma_cm form of another port.
    let (mut init, mut tgt, _seg) = setup(Faults::default());
    tgt.listen_service_id(SID).unwrap();
    init.connect(Instant(now), b"login").unwrap();
    let evs = drive(&mut init, &mut tgt, &mut now, false, |e, _, _| {
        has(e, &Ev::I("closed Rejected(8)".into(), vec![]))
    });
    assert!(!evs.iter().any(|e| matches!(e, Ev::T(..))), "{evs:?}");
}

#[test]
fn connect_service_id_takes_92_bytes_of_private_data() {
    let (mut init, _tgt, _seg) = setup(Faults::default());
    let cm = init.cm_mut();
    assert_eq!(
        cm.connect_service_id(Instant(0), IP_B, SID, &[0; 93]),
        Err(CmError::TooLarge)
    );
    assert!(cm
        .connect_service_id(Instant(0), IP_B, SID, &[0; 92])
        .is_ok());
    assert_eq!(
        cm.connect(Instant(0), IP_B, PORT, &[0; 57]),
        Err(CmError::TooLarge)
    );
}

/// A hand-built REQ as ib_srp sends it without rdma_cm: plain service ID,
/// link-local GIDs (not IPv4-mapped), the 64-byte login at offset 0 of the
/// private data; the REP goes back to the sender with the private data raw.
#[test]
fn hand_built_plain_req_with_link_local_gids() {
    use crate::wire::cm::{Gid, PathRepr, Repr, ReqRepr, REQ_PRIVATE_DATA_LEN};
    let (mut init, mut tgt, _seg) = setup(Faults::default());
    tgt.listen_service_id(SID).unwrap();
    // The initiator's HCA without its CM.
    let raw = init.hca_mut();
    let qp = raw.create_qp().unwrap();
    let our_qpn = raw.qpn(qp);
    let mut pd = [0u8; REQ_PRIVATE_DATA_LEN];
    pd[..12].copy_from_slice(b"SRP-LOGIN-RQ");
    pd[63] = 0x5A;
    let mut ll = [0u8; 16];
    ll[..2].copy_from_slice(&[0xfe, 0x80]);
    ll[8..].copy_from_slice(&[0, 0, 0, 0xff, 0xfe, 0, 0, 0xA]);
    let mut ll_b = ll;
    ll_b[15] = 0xB;
    let req = ReqRepr {
        local_comm_id: 0x1234_5678,
        service_id: SID,
        local_ca_guid: 0x0200_00ff_fe00_000a,
        local_qkey: 0,
        local_qpn: our_qpn,
        responder_resources: 0,
        local_eecn: 0,
        initiator_depth: 4,
        remote_eecn: 0,
        remote_cm_response_timeout: 20,
        transport_type: crate::wire::cm::TransportType::Rc,
        e2e_flow_control: true,
        starting_psn: 0x42,
        local_cm_response_timeout: 20,
        retry_count: 7,
        pkey: 0xFFFF,
        path_mtu: mtu_code(1024),
        rdc_exists: false,
        rnr_retry_count: 7,
        max_cm_retries: 15,
        srq: false,
        ext_transport_type: 0,
        primary_path: PathRepr {
            local_lid: 0xFFFF,
            remote_lid: 0xFFFF,
            local_gid: Gid(ll),
            remote_gid: Gid(ll_b),
            flow_label: 0,
            packet_rate: 0,
            traffic_class: 0,
            hop_limit: 64,
            sl: 0,
            subnet_local: false,
            local_ack_timeout: 19,
        },
        alternate_path: None,
        private_data: &pd,
    };
    let mut m = [0u8; mad::MAD_LEN];
    Repr {
        tid: 77,
        message: Message::Req(req),
    }
    .emit(&mut mad::Packet::new_unchecked(&mut m[..]));
    assert!(raw.gsi_send(IP_B, MAC_B, &m));
    let mut got = None;
    for t in 0..100u64 {
        raw.poll(Instant(t * 10));
        if let Some(Some(r)) = tgt.poll(Instant(t * 10), |e| match e {
            CmEvent::ConnectRequest {
                conn,
                peer,
                service,
                private_data,
            } => Some((conn, peer, service, private_data.to_vec())),
            _ => None,
        }) {
            got = Some(r);
            break;
        }
    }
    let (conn, peer, service, data) = got.expect("no ConnectRequest");
    assert_eq!((peer, service), (IP_A, Service::Ib(SID)));
    assert_eq!(&data[..], &pd[..]);
    tgt.accept(Instant(1000), conn, b"SRP-LOGIN-RSP").unwrap();
    let mut rep = None;
    for t in 100..200u64 {
        tgt.poll(Instant(t * 10), |_| ());
        raw.poll(Instant(t * 10));
        if let Some(g) = raw.gsi_recv() {
            rep = Some(g);
            break;
        }
    }
    let g = rep.expect("no REP");
    assert_eq!(g.src_ip, IP_B);
    let p = mad::Packet::new_checked(&g.mad[..]).unwrap();
    let r = Repr::parse(&p).unwrap();
    assert_eq!(r.tid, 77);
    let Message::Rep(rep) = r.message else {
        panic!("not a REP: {:?}", r.message)
    };
    assert_eq!(rep.remote_comm_id, 0x1234_5678);
    assert_eq!(&rep.private_data[..13], b"SRP-LOGIN-RSP");
    assert_eq!(tgt.state(conn), CmState::RepSent);
}
