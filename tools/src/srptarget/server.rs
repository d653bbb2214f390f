//! The network side of `srp-target`: one soft HCA + passive CM per link,
//! the [`Target`] behind all of them, and the poll loop.
//!
//! Links: with `--listen`, every accepted TCP connection (a QEMU
//! `-netdev stream`/`socket,connect=` peer) is its own Ethernet segment with
//! its own HCA, so VMs that connect at once never see each other's frames
//! (all may even use the same IP and MAC). `--dgram` and `--iface` are one
//! link each ([`crate::netdev`]).
//!
//! Memory: the HCA reads RDMA WRITE sources from and writes RDMA READ
//! results into [`StageMem`], one buffer per work request, freed at its
//! completion.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fabric::channel::CloseReason;
use fabric::cm::{Cm, CmConfig, CmError, CmEvent, ConnId, Service};
use fabric::memory::Memory;
use fabric::nic::{MacAddr, Nic};
use fabric::time::Instant;
use fabric::transport::{Counters as HcaCounters, HcaConfig, WcStatus, WrKind};
use fabric::wire::Ipv4Address;

use super::target::{ChanId, Io, IoError, LoginLayout, LoginOutcome, Target};
use crate::netdev::NetDev;

/// RC connections per link (one login, plus a replaced one draining).
pub const QPS: usize = 4;
/// Send/receive slots per connection.
pub const DEPTH: usize = 64;
/// Largest message (receive slot): ib_srpt's srp_max_req_size.
pub const MSG: usize = 8276;
/// Credits granted: receive slots less two for IUs that need none.
pub const CREDITS: u32 = DEPTH as u32 - 2;
/// Stack for the thread that builds and runs links (an HCA is several MiB
/// and is built by value).
pub const STACK: usize = 256 << 20;

/// wr_id of SENDs (their completions are not passed on).
const SEND_WR: u64 = u64::MAX;

/// Host buffers the HCA moves RDMA data through.
#[derive(Default)]
pub struct StageMem {
    bufs: BTreeMap<u64, Vec<u8>>,
    next: u64,
}

impl StageMem {
    /// Stores `data` at a fresh address.
    pub fn alloc(&mut self, data: Vec<u8>) -> u64 {
        let addr = 0x10_0000 + self.next;
        self.next += (data.len() as u64).div_ceil(4096).max(1) * 4096 + 4096;
        self.bufs.insert(addr, data);
        addr
    }
    /// Takes the buffer at `addr` back.
    pub fn take(&mut self, addr: u64) -> Option<Vec<u8>> {
        self.bufs.remove(&addr)
    }
    /// Buffers held.
    pub fn len(&self) -> usize {
        self.bufs.len()
    }
    /// No buffers held.
    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }
    fn find(&self, addr: u64, len: usize) -> Option<(u64, usize)> {
        let (&base, b) = self.bufs.range(..=addr).next_back()?;
        let off = usize::try_from(addr - base).ok()?;
        (off.checked_add(len)? <= b.len()).then_some((base, off))
    }
}

impl Memory for StageMem {
    fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        match self.find(addr, out.len()) {
            Some((base, off)) => {
                out.copy_from_slice(&self.bufs[&base][off..off + out.len()]);
                true
            }
            None => out.is_empty(),
        }
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.find(addr, data.len()) {
            Some((base, off)) => {
                self.bufs.get_mut(&base).expect("found")[off..off + data.len()]
                    .copy_from_slice(data);
                true
            }
            None => data.is_empty(),
        }
    }
}

/// QEMU stream framing on one accepted TCP connection: every frame is
/// preceded by its length (4 bytes, big-endian).
pub struct TcpNic {
    sock: TcpStream,
    mac: MacAddr,
    max_frame: usize,
    rx: Vec<u8>,
    rx_at: usize,
    tx: Vec<u8>,
    frame: Vec<u8>,
    dead: bool,
}

