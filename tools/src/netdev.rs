//! Host network devices for the tools: [`fabric::nic::Nic`] over
//!
//! - **QEMU stream framing** ([`StreamNic`]): TCP, every Ethernet frame
//!   preceded by its length as a 4-byte big-endian number — what QEMU's
//!   `-netdev socket,listen=|connect=` and `-netdev stream,…` speak. As a
//!   client (`connect`) it joins a QEMU that listens; as a server
//!   ([`StreamNic::listen`]) it accepts any number of peers and forwards each
//!   frame to the peer that owns the destination MAC (learnt from the frames
//!   it sent), or to all of them.
//! - **QEMU datagram framing** ([`DgramNic`]): one Ethernet frame per UDP
//!   datagram, `-netdev dgram,local.…,remote.…`.
//! - **AF_PACKET** ([`PacketNic`]): raw frames on a real interface or a TAP,
//!   in promiscuous mode (our MAC is usually not the interface's).
//!
//! [`NetDev`] is any of the three, chosen from a command-line spec
//! ([`NetDev::open`]). Receiving never blocks; [`NetDev::wait`] sleeps until
//! a frame may be there or the timeout passes, so a blocking loop does not
//! spin.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use fabric::nic::{MacAddr, Nic};

/// Largest frame on a 1500-byte MTU link (Ethernet header included).
pub const DEFAULT_MAX_FRAME: usize = 1514;

/// Bytes of unsent stream data we keep per peer before refusing frames.
const TX_BACKLOG: usize = 4 << 20;

/// Frames queued after reading, before [`Nic::receive`] takes them.
const RX_QUEUE: usize = 4096;

// ---------------------------------------------------------------------------
// Stream (QEMU socket/stream netdev)
// ---------------------------------------------------------------------------

/// One TCP peer with its reassembly and send backlog.
struct Peer {
    sock: TcpStream,
    rx: Vec<u8>,
    tx: Vec<u8>,
    /// MACs seen as source in frames from this peer (learning).
    macs: Vec<MacAddr>,
    dead: bool,
}

impl Peer {
    fn new(sock: TcpStream) -> io::Result<Peer> {
        sock.set_nonblocking(true)?;
        sock.set_nodelay(true)?;
        Ok(Peer {
            sock,
            rx: Vec::with_capacity(64 * 1024),
            tx: Vec::new(),
            macs: Vec::new(),
            dead: false,
        })
    }

