//! The initiator `Channel` and the passive CM on the two ports of the
//! loopback segment, under seeded loss, duplication and reordering:
//! connect with private data, exchange messages, then the passive side
//! RDMA WRITEs MiBs into an initiator region and RDMA READs MiBs out of
//! another; every byte is checked. A hostile passive side then tries to
//! write outside the region, with a revoked key and without rights.

mod hca_util;

use fabric::channel::{Access, Channel, ChannelEvent, ChannelState, CloseReason, RemoteRegion};
use fabric::cm::{CmConfig, CmEvent, ConnId, Initiator, Passive};
use fabric::nic::loopback::Faults;
use fabric::time::Instant;
use fabric::transport::{HcaConfig, WcStatus};
use fabric::wire::Ipv4Address;
use hca_util::{segment, SharedPort, VecMem};

const MAC_I: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 2];
const MAC_T: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 1];
const IP_I: Ipv4Address = Ipv4Address::new(192, 168, 77, 2);
const IP_T: Ipv4Address = Ipv4Address::new(192, 168, 77, 1);
const PORT: u16 = 5000;
const MIB: usize = 1 << 20;
const I_BASE: u64 = 0x4000_0000;

type Init = Initiator<SharedPort, VecMem, 16, 1024>;
type Target = Passive<SharedPort, VecMem, 2, 16, 1024>;

fn cm_cfg() -> CmConfig {
    CmConfig {
        cm_response_timeout: 14,
        local_ack_timeout: 13,
        max_path_mtu: 4096,
        ..CmConfig::default()
    }
}

fn hca_cfg(ip: Ipv4Address, seed: u64) -> HcaConfig {
    let mut c = HcaConfig::new(ip, seed);
    c.tx_budget = 16;
    c.window = 16;
    c.retransmit_us = 30_000;
    c
}

struct World {
    init: Init,
    tgt: Target,
    now: u64,
    conn: Option<ConnId>,
    /// Initiator-side events and target messages seen so far.
    init_msgs: Vec<Vec<u8>>,
    tgt_msgs: Vec<Vec<u8>>,
    up: Option<Vec<u8>>,
    init_closed: Option<CloseReason>,
    tgt_closed: Option<CloseReason>,
    completions: Vec<(u64, WcStatus)>,
}

impl World {
    fn new(faults: Faults, seed: u64) -> World {
        let seg = segment(MAC_I, MAC_T);
        seg.borrow_mut().set_faults(faults);
        let init = Init::new(
            SharedPort::new(&seg, 0),
            VecMem::new(I_BASE, 3 * MIB),
            hca_cfg(IP_I, seed),
            cm_cfg(),
            IP_T,
            PORT,
        );
        let tcfg = CmConfig {
            initiator_depth: 4,
            ..cm_cfg()
        };
        let mut tgt = Target::new(
            SharedPort::new(&seg, 1),
            VecMem::new(0, 3 * MIB),
            hca_cfg(IP_T, seed ^ 0xFFFF),
            tcfg,
        );
        tgt.listen(PORT).unwrap();
        World {
            init,
            tgt,
            now: 0,
            conn: None,
            init_msgs: vec![],
            tgt_msgs: vec![],
            up: None,
            init_closed: None,
            tgt_closed: None,
            completions: vec![],
        }
    }