/// Unsent bytes we keep before refusing frames.
const TX_BACKLOG: usize = 8 << 20;
/// Buffered output that triggers a write to the socket mid-turn.
const FLUSH_AT: usize = 16 * 1024;

impl TcpNic {
    /// Wraps an accepted connection.
    ///
    /// # Errors
    /// Socket options failed.
    pub fn new(sock: TcpStream, mac: MacAddr, max_frame: usize) -> io::Result<TcpNic> {
        sock.set_nonblocking(true)?;
        sock.set_nodelay(true)?;
        Ok(TcpNic {
            sock,
            mac,
            max_frame,
            rx: Vec::with_capacity(1 << 16),
            rx_at: 0,
            tx: Vec::new(),
            frame: Vec::new(),
            dead: false,
        })
    }
    /// The peer closed the connection (or it failed).
    pub fn dead(&self) -> bool {
        self.dead
    }
    /// Writes what the socket takes.
    pub fn flush(&mut self) {
        while !self.tx.is_empty() && !self.dead {
            match self.sock.write(&self.tx) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    self.tx.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.dead = true,
            }
        }
    }
    /// Bytes waiting to be written.
    pub fn backlog(&self) -> usize {
        self.tx.len()
    }
    fn fill(&mut self) {
        if self.rx_at > 0 && self.rx_at == self.rx.len() {
            self.rx.clear();
            self.rx_at = 0;
        }
        let mut buf = [0u8; 65536];
        loop {
            match self.sock.read(&mut buf) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    if self.rx_at > 0 {
                        self.rx.drain(..self.rx_at);
                        self.rx_at = 0;
                    }
                    self.rx.extend_from_slice(&buf[..n]);
                    if self.rx.len() > 1 << 20 {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
    }
    fn next_frame(&mut self) -> Option<(usize, usize)> {
        let avail = &self.rx[self.rx_at..];
        if avail.len() < 4 {
            return None;
        }
        let len = u32::from_be_bytes(avail[..4].try_into().ok()?) as usize;
        if len > 1 << 16 {
            // Not QEMU framing: drop the connection.
            self.dead = true;
            return None;
        }
        if avail.len() < 4 + len {
            return None;
        }
        let start = self.rx_at + 4;
        self.rx_at += 4 + len;
        Some((start, len))
    }
}

impl Nic for TcpNic {
    fn mac(&self) -> MacAddr {
        self.mac
    }
    fn max_frame(&self) -> usize {
        self.max_frame
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if self.rx.len() - self.rx_at < 4 + self.max_frame {
            self.fill();
        }
        let (start, len) = self.next_frame()?;
        Some(f(&self.rx[start..start + len]))
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if len > self.max_frame || self.dead {
            return None;
        }
        if self.tx.len() > TX_BACKLOG {
            self.flush();
            if self.tx.len() > TX_BACKLOG {
                return None;
            }
        }
        self.frame.clear();
        self.frame.resize(len, 0);
        let r = f(&mut self.frame);
        self.tx.extend_from_slice(&(len as u32).to_be_bytes());
        self.tx.extend_from_slice(&self.frame);
        // Hand the socket a few frames at a time: the initiator starts on
        // the first frames of a read while we produce the rest. Measured with
        // the ROM (`cargo xtask bench`, seq vs virtio-blk in the same run):
        // flush at 64 KiB 0.72-0.80x, every frame 0.66-0.74x (a syscall per
        // frame), 8 KiB 0.85-1.03x, 16 KiB 0.92-0.94x.
        if self.tx.len() > FLUSH_AT {
            self.flush();
        }
        Some(r)
    }
    fn link_up(&self) -> bool {
        !self.dead
    }
}

/// A network device that can say when to look again.
pub trait LinkNic: Nic {
    /// File descriptors to poll(2) for input.
    fn fds(&self) -> Vec<RawFd>;
    /// Housekeeping each loop turn (flush output).
    fn service(&mut self) {}
    /// The link is gone for good.
    fn gone(&self) -> bool {
        false
    }
    /// Output is waiting for the socket to take it.
    fn tx_pending(&self) -> bool {
        false
    }
}

impl LinkNic for TcpNic {
    fn fds(&self) -> Vec<RawFd> {
        vec![self.sock.as_raw_fd()]
    }
    fn service(&mut self) {
        self.flush();
    }
    fn gone(&self) -> bool {
        self.dead
    }
    fn tx_pending(&self) -> bool {
        !self.tx.is_empty()
    }
}

/// A [`NetDev`] (dgram or AF_PACKET) as a link.
pub struct DevNic {
    /// The device.
    pub dev: NetDev,
}

impl Nic for DevNic {
    fn mac(&self) -> MacAddr {
        self.dev.mac()
    }
    fn max_frame(&self) -> usize {
        self.dev.max_frame()
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.dev.receive(f)
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        self.dev.transmit(len, f)
    }
}

impl LinkNic for DevNic {
    fn fds(&self) -> Vec<RawFd> {
        Vec::new()
    }
}

type LinkCm<N> = Cm<N, StageMem, QPS, DEPTH, MSG>;

/// An event copied out of the CM.
enum Ev {
    Request {
        conn: ConnId,
        peer: Ipv4Address,
        service: Service,
        pd: Vec<u8>,
    },
    Other,
    Message(ConnId, Vec<u8>),
    Completion(ConnId, fabric::transport::Completion),
    Closed(ConnId, CloseReason),
}

/// One Ethernet segment: an HCA with a CM and the channels on it.
pub struct Link<N: LinkNic> {
    /// Name in log lines.
    pub name: String,
    cm: Box<LinkCm<N>>,
    conns: HashMap<ConnId, ChanId>,
    wrs: HashMap<(ConnId, u64), u64>,
}

struct CmIo<'a, N: LinkNic> {
    cm: &'a mut LinkCm<N>,
    conn: ConnId,
    wrs: &'a mut HashMap<(ConnId, u64), u64>,
    now: Instant,
}