    /// Writes as much backlog as the socket takes.
    fn flush(&mut self) {
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

    /// Reads what is there and moves whole frames to `out`.
    fn pump(&mut self, out: &mut VecDeque<(usize, Vec<u8>)>, me: usize) {
        let mut buf = [0u8; 65536];
        loop {
            if out.len() >= RX_QUEUE {
                break;
            }
            match self.sock.read(&mut buf) {
                Ok(0) => {
                    self.dead = true;
                    break;
                }
                Ok(n) => self.rx.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
            self.split(out, me);
        }
        self.split(out, me);
    }

    fn split(&mut self, out: &mut VecDeque<(usize, Vec<u8>)>, me: usize) {
        let mut at = 0;
        while self.rx.len() - at >= 4 {
            let len = u32::from_be_bytes(self.rx[at..at + 4].try_into().unwrap()) as usize;
            if self.rx.len() - at - 4 < len {
                break;
            }
            let frame = self.rx[at + 4..at + 4 + len].to_vec();
            if frame.len() >= 12 {
                let src: MacAddr = frame[6..12].try_into().unwrap();
                if src[0] & 1 == 0 && !self.macs.contains(&src) {
                    self.macs.push(src);
                }
            }
            out.push_back((me, frame));
            at += 4 + len;
        }
        self.rx.drain(..at);
    }

    fn queue(&mut self, frame: &[u8]) -> bool {
        if self.tx.len() > TX_BACKLOG {
            self.flush();
            if self.tx.len() > TX_BACKLOG {
                return false;
            }
        }
        self.tx
            .extend_from_slice(&(frame.len() as u32).to_be_bytes());
        self.tx.extend_from_slice(frame);
        self.flush();
        true
    }
}

/// QEMU stream framing over TCP, as a client of one peer or a server of
/// many.
pub struct StreamNic {
    mac: MacAddr,
    max_frame: usize,
    listener: Option<TcpListener>,
    peers: Vec<Peer>,
    rx: VecDeque<(usize, Vec<u8>)>,
    txbuf: Vec<u8>,
}

impl StreamNic {
    /// Connects to a QEMU (or anything) listening at `addr`.
    ///
    /// # Errors
    /// When the connection fails.
    pub fn connect(addr: impl ToSocketAddrs, mac: MacAddr) -> io::Result<StreamNic> {
        let sock = TcpStream::connect(addr)?;
        Ok(StreamNic {
            mac,
            max_frame: DEFAULT_MAX_FRAME,
            listener: None,
            peers: vec![Peer::new(sock)?],
            rx: VecDeque::new(),
            txbuf: Vec::new(),
        })
    }

    /// Listens at `addr`; peers are accepted while polling.
    ///
    /// # Errors
    /// When binding fails.
    pub fn listen(addr: impl ToSocketAddrs, mac: MacAddr) -> io::Result<StreamNic> {
        let l = TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(StreamNic {
            mac,
            max_frame: DEFAULT_MAX_FRAME,
            listener: Some(l),
            peers: Vec::new(),
            rx: VecDeque::new(),
            txbuf: Vec::new(),
        })
    }

    /// The listening address (server mode).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Peers connected now.
    pub fn peers(&self) -> usize {
        self.peers.iter().filter(|p| !p.dead).count()
    }

    /// Sets the largest frame (default 1514).
    pub fn set_max_frame(&mut self, n: usize) {
        self.max_frame = n;
    }

    fn service(&mut self) {
        if let Some(l) = &self.listener {
            while let Ok((s, _)) = l.accept() {
                if let Ok(p) = Peer::new(s) {
                    self.peers.push(p);
                }
            }
        }
        for (i, p) in self.peers.iter_mut().enumerate() {
            p.flush();
            p.pump(&mut self.rx, i);
        }
        // Forget dead peers only when nothing of theirs is queued (indices).
        if self.rx.is_empty() && self.peers.iter().any(|p| p.dead) && self.listener.is_some() {
            self.peers.retain(|p| !p.dead);
        }
    }

    fn fds(&self) -> Vec<RawFd> {
        let mut v: Vec<RawFd> = self
            .peers
            .iter()
            .filter(|p| !p.dead)
            .map(|p| p.sock.as_raw_fd())
            .collect();
        if let Some(l) = &self.listener {
            v.push(l.as_raw_fd());
        }
        v
    }

    /// Whether the (only) peer went away (client mode).
    pub fn disconnected(&self) -> bool {
        self.listener.is_none() && self.peers.iter().all(|p| p.dead)
    }
}

impl Nic for StreamNic {
    fn mac(&self) -> MacAddr {
        self.mac
    }
    fn max_frame(&self) -> usize {
        self.max_frame
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if self.rx.is_empty() {
            self.service();
        }
        let (_, frame) = self.rx.pop_front()?;
        Some(f(&frame))
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if len > self.max_frame || self.peers.is_empty() {
            return None;
        }
        let mut buf = std::mem::take(&mut self.txbuf);
        buf.clear();
        buf.resize(len, 0);
        let r = f(&mut buf);
        let dst: MacAddr = buf
            .get(..6)
            .and_then(|d| d.try_into().ok())
            .unwrap_or([0xff; 6]);
        let owner = self
            .peers
            .iter()
            .position(|p| !p.dead && p.macs.contains(&dst));
        let ok = match owner {
            Some(i) => self.peers[i].queue(&buf),
            None => {
                let mut any = false;
                for p in self.peers.iter_mut().filter(|p| !p.dead) {
                    any |= p.queue(&buf);
                }
                any
            }
        };
        self.txbuf = buf;
        ok.then_some(r)
    }
    fn link_up(&self) -> bool {
        !self.disconnected()
    }
}

// ---------------------------------------------------------------------------
// Datagram (QEMU dgram netdev)
// ---------------------------------------------------------------------------

/// One Ethernet frame per UDP datagram, to and from a fixed remote.
pub struct DgramNic {
    mac: MacAddr,
    max_frame: usize,
    sock: UdpSocket,
    remote: SocketAddr,
    buf: Vec<u8>,
}

impl DgramNic {
    /// Binds `local` and exchanges frames with `remote`.
    ///
    /// # Errors
    /// When binding or resolving fails.
    pub fn open(
        local: impl ToSocketAddrs,
        remote: impl ToSocketAddrs,
        mac: MacAddr,
    ) -> io::Result<DgramNic> {
        let sock = UdpSocket::bind(local)?;
        sock.set_nonblocking(true)?;
        let remote = remote
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no remote address"))?;
        Ok(DgramNic {
            mac,
            max_frame: DEFAULT_MAX_FRAME,
            sock,
            remote,
            buf: vec![0; 65536],
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Sets the largest frame (default 1514).
    pub fn set_max_frame(&mut self, n: usize) {
        self.max_frame = n;
    }
}

impl Nic for DgramNic {
    fn mac(&self) -> MacAddr {
        self.mac
    }
    fn max_frame(&self) -> usize {
        self.max_frame
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        loop {
            match self.sock.recv_from(&mut self.buf) {
                Ok((n, _)) => return Some(f(&self.buf[..n])),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // WouldBlock, or an ICMP port unreachable from a peer not
                // up yet: nothing to receive.
                Err(_) => return None,
            }
        }
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if len > self.max_frame {
            return None;
        }
        let mut b = vec![0u8; len];
        let r = f(&mut b);
        match self.sock.send_to(&b, self.remote) {
            Ok(_) => Some(r),
            Err(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------
// AF_PACKET
// ---------------------------------------------------------------------------

/// Raw Ethernet frames on an interface (real NIC or TAP), promiscuous.
/// Needs CAP_NET_RAW.
pub struct PacketNic {
    fd: RawFd,
    mac: MacAddr,
    ifindex: i32,
    max_frame: usize,
    buf: Vec<u8>,
}

fn last_os_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl PacketNic {
    /// Sets the largest frame (default 1514; the interface's MTU + 14).
    pub fn set_max_frame(&mut self, n: usize) {
        self.max_frame = n;
    }

    /// Opens interface `ifname`. `mac` is ours on the wire; `None` takes the
    /// interface's own.
    ///
    /// # Errors
    /// No such interface, no permission (CAP_NET_RAW), or a failing ioctl.
    pub fn open(ifname: &str, mac: Option<MacAddr>) -> io::Result<PacketNic> {
        let name = std::ffi::CString::new(ifname)
            .map_err(|_| io::Error::new(ErrorKind::InvalidInput, "bad interface name"))?;
        // SAFETY: a C string we own; the call only reads it.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
        if ifindex == 0 {
            return Err(last_os_error(&format!("interface {ifname}")));
        }
        let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
        // SAFETY: plain socket(2) call.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                proto,
            )
        };
        if fd < 0 {
            return Err(last_os_error("socket(AF_PACKET) (needs CAP_NET_RAW)"));
        }
        let mut nic = PacketNic {
            fd,
            mac: [0; 6],
            ifindex,
            max_frame: DEFAULT_MAX_FRAME,
            buf: vec![0; 65536],
        };
        // SAFETY: zeroed sockaddr_ll is a valid value; we fill the fields
        // bind(2) reads and pass its true size.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: fd is ours; sll lives across the call with its size.
        let r = unsafe {
            libc::bind(
                fd,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r < 0 {
            return Err(last_os_error("bind(AF_PACKET)"));
        }
        // SAFETY: zeroed packet_mreq is valid; setsockopt reads its size.
        let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mr.mr_ifindex = ifindex;
        mr.mr_type = libc::PACKET_MR_PROMISC as u16;
        // SAFETY: fd is ours; mr lives across the call with its size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_ADD_MEMBERSHIP,
                &mr as *const libc::packet_mreq as *const libc::c_void,
                std::mem::size_of::<libc::packet_mreq>() as u32,
            )
        };
        if r < 0 {
            return Err(last_os_error("PACKET_ADD_MEMBERSHIP promisc"));
        }
        let mac = match mac {
            Some(m) => m,
            None => interface_mac(ifname)?,
        };
        nic.mac = mac;
        Ok(nic)
    }
}

/// The hardware address of `ifname` (from sysfs).
pub fn interface_mac(ifname: &str) -> io::Result<MacAddr> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address"))?;
    parse_mac(s.trim()).ok_or_else(|| io::Error::new(ErrorKind::InvalidData, "bad MAC in sysfs"))
}

impl Drop for PacketNic {
    fn drop(&mut self) {
        // SAFETY: we own fd and close it once.
        unsafe { libc::close(self.fd) };
    }
}

impl Nic for PacketNic {
    fn mac(&self) -> MacAddr {
        self.mac
    }
    fn max_frame(&self) -> usize {
        self.max_frame
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        loop {
            // SAFETY: zeroed sockaddr_ll is valid; recvfrom writes at most
            // `len` bytes into buf and at most `alen` into sll.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut alen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            let n = unsafe {
                libc::recvfrom(
                    self.fd,
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    0,
                    &mut sll as *mut libc::sockaddr_ll as *mut libc::sockaddr,
                    &mut alen,
                )
            };
            if n < 0 {
                if io::Error::last_os_error().kind() == ErrorKind::Interrupted {
                    continue;
                }
                return None;
            }
            // Our own transmissions come back as PACKET_OUTGOING: skip them.
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            return Some(f(&self.buf[..n as usize]));
        }
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        if len > self.max_frame {
            return None;
        }
        let mut b = vec![0u8; len];
        let r = f(&mut b);
        // SAFETY: zeroed sockaddr_ll is valid; sendto reads `len` bytes of b
        // and the address with its size.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        let n = len.min(6);
        sll.sll_addr[..n].copy_from_slice(&b[..n]);
        let n = unsafe {
            libc::sendto(
                self.fd,
                b.as_ptr() as *const libc::c_void,
                len,
                0,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        (n == len as isize).then_some(r)
    }
}

// ---------------------------------------------------------------------------
// Any of them
// ---------------------------------------------------------------------------

/// A host network device chosen at run time.
pub enum NetDev {
    /// QEMU stream framing over TCP.
    Stream(StreamNic),
    /// QEMU datagram framing over UDP.
    Dgram(DgramNic),
    /// AF_PACKET on an interface.
    Packet(PacketNic),
}

impl NetDev {
    /// Opens a device from a spec:
    /// - `connect:HOST:PORT` (or a bare `HOST:PORT`): stream client;
    /// - `listen:HOST:PORT`: stream server;
    /// - `dgram:LOCALHOST:LPORT,REMOTEHOST:RPORT`: datagrams;
    /// - `packet:IFNAME`: AF_PACKET (`mac` `None` = the interface's).
    ///
    /// # Errors
    /// A malformed spec or a failing socket call, with the spec named.
    pub fn open(spec: &str, mac: Option<MacAddr>) -> io::Result<NetDev> {
        let ctx = |e: io::Error| io::Error::new(e.kind(), format!("{spec}: {e}"));
        let bad = || io::Error::new(ErrorKind::InvalidInput, format!("bad netdev spec {spec:?}"));
        let default_mac = mac.unwrap_or_else(default_mac);
        if let Some(rest) = spec.strip_prefix("listen:") {
            return StreamNic::listen(rest, default_mac)
                .map(NetDev::Stream)
                .map_err(ctx);
        }
        if let Some(rest) = spec.strip_prefix("dgram:") {
            let (l, r) = rest.split_once(',').ok_or_else(bad)?;
            return DgramNic::open(l, r, default_mac)
                .map(NetDev::Dgram)
                .map_err(ctx);
        }
        if let Some(rest) = spec.strip_prefix("packet:") {
            return PacketNic::open(rest, mac).map(NetDev::Packet).map_err(ctx);
        }
        let rest = spec.strip_prefix("connect:").unwrap_or(spec);
        StreamNic::connect(rest, default_mac)
            .map(NetDev::Stream)
            .map_err(ctx)
    }

    fn fds(&self) -> Vec<RawFd> {
        match self {
            NetDev::Stream(s) => s.fds(),
            NetDev::Dgram(d) => vec![d.sock.as_raw_fd()],
            NetDev::Packet(p) => vec![p.fd],
        }
    }

    /// Sleeps until a frame may have arrived or `timeout` passed (poll(2)).
    pub fn wait(&self, timeout: Duration) {
        if let NetDev::Stream(s) = self {
            if !s.rx.is_empty() {
                return;
            }
        }
        let mut fds: Vec<libc::pollfd> = self
            .fds()
            .into_iter()
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: fds is a valid array of its length for the whole call.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    }

    /// Whether the peer is gone (stream client).
    pub fn disconnected(&self) -> bool {
        matches!(self, NetDev::Stream(s) if s.disconnected())
    }
}

impl Nic for NetDev {
    fn mac(&self) -> MacAddr {
        match self {
            NetDev::Stream(n) => n.mac(),
            NetDev::Dgram(n) => n.mac(),
            NetDev::Packet(n) => n.mac(),
        }
    }
    fn max_frame(&self) -> usize {
        match self {
            NetDev::Stream(n) => n.max_frame(),
            NetDev::Dgram(n) => n.max_frame(),
            NetDev::Packet(n) => n.max_frame(),
        }
    }
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match self {
            NetDev::Stream(n) => n.receive(f),
            NetDev::Dgram(n) => n.receive(f),
            NetDev::Packet(n) => n.receive(f),
        }
    }
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        match self {
            NetDev::Stream(n) => n.transmit(len, f),
            NetDev::Dgram(n) => n.transmit(len, f),
            NetDev::Packet(n) => n.transmit(len, f),
        }
    }
    fn link_up(&self) -> bool {
        !self.disconnected()
    }
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`).
pub fn parse_mac(s: &str) -> Option<MacAddr> {
    let mut m = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in m.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

/// A locally administered MAC derived from the process ID, for tools run
/// without `--mac`.
pub fn default_mac() -> MacAddr {
    let p = std::process::id().to_be_bytes();
    [0x52, 0x54, 0x00, p[1] ^ 0x5a, p[2], p[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst: MacAddr, src: MacAddr, n: u8) -> Vec<u8> {
        let mut f = vec![n; 60];
        f[..6].copy_from_slice(&dst);
        f[6..12].copy_from_slice(&src);
        f
    }

    fn recv(n: &mut impl Nic) -> Option<Vec<u8>> {
        for _ in 0..200 {
            if let Some(f) = n.receive(|f| f.to_vec()) {
                return Some(f);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    const A: MacAddr = [2, 0, 0, 0, 0, 0xA];
    const B: MacAddr = [2, 0, 0, 0, 0, 0xB];
    const C: MacAddr = [2, 0, 0, 0, 0, 0xC];

    fn send(n: &mut impl Nic, f: &[u8]) {
        assert!(n.transmit(f.len(), |b| b.copy_from_slice(f)).is_some());
    }

    #[test]
    fn stream_framing_client_server_and_learning() {
        let mut server = StreamNic::listen("127.0.0.1:0", A).unwrap();
        let addr = server.local_addr().unwrap();
        let mut b = StreamNic::connect(addr, B).unwrap();
        let mut c = StreamNic::connect(addr, C).unwrap();
        // Clients announce themselves; the server learns where B and C are.
        send(&mut b, &frame([0xff; 6], B, 1));
        send(&mut c, &frame([0xff; 6], C, 2));
        let mut got = vec![
            recv(&mut server).unwrap()[12],
            recv(&mut server).unwrap()[12],
        ];
        got.sort();
        assert_eq!(got, [1, 2]);
        assert_eq!(server.peers(), 2);
        // Unicast goes to its owner only; broadcast to both.
        send(&mut server, &frame(C, A, 3));
        assert_eq!(recv(&mut c).unwrap()[12], 3);
        send(&mut server, &frame([0xff; 6], A, 4));
        assert_eq!(recv(&mut b).unwrap()[12], 4);
        assert_eq!(recv(&mut c).unwrap()[12], 4);
        assert!(b.receive(|_| ()).is_none());
        // Frames split across TCP segments and several per segment.
        let raw = TcpStream::connect(addr).unwrap();
        let mut raw2 = raw.try_clone().unwrap();
        let f = frame(A, [2, 0, 0, 0, 0, 0xD], 5);
        let mut bytes = Vec::new();
        for _ in 0..3 {
            bytes.extend((f.len() as u32).to_be_bytes());
            bytes.extend(&f);
        }
        raw2.write_all(&bytes[..7]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        raw2.write_all(&bytes[7..]).unwrap();
        for _ in 0..3 {
            assert_eq!(recv(&mut server).unwrap(), f);
        }
        // Too large a frame is refused.
        assert!(server.transmit(2000, |_| ()).is_none());
        drop(b);
        std::thread::sleep(Duration::from_millis(20));
        server.receive(|_| ());
        assert_eq!(server.peers(), 2);
    }

    #[test]
    fn client_notices_disconnect() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = NetDev::open(&format!("connect:{}", l.local_addr().unwrap()), Some(B)).unwrap();
        let (s, _) = l.accept().unwrap();
        drop(s);
        for _ in 0..100 {
            c.receive(|_| ());
            if c.disconnected() {
                break;
            }
            c.wait(Duration::from_millis(10));
        }
        assert!(c.disconnected());
        assert!(!c.link_up());
    }

    #[test]
    fn dgram_one_frame_per_datagram() {
        let p = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut a = DgramNic::open("127.0.0.1:0", p.local_addr().unwrap(), A).unwrap();
        let a_addr = a.local_addr().unwrap();
        send(&mut a, &frame(B, A, 7));
        let mut buf = [0u8; 2000];
        let (n, from) = p.recv_from(&mut buf).unwrap();
        assert_eq!((n, from), (60, a_addr));
        assert_eq!(buf[12], 7);
        p.send_to(&frame(A, B, 8), a_addr).unwrap();
        assert_eq!(recv(&mut a).unwrap()[12], 8);
        assert!(a.receive(|_| ()).is_none());
        let mut d = NetDev::open(
            &format!("dgram:127.0.0.1:0,{}", p.local_addr().unwrap()),
            None,
        )
        .unwrap();
        d.wait(Duration::from_millis(1));
        assert!(d.receive(|_| ()).is_none());
    }

    #[test]
    fn packet_socket_on_loopback() {
        // Needs CAP_NET_RAW; skipped (passes) without it.
        let Ok(mut a) = PacketNic::open("lo", Some(A)) else {
            return;
        };
        let mut b = PacketNic::open("lo", Some(B)).unwrap();
        let mut f = frame(B, A, 9);
        f[12..14].copy_from_slice(&0x88B5u16.to_be_bytes()); // local experimental
        send(&mut a, &f);
        let mut got = None;
        for _ in 0..200 {
            if let Some(x) = b.receive(|x| x.to_vec()) {
                if x[6..12] == A && x[12..14] == [0x88, 0xB5] {
                    got = Some(x);
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(got.unwrap()[14], 9);
        assert_eq!(a.mac(), A);
    }

    #[test]
    fn specs_and_macs() {
        assert_eq!(
            parse_mac("52:54:00:77:00:0a"),
            Some([0x52, 0x54, 0, 0x77, 0, 0x0a])
        );
        assert_eq!(
            parse_mac("52-54-00-77-00-0A"),
            Some([0x52, 0x54, 0, 0x77, 0, 0x0a])
        );
        assert_eq!(parse_mac("52:54:00:77:00"), None);
        assert_eq!(parse_mac("52:54:00:77:00:0a:01"), None);
        assert!(NetDev::open("dgram:nonsense", None).is_err());
        let e = NetDev::open("packet:no-such-if0", None).err().unwrap();
        assert!(e.to_string().contains("no-such-if0"), "{e}");
        assert_eq!(default_mac()[0] & 1, 0);
    }
}