    /// One round: both sides poll (all their events), then time moves.
    fn step(&mut self) {
        let t = Instant(self.now);
        for _ in 0..64 {
            let ev = self.init.poll(t, |e| match e {
                ChannelEvent::Established(pd) => (0, pd.to_vec(), None),
                ChannelEvent::Message(m) => (1, m.to_vec(), None),
                ChannelEvent::Closed(r) => (2, vec![], Some(r)),
                ChannelEvent::Rejected { .. } => (3, vec![], None),
            });
            match ev {
                None => break,
                Some((0, pd, _)) => self.up = Some(pd),
                Some((1, m, _)) => self.init_msgs.push(m),
                Some((2, _, r)) => self.init_closed = r,
                Some(_) => panic!("rejected"),
            }
        }
        for _ in 0..64 {
            let mut req = None;
            let got = self.tgt.poll(t, |e| match e {
                CmEvent::ConnectRequest {
                    conn, private_data, ..
                } => {
                    assert_eq!(&private_data[..12], b"SRP-LOGIN-RQ");
                    req = Some(conn);
                }
                CmEvent::Message { data, .. } => self.tgt_msgs.push(data.to_vec()),
                CmEvent::Completion { completion, .. } => {
                    self.completions.push((completion.wr_id, completion.status))
                }
                CmEvent::Closed { reason, .. } => self.tgt_closed = Some(reason),
                CmEvent::Established { conn, .. } => self.conn = Some(conn),
                CmEvent::Rejected { .. } => {}
            });
            if let Some(conn) = req {
                self.tgt.accept(t, conn, b"SRP-LOGIN-RSP").unwrap();
            }
            if got.is_none() {
                break;
            }
        }
        let next = [self.init.poll_at(), self.tgt.poll_at()]
            .into_iter()
            .flatten()
            .min();
        self.now = match next {
            Some(n) if n.0 > self.now => n.0.min(self.now + 1000),
            _ => self.now + 5,
        };
    }