fn io_err(e: CmError) -> IoError {
    match e {
        CmError::Busy => IoError::Busy,
        _ => IoError::Dead,
    }
}

impl<N: LinkNic> Io for CmIo<'_, N> {
    fn room(&self) -> usize {
        self.cm.send_window(self.conn)
    }
    fn send(&mut self, iu: &[u8]) -> Result<(), IoError> {
        self.cm.send(self.conn, SEND_WR, iu).map_err(io_err)
    }
    fn rdma_write(&mut self, wr_id: u64, data: &[u8], va: u64, rkey: u32) -> Result<(), IoError> {
        let addr = self.cm.hca_mut().memory_mut().alloc(data.to_vec());
        match self
            .cm
            .rdma_write(self.conn, wr_id, addr, va, rkey, data.len() as u32)
        {
            Ok(()) => {
                self.wrs.insert((self.conn, wr_id), addr);
                Ok(())
            }
            Err(e) => {
                self.cm.hca_mut().memory_mut().take(addr);
                Err(io_err(e))
            }
        }
    }
    fn rdma_read(&mut self, wr_id: u64, va: u64, rkey: u32, len: u32) -> Result<(), IoError> {
        let addr = self
            .cm
            .hca_mut()
            .memory_mut()
            .alloc(vec![0u8; len as usize]);
        match self.cm.rdma_read(self.conn, wr_id, addr, va, rkey, len) {
            Ok(()) => {
                self.wrs.insert((self.conn, wr_id), addr);
                Ok(())
            }
            Err(e) => {
                self.cm.hca_mut().memory_mut().take(addr);
                Err(io_err(e))
            }
        }
    }
    fn disconnect(&mut self) {
        self.cm.disconnect(self.now, self.conn);
    }
}

