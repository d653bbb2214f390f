//! Loopback throughput of the soft HCA: an initiator `Channel` and a
//! passive CM on the two ports of the in-memory segment, the passive side
//! RDMA WRITEs into and RDMA READs out of a registered initiator region,
//! 64 KiB per work request (as ib_srpt does). Both ends run on this thread,
//! so the numbers are the cost of both stacks together (ICRC twice per
//! packet, copies, bookkeeping), not a wire speed.
//!
//! `cargo run --release -p fabric --example hca_bench [MiB]`

use fabric::channel::{Access, Channel};
use fabric::cm::{CmConfig, CmEvent, Initiator, Passive};
use fabric::memory::Memory;
use fabric::nic::loopback::{Segment, MAX_FRAME};
use fabric::nic::Nic;
use fabric::time::Instant;
use fabric::transport::{HcaConfig, WcStatus};
use fabric::wire::Ipv4Address;
use std::cell::RefCell;
use std::rc::Rc;

struct Port {
    seg: Rc<RefCell<Box<Segment>>>,
    port: usize,
    mtu_frame: usize,
}

impl Nic for Port {
    fn mac(&self) -> [u8; 6] {
        self.seg.borrow_mut().port(self.port).mac()
    }
    fn max_frame(&self) -> usize {
        self.mtu_frame
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let mut seg = self.seg.borrow_mut();
        let mut port = seg.port(self.port);
        port.receive(f)
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if len > self.mtu_frame {
            return None;
        }
        self.seg.borrow_mut().port(self.port).transmit(len, f)
    }
}

struct Mem(Vec<u8>);

impl Memory for Mem {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        let a = addr as usize;
        match self.0.get(a..a + out.len()) {
            Some(s) => {
                out.copy_from_slice(s);
                true
            }
            None => false,
        }
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        let a = addr as usize;
        match self.0.get_mut(a..a + data.len()) {
            Some(s) => {
                s.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

const REGION: usize = 16 << 20;
const CHUNK: u32 = 64 * 1024;

fn run(mtu_frame: usize, total_mib: usize) {
    let seg = Rc::new(RefCell::new(Box::new(Segment::new(
        [2, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 2],
    ))));
    let (ip_i, ip_t) = (Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 2));
    let hcfg = |ip, seed| {
        let mut c = HcaConfig::new(ip, seed);
        c.tx_budget = 24;
        c.window = 24;
        c
    };
    let cm = CmConfig {
        max_path_mtu: 4096,
        initiator_depth: 4,
        ..CmConfig::default()
    };
    let mut init: Initiator<Port, Mem, 16, 1024> = Initiator::new(
        Port {
            seg: seg.clone(),
            port: 0,
            mtu_frame,
        },
        Mem(vec![0x11; REGION]),
        hcfg(ip_i, 1),
        cm,
        ip_t,
        5000,
    );
    let mut tgt: Passive<Port, Mem, 1, 16, 1024> = Passive::new(
        Port {
            seg: seg.clone(),
            port: 1,
            mtu_frame,
        },
        Mem(vec![0x22; REGION]),
        hcfg(ip_t, 2),
        cm,
    );
    tgt.listen(5000).unwrap();
    let mut now = 0u64;
    init.connect(Instant(now), b"login").unwrap();
    let mut conn = None;
    while conn.is_none() {
        now += 10;
        init.poll(Instant(now), |_| ());
        let mut req = None;
        tgt.poll(Instant(now), |e| match e {
            CmEvent::ConnectRequest { conn, .. } => req = Some(conn),
            CmEvent::Established { conn: c, .. } => conn = Some(c),
            _ => {}
        });
        if let Some(c) = req {
            tgt.accept(Instant(now), c, b"ok").unwrap();
        }
    }
    let conn = conn.unwrap();
    let region = init
        .register(
            0,
            REGION as u32,
            Access {
                remote_write: true,
                remote_read: true,
            },
        )
        .unwrap();
    let pmtu = tgt.path_mtu(conn);
    for write in [true, false] {
        let n = (total_mib << 20) / CHUNK as usize;
        let (mut posted, mut done) = (0usize, 0usize);
        let start = std::time::Instant::now();
        while done < n {
            while posted < n && tgt.send_window(conn) > 0 {
                let off = (posted * CHUNK as usize % REGION) as u64;
                if write {
                    tgt.rdma_write(
                        conn,
                        posted as u64,
                        off,
                        region.addr + off,
                        region.rkey,
                        CHUNK,
                    )
                    .unwrap();
                } else {
                    tgt.rdma_read(
                        conn,
                        posted as u64,
                        off,
                        region.addr + off,
                        region.rkey,
                        CHUNK,
                    )
                    .unwrap();
                }
                posted += 1;
            }
            now += 1;
            init.poll(Instant(now), |_| ());
            while let Some(Some(status)) = tgt.poll(Instant(now), |e| match e {
                CmEvent::Completion { completion, .. } => Some(completion.status),
                _ => None,
            }) {
                assert_eq!(status, WcStatus::Success);
                done += 1;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let c = tgt.hca().counters();
        println!(
            "{:<10} pmtu {:>4}: {:>4} MiB in {:>6.3} s = {:>7.1} MiB/s (retransmitted {}, timeouts {})",
            if write { "RDMA WRITE" } else { "RDMA READ" },
            pmtu,
            total_mib,
            secs,
            total_mib as f64 / secs,
            c.req_retransmitted,
            c.req_timeouts
        );
    }
}

fn main() {
    let mib = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    run(MAX_FRAME, mib);
    run(1514, mib / 2);
}