    fn run_until(&mut self, what: &str, mut done: impl FnMut(&mut World) -> bool) {
        for _ in 0..3_000_000 {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!(
            "{what}: stuck at {} µs; init {:?}; target {:?}",
            self.now,
            self.init.hca().counters(),
            self.tgt.hca().counters()
        );
    }

    fn connect(&mut self) {
        self.init
            .connect(Instant(self.now), b"SRP-LOGIN-RQ")
            .unwrap();
        self.run_until("connect", |w| w.up.is_some() && w.conn.is_some());
        assert_eq!(&self.up.as_ref().unwrap()[..13], b"SRP-LOGIN-RSP");
        assert_eq!(self.init.state(), ChannelState::Up);
    }
}

fn faults(seed: u64) -> Faults {
    Faults {
        drop_per_64k: 1500,
        dup_per_64k: 1000,
        swap_per_64k: 2000,
        seed,
    }
}

#[test]
fn messages_and_mib_rdma_under_faults() {
    for seed in [1u64, 7, 42] {
        let mut w = World::new(faults(seed), seed);
        w.connect();
        // 4096 on both loopback NICs and in the config.
        assert_eq!(w.tgt.path_mtu(w.conn.unwrap()), 4096);

        // Messages both ways, in order.
        let mut sent = 0u32;
        w.run_until("messages", |w| {
            while sent < 100 && w.init.send_window() > 0 {
                let len = 1 + (sent as usize * 97) % 1000;
                w.init.send(Instant(w.now), &vec![sent as u8; len]).unwrap();
                sent += 1;
            }
            w.tgt_msgs.len() == 100
        });
        for (i, m) in w.tgt_msgs.iter().enumerate() {
            assert_eq!(m.len(), 1 + (i * 97) % 1000, "seed {seed}");
            assert!(m.iter().all(|&b| b == i as u8));
        }
        let conn = w.conn.unwrap();
        w.tgt.send(conn, 0, b"SRP_RSP").unwrap();
        w.run_until("reply", |w| !w.init_msgs.is_empty());
        assert_eq!(w.init_msgs[0], b"SRP_RSP");

        // Regions: 1 MiB the target may write, 1 MiB it may read.
        let din = w
            .init
            .register(
                I_BASE,
                MIB as u32,
                Access {
                    remote_write: true,
                    remote_read: false,
                },
            )
            .unwrap();
        let dout = w
            .init
            .register(
                I_BASE + MIB as u64,
                MIB as u32,
                Access {
                    remote_write: false,
                    remote_read: true,
                },
            )
            .unwrap();
        for (i, b) in w.init.hca_mut().memory_mut().bytes[MIB..2 * MIB]
            .iter_mut()
            .enumerate()
        {
            *b = (i as u32).wrapping_mul(2654435761).to_le_bytes()[2];
        }
        for (i, b) in w.tgt.hca_mut().memory_mut().bytes[..MIB]
            .iter_mut()
            .enumerate()
        {
            *b = (i as u32 ^ seed as u32).wrapping_mul(40503).to_le_bytes()[1];
        }
        // 64 KiB per work request, as ib_srpt's rdma_rw does.
        let chunk = 64 * 1024u32;
        let n = MIB as u32 / chunk;
        let mut posted = 0u32;
        w.run_until("rdma", |w| {
            while posted < 2 * n && w.tgt.send_window(conn) > 0 {
                let off = u64::from((posted % n) * chunk);
                if posted < n {
                    w.tgt
                        .rdma_write(
                            conn,
                            1000 + u64::from(posted),
                            off,
                            din.addr + off,
                            din.rkey,
                            chunk,
                        )
                        .unwrap();
                } else {
                    w.tgt
                        .rdma_read(
                            conn,
                            1000 + u64::from(posted),
                            2 * MIB as u64 + off,
                            dout.addr + off,
                            dout.rkey,
                            chunk,
                        )
                        .unwrap();
                }
                posted += 1;
            }
            w.completions.iter().filter(|c| c.0 >= 1000).count() == 2 * n as usize
        });
        assert!(
            w.completions.iter().all(|c| c.1 == WcStatus::Success),
            "seed {seed}: {:?}",
            w.completions
        );
        let (im, tm) = (&w.init.hca().memory().bytes, &w.tgt.hca().memory().bytes);
        assert!(
            im[..MIB] == tm[..MIB],
            "seed {seed}: RDMA WRITE bytes differ"
        );
        let bad: Vec<usize> = (0..MIB)
            .filter(|&i| im[MIB + i] != tm[2 * MIB + i])
            .collect();
        assert!(
            bad.is_empty(),
            "seed {seed}: RDMA READ bytes differ: {} bytes, first {:x?} last {:x?}",
            bad.len(),
            bad.first(),
            bad.last()
        );
        assert!(
            w.tgt.hca().counters().req_retries > 0,
            "seed {seed}: faults should have cost retries"
        );

        w.init.disconnect(Instant(w.now));
        w.run_until("disconnect", |w| {
            w.init_closed.is_some() && w.tgt_closed.is_some()
        });
        assert_eq!(w.init_closed, Some(CloseReason::Local));
        assert_eq!(w.tgt_closed, Some(CloseReason::Remote));
    }
}

#[test]
fn hostile_target_cannot_write_outside_regions() {
    // 0: past the end; 1: before the start; 2: revoked key; 3: read-only
    // region; 4: guessed key.
    for case in 0..5 {
        let mut w = World::new(Faults::default(), 100 + case);
        w.init.hca_mut().memory_mut().bytes.fill(0x11);
        w.connect();
        let conn = w.conn.unwrap();
        let ok = w
            .init
            .register(
                I_BASE + 0x1000,
                0x1000,
                Access {
                    remote_write: true,
                    remote_read: true,
                },
            )
            .unwrap();
        let ro = w
            .init
            .register(
                I_BASE + 0x4000,
                0x1000,
                Access {
                    remote_write: false,
                    remote_read: true,
                },
            )
            .unwrap();
        let gone = w
            .init
            .register(
                I_BASE + 0x8000,
                0x1000,
                Access {
                    remote_write: true,
                    remote_read: true,
                },
            )
            .unwrap();
        w.init.deregister(gone);
        let (va, rkey): (u64, u32) = match case {
            0 => (ok.addr + 0x800, ok.rkey),
            1 => (ok.addr - 0x10, ok.rkey),
            2 => (gone.addr, gone.rkey),
            3 => (ro.addr, ro.rkey),
            _ => (ok.addr, ok.rkey.wrapping_add(1 << 8)),
        };
        let _ = RemoteRegion {
            addr: va,
            rkey,
            len: 0,
        };
        w.tgt.hca_mut().memory_mut().bytes[..0x1000].fill(0xEE);
        w.tgt.rdma_write(conn, 9, 0, va, rkey, 0x1000).unwrap();
        w.run_until("nak", |w| !w.completions.is_empty());
        assert_eq!(w.completions[0], (9, WcStatus::RemoteAccess), "case {case}");
        let im = &w.init.hca().memory().bytes;
        assert!(
            im.iter().all(|&b| b == 0x11),
            "case {case}: initiator memory changed"
        );
        assert_eq!(w.init.hca().counters().resp_access_nak, 1);
        // The initiator drops the connection: its QP is in error.
        w.run_until("teardown", |w| w.init_closed.is_some());
        assert_eq!(w.init_closed, Some(CloseReason::TransportError));
    }
}