/// Identity of the target on every link.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Our MAC.
    pub mac: MacAddr,
    /// Our IPv4 address.
    pub ip: Ipv4Address,
    /// Prefix length.
    pub prefix: u8,
    /// rdma_cm port (logins in the 56-byte rdma_cm layout).
    pub port: u16,
    /// Plain IB CM service IDs (ib_srpt on InfiniBand listens on
    /// `srpt_service_guid`): logins in the classic 64-byte layout.
    pub service_ids: Vec<u64>,
    /// Largest Ethernet frame on `--listen` links (IP MTU + 14).
    pub max_frame: usize,
}

impl<N: LinkNic> Link<N> {
    /// A link on `nic`.
    pub fn new(name: String, nic: N, net: &NetConfig, seed: u64) -> Link<N> {
        let mut h = HcaConfig::new(net.ip, seed);
        let mask = if net.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(net.prefix.min(32)))
        };
        h.netmask = Ipv4Address(mask.to_be_bytes());
        let c = CmConfig {
            initiator_depth: 4,
            responder_resources: 4,
            ..CmConfig::default()
        };
        let mut cm = Box::new(Cm::new(nic, StageMem::default(), h, c));
        let _ = cm.listen(net.port);
        for &id in &net.service_ids {
            if cm.listen_service_id(id).is_err() {
                eprintln!("srp-target: too many service IDs, not listening on 0x{id:016x}");
            }
        }
        Link {
            name,
            cm,
            conns: HashMap::new(),
            wrs: HashMap::new(),
        }
    }

    /// The NIC.
    pub fn nic(&self) -> &N {
        self.cm.hca().nic()
    }

    /// HCA counters.
    pub fn hca_counters(&self) -> HcaCounters {
        *self.cm.hca().counters()
    }

    /// Channels on this link.
    pub fn channels(&self) -> Vec<ChanId> {
        self.conns.values().copied().collect()
    }

    /// Disconnects the connection of `ch`, if it is here (DREQ).
    pub fn disconnect(&mut self, now: Instant, ch: ChanId) -> bool {
        let Some((&conn, _)) = self.conns.iter().find(|(_, &c)| c == ch) else {
            return false;
        };
        self.conns.remove(&conn);
        self.cm.disconnect(now, conn);
        true
    }

    /// When the CM has timed work next.
    pub fn poll_at(&self) -> Option<Instant> {
        self.cm.poll_at()
    }

    /// Runs the link at `now`; returns channels to disconnect elsewhere
    /// (replaced by a login on this link).
    pub fn poll(&mut self, now: Instant, target: &mut Target) -> Vec<ChanId> {
        let mut elsewhere = Vec::new();
        self.cm.hca_mut().nic_mut().service();
        for _ in 0..4096 {
            let ev = self.cm.poll(now, |e| match e {
                CmEvent::ConnectRequest {
                    conn,
                    peer,
                    service,
                    private_data,
                } => Ev::Request {
                    conn,
                    peer,
                    service,
                    pd: private_data.to_vec(),
                },
                CmEvent::Established { .. } | CmEvent::Rejected { .. } => Ev::Other,
                CmEvent::Message { conn, data } => Ev::Message(conn, data.to_vec()),
                CmEvent::Completion { conn, completion } => Ev::Completion(conn, completion),
                CmEvent::Closed { conn, reason } => Ev::Closed(conn, reason),
            });
            let Some(ev) = ev else { break };
            self.handle(now, ev, target, &mut elsewhere);
        }
        self.cm.hca_mut().nic_mut().service();
        elsewhere
    }

    fn io(&mut self, conn: ConnId, now: Instant) -> CmIo<'_, N> {
        CmIo {
            cm: &mut self.cm,
            conn,
            wrs: &mut self.wrs,
            now,
        }
    }

    fn handle(&mut self, now: Instant, ev: Ev, target: &mut Target, elsewhere: &mut Vec<ChanId>) {
        match ev {
            Ev::Request {
                conn,
                peer,
                service,
                pd,
            } => {
                // rdma_cm carries the 56-byte login after its header; plain
                // IB CM the classic 64 bytes at offset 0 (ib_srp without
                // rdma_cm, iPXE).
                let (who, layout) = match service {
                    Service::RdmaCm(_) => (format!("{peer} ({})", self.name), LoginLayout::RdmaCm),
                    Service::Ib(id) => (
                        format!("{peer} ({}, IB CM service ID 0x{id:016x})", self.name),
                        LoginLayout::Classic,
                    ),
                };
                match target.login(&who, &pd, layout) {
                    LoginOutcome::Accepted {
                        chan,
                        rsp,
                        terminated,
                    } => {
                        for old in terminated {
                            if !self.disconnect(now, old) {
                                elsewhere.push(old);
                            }
                        }
                        match self.cm.accept(now, conn, &rsp) {
                            Ok(()) => {
                                self.conns.insert(conn, chan);
                            }
                            Err(e) => target.close(chan, &format!("CM accept failed: {e:?}")),
                        }
                    }
                    LoginOutcome::Rejected { rej, .. } => {
                        let _ = self.cm.reject(conn, 28, &rej);
                    }
                }
            }
            Ev::Other => {}
            Ev::Message(conn, data) => {
                if let Some(&ch) = self.conns.get(&conn) {
                    let mut io = self.io(conn, now);
                    target.on_message(ch, &data, &mut io);
                }
            }
            Ev::Completion(conn, c) => {
                if c.wr_id == SEND_WR {
                    if let Some(&ch) = self.conns.get(&conn) {
                        let mut io = self.io(conn, now);
                        target.flush(ch, &mut io);
                    }
                    return;
                }
                let addr = self.wrs.remove(&(conn, c.wr_id));
                let data = addr.and_then(|a| self.cm.hca_mut().memory_mut().take(a));
                if let Some(&ch) = self.conns.get(&conn) {
                    let ok = c.status == WcStatus::Success;
                    let read = (c.kind == WrKind::Read)
                        .then_some(data.as_deref())
                        .flatten();
                    let mut io = self.io(conn, now);
                    target.on_completion(ch, c.wr_id, ok, read, &mut io);
                }
            }
            Ev::Closed(conn, reason) => {
                let stale: Vec<(ConnId, u64)> = self
                    .wrs
                    .keys()
                    .filter(|(c, _)| *c == conn)
                    .copied()
                    .collect();
                for k in stale {
                    if let Some(a) = self.wrs.remove(&k) {
                        self.cm.hca_mut().memory_mut().take(a);
                    }
                }
                if let Some(ch) = self.conns.remove(&conn) {
                    let why = match reason {
                        CloseReason::Remote => "initiator disconnected (DREQ)".to_string(),
                        CloseReason::Local => "disconnected by the target".to_string(),
                        CloseReason::TransportError => {
                            "transport error (retries exhausted)".to_string()
                        }
                        r => format!("{r:?}"),
                    };
                    target.close(ch, &why);
                }
            }
        }
    }

    /// Closes every channel (link lost or shutting down).
    pub fn close_all(&mut self, target: &mut Target, why: &str) {
        for (_, ch) in self.conns.drain() {
            target.close(ch, why);
        }
    }
}

/// How the target is reached.
pub enum Transport {
    /// QEMU stream framing: a listener, one link per connection.
    Listen(TcpListener),
    /// One link on a dgram socket or an interface.
    Single(DevNic, String),
}

/// Flags the loop watches (set from signal handlers or tests).
#[derive(Debug, Clone, Copy)]
pub struct Control {
    /// Stop (SIGINT/SIGTERM or a test).
    pub stop: &'static AtomicBool,
    /// Print counters (SIGUSR1).
    pub dump: &'static AtomicBool,
}

impl Control {
    /// Fresh flags (leaked: one per server).
    pub fn new() -> Control {
        Control {
            stop: Box::leak(Box::new(AtomicBool::new(false))),
            dump: Box::leak(Box::new(AtomicBool::new(false))),
        }
    }
}

impl Default for Control {
    fn default() -> Self {
        Control::new()
    }
}

/// The server: transport, links, target.
pub struct Server {
    /// The target.
    pub target: Target,
    net: NetConfig,
    transport: Option<TcpListener>,
    tcp_links: Vec<Link<TcpNic>>,
    dev_link: Option<Link<DevNic>>,
    start: std::time::Instant,
    seed: u64,
    links_opened: u64,
    /// Where status lines go.
    pub log: Box<dyn FnMut(&str) + Send>,
}

impl Server {
    /// A server for `target` on `transport`.
    pub fn new(target: Target, net: NetConfig, transport: Transport) -> Server {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        let mut s = Server {
            target,
            net,
            transport: None,
            tcp_links: Vec::new(),
            dev_link: None,
            start: std::time::Instant::now(),
            seed,
            links_opened: 0,
            log: Box::new(|s| println!("{s}")),
        };
        match transport {
            Transport::Listen(l) => {
                let _ = l.set_nonblocking(true);
                s.transport = Some(l);
            }
            Transport::Single(nic, name) => {
                let seed = s.next_seed();
                s.dev_link = Some(Link::new(name, nic, &s.net, seed));
            }
        }
        s
    }

    fn next_seed(&mut self) -> u64 {
        self.links_opened += 1;
        self.seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(self.links_opened)
    }

    /// Time since start, as the fabric counts it.
    pub fn now(&self) -> Instant {
        Instant(self.start.elapsed().as_micros() as u64)
    }

    /// Links connected now.
    pub fn links(&self) -> usize {
        self.tcp_links.len() + usize::from(self.dev_link.is_some())
    }

    /// The listening address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.transport.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Counters of the target and the HCAs, as lines.
    pub fn counters(&self) -> String {
        let mut s = format!("counters: {}\n", self.target.counters().summary());
        let mut each = |name: &str, c: HcaCounters| {
            s.push_str(&format!(
                "  link {name}: rx {} frames, ARP replies {}, drops short/not-ours/not-roce/unknown-qp/malformed {}/{}/{}/{}/{}, retransmits {}, RNR NAKs sent {}, access NAKs {}\n",
                c.rx_frames,
                c.arp_replies,
                c.drop_short,
                c.drop_not_ours,
                c.drop_not_roce,
                c.drop_unknown_qp,
                c.drop_malformed,
                c.req_retransmitted,
                c.resp_rnr,
                c.resp_access_nak
            ));
        };
        for l in &self.tcp_links {
            each(&l.name, l.hca_counters());
        }
        if let Some(l) = &self.dev_link {
            each(&l.name, l.hca_counters());
        }
        s
    }

    /// One turn: accept, poll every link, drop lost links. Returns when to
    /// come back at the latest.
    pub fn turn(&mut self) -> Duration {
        let now = self.now();
        let mut accepted = Vec::new();
        if let Some(l) = &self.transport {
            loop {
                match l.accept() {
                    Ok(x) => accepted.push(Ok(x)),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => {
                        accepted.push(Err(e));
                        break;
                    }
                }
            }
        }
        for a in accepted {
            match a {
                Ok((sock, peer)) => match TcpNic::new(sock, self.net.mac, self.net.max_frame) {
                    Ok(nic) => {
                        let seed = self.next_seed();
                        let name = format!("tcp {peer}");
                        (self.log)(&format!("link up: {name}"));
                        self.tcp_links.push(Link::new(name, nic, &self.net, seed));
                    }
                    Err(e) => (self.log)(&format!("cannot use connection from {peer}: {e}")),
                },
                Err(e) => (self.log)(&format!("accept failed: {e}")),
            }
        }
        let mut elsewhere = Vec::new();
        for l in self.tcp_links.iter_mut() {
            elsewhere.extend(l.poll(now, &mut self.target));
        }
        if let Some(l) = self.dev_link.as_mut() {
            elsewhere.extend(l.poll(now, &mut self.target));
        }
        for ch in elsewhere {
            for l in self.tcp_links.iter_mut() {
                l.disconnect(now, ch);
            }
            if let Some(l) = self.dev_link.as_mut() {
                l.disconnect(now, ch);
            }
        }
        let target = &mut self.target;
        let log = &mut self.log;
        self.tcp_links.retain_mut(|l| {
            if l.nic().gone() {
                l.close_all(target, "link lost");
                let c = l.hca_counters();
                // The loss counters say whether the path dropped frames
                // (tools/tests/sanboot.rs reads them).
                log(&format!(
                    "link down: {}: rx {} frames, retransmits {}, out-of-sequence {}",
                    l.name, c.rx_frames, c.req_retransmitted, c.resp_out_of_seq
                ));
                false
            } else {
                true
            }
        });
        // When next.
        let mut at: Option<Instant> = None;
        let mut busy = false;
        for l in &self.tcp_links {
            at = min_at(at, l.poll_at());
            busy |= l.nic().tx_pending();
        }
        if let Some(l) = &self.dev_link {
            at = min_at(at, l.poll_at());
        }
        let now = self.now();
        let mut wait = match at {
            Some(t) if t <= now => Duration::ZERO,
            Some(t) => Duration::from_micros(t.0 - now.0),
            None => Duration::from_millis(200),
        };
        if busy {
            wait = wait.min(Duration::from_millis(1));
        }
        wait.min(Duration::from_millis(200))
    }

    /// Sleeps until input may be there or `timeout` passed.
    pub fn wait(&self, timeout: Duration) {
        if timeout.is_zero() {
            return;
        }
        if let Some(l) = &self.dev_link {
            // The only link: its device knows how to wait.
            l.nic().dev.wait(timeout.min(Duration::from_millis(50)));
            return;
        }
        let mut fds: Vec<(RawFd, libc::c_short)> = Vec::new();
        if let Some(l) = &self.transport {
            fds.push((l.as_raw_fd(), libc::POLLIN));
        }
        for l in &self.tcp_links {
            // Output the socket did not take yet: wake as soon as it can,
            // not at the timeout (QEMU stops reading while the guest's
            // receive ring is full, so this is routine under load).
            let events = if l.nic().tx_pending() {
                libc::POLLIN | libc::POLLOUT
            } else {
                libc::POLLIN
            };
            fds.extend(l.nic().fds().into_iter().map(|fd| (fd, events)));
        }
        let mut p: Vec<libc::pollfd> = fds
            .iter()
            .map(|&(fd, events)| libc::pollfd {
                fd,
                events,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().clamp(1, 1000) as i32;
        // SAFETY: `p` is a valid array of its length for the whole call.
        unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
    }

    /// Runs until `ctl.stop`; prints counters on `ctl.dump` and at the end.
    pub fn run(&mut self, ctl: &Control) {
        while !ctl.stop.load(Ordering::Relaxed) {
            let t = self.turn();
            if ctl.dump.swap(false, Ordering::Relaxed) {
                let c = self.counters();
                (self.log)(c.trim_end());
            }
            self.wait(t);
        }
        self.shutdown();
    }

    /// Closes every channel and syncs the LUNs.
    pub fn shutdown(&mut self) {
        let now = self.now();
        for l in self.tcp_links.iter_mut() {
            for ch in l.channels() {
                l.disconnect(now, ch);
            }
            let _ = l.poll(now, &mut self.target);
            l.close_all(&mut self.target, "target shutting down");
        }
        if let Some(l) = self.dev_link.as_mut() {
            for ch in l.channels() {
                l.disconnect(now, ch);
            }
            let _ = l.poll(now, &mut self.target);
            l.close_all(&mut self.target, "target shutting down");
        }
        let c = self.counters();
        (self.log)(c.trim_end());
    }
}

fn min_at(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
