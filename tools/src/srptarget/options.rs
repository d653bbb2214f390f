//! The `srp-target` command line, the startup summary and how the pieces
//! are opened from it (so tests run exactly what the binary runs).

use std::net::{TcpListener, ToSocketAddrs};
use std::path::PathBuf;

use fabric::nic::MacAddr;
use fabric::wire::srp::PortId;
use fabric::wire::{EthernetAddress, Ipv4Address};

use super::lun::{Lun, LunConfig};
use super::server::{DevNic, NetConfig, Server, Transport, CREDITS, MSG};
use super::target::{Target, TargetConfig};
use crate::netdev::{parse_mac, DgramNic, NetDev, PacketNic};

/// Usage text.
pub const USAGE: &str = "\
usage: srp-target --disk IMG [--disk IMG ...] [options]

Serves disk images as SRP LUNs over RoCEv2 (IB transport over UDP 4791),
with a software HCA: no kernel modules, no RDMA hardware.

transport (one of):
  --listen HOST:PORT   QEMU stream framing: VMs connect with
                       -netdev socket,connect=HOST:PORT (or -netdev stream);
                       each connection is its own link (default 127.0.0.1:17701)
  --dgram LOCAL,REMOTE QEMU -netdev dgram: one frame per UDP datagram
  --iface NAME         raw Ethernet on an interface or TAP (AF_PACKET, root)
  --mtu N              the link's IP MTU (576-9000). Default: 9000 for
                       --listen/--dgram (QEMU links carry any frame, so
                       RoCE path MTU 4096 works), the interface's MTU for
                       --iface. Initiators asking for a larger path MTU
                       than fits get a CM REJ (invalid MTU)

identity:
  --mac MAC            our MAC (default 52:54:00:77:00:01)
  --ip A.B.C.D/N       our IPv4 address (default 192.168.77.1/24)
  --guid 0xG           srpt_service_guid = both halves of the target port ID
                       (default: EUI-64 of the MAC)
  --port N             rdma_cm port (default 5000): logins in the 56-byte
                       rdma_cm layout (Linux ib_srp with dest=IP:PORT)
  --service-id 0xID    also answer plain IB CM REQs (no rdma_cm header) for
                       this service ID, with the classic 64-byte
                       SRP_LOGIN_REQ; repeat for up to 4. Default: the GUID,
                       as ib_srpt listens on srpt_service_guid on
                       InfiniBand. `--service-id off`: rdma_cm only

LUNs:
  --disk IMG           an image (repeat for LUN 1, 2, ...)
  --read-only          refuse writes
  --cow DIR            per-initiator copy-on-write overlays in DIR; the
                       images are never written
  --block-size 512|4096

access:
  --allow ID           admit this initiator port ID (0x + 32 hex digits, or
                       a 16-digit GUID for 0000000000000000<GUID>); repeat.
                       Default: everyone, with a warning
  --credits N          request limit granted at login (default 62, max 62)

output:
  -v, --verbose        one line per SCSI command
  -h, --help           this text

Counters are printed on SIGUSR1 and at exit (SIGINT/SIGTERM).";

/// Where the target listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// TCP, QEMU stream framing.
    Listen(String),
    /// UDP, QEMU dgram framing: local, remote.
    Dgram(String, String),
    /// AF_PACKET on an interface.
    Iface(String),
}

/// Parsed options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Transport.
    pub mode: Mode,
    /// Our MAC.
    pub mac: MacAddr,
    /// Our IPv4 address.
    pub ip: Ipv4Address,
    /// Prefix length.
    pub prefix: u8,
    /// Service GUID.
    pub guid: u64,
    /// rdma_cm port.
    pub port: u16,
    /// Plain IB CM service IDs (classic login layout).
    pub service_ids: Vec<u64>,
    /// Images.
    pub disks: Vec<PathBuf>,
    /// Read-only.
    pub read_only: bool,
    /// Overlay directory.
    pub cow: Option<PathBuf>,
    /// Block size.
    pub block_size: u32,
    /// ACL.
    pub allow: Option<Vec<PortId>>,
    /// Credits.
    pub credits: u32,
    /// Per-command traces.
    pub verbose: bool,
    /// `--mtu`: the link's IP MTU (None: the mode's default).
    pub mtu: Option<usize>,
}

/// IP MTU of QEMU's virtual links unless `--mtu` says otherwise.
pub const VIRTUAL_LINK_MTU: usize = 9000;
/// Ethernet header bytes a frame adds to the IP MTU (no FCS, no VLAN).
const ETH_HEADER: usize = 14;

/// Plain IB CM service IDs a link listens on (the CM's listen slots).
pub const MAX_SERVICE_IDS: usize = 4;

/// `--help` was asked for.
#[derive(Debug)]
pub struct Help;

fn parse_ip(s: &str) -> Option<(Ipv4Address, u8)> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, p.parse::<u8>().ok().filter(|&p| p <= 32)?),
        None => (s, 24),
    };
    let ip: std::net::Ipv4Addr = a.parse().ok()?;
    Some((Ipv4Address(ip.octets()), p))
}

fn parse_hex64(s: &str) -> Option<u64> {
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
        .replace(':', "");
    (h.len() <= 16 && !h.is_empty())
        .then(|| u64::from_str_radix(&h, 16).ok())
        .flatten()
}

/// Parses an initiator port ID: 32 hex digits (optionally `0x`), or a GUID.
pub fn parse_port_id(s: &str) -> Option<PortId> {
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
        .replace(':', "");
    if h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
        let hi = u64::from_str_radix(&h[..16], 16).ok()?;
        let lo = u64::from_str_radix(&h[16..], 16).ok()?;
        return Some(PortId::new(hi, lo));
    }
    parse_hex64(s).map(|g| PortId::new(0, g))
}

impl Options {
    /// Parses `args` (without the program name).
    ///
    /// # Errors
    /// `Err(Ok(Help))` for `--help`, `Err(Err(msg))` for a bad option.
    pub fn parse(args: &[String]) -> Result<Options, Result<Help, String>> {
        let mut o = Options {
            mode: Mode::Listen("127.0.0.1:17701".into()),
            mac: [0x52, 0x54, 0x00, 0x77, 0x00, 0x01],
            ip: Ipv4Address([192, 168, 77, 1]),
            prefix: 24,
            guid: 0,
            port: 5000,
            service_ids: Vec::new(),
            disks: Vec::new(),
            read_only: false,
            cow: None,
            block_size: 512,
            allow: None,
            credits: CREDITS,
            verbose: false,
            mtu: None,
        };
        let mut guid = None;
        let mut service_ids: Option<Vec<u64>> = None;
        let mut modes = 0;
        let mut it = args.iter();
        let err = |s: String| Err(Err(s));
        while let Some(a) = it.next() {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let mut val = |what: &str| -> Result<String, Result<Help, String>> {
                match inline.clone().or_else(|| it.next().cloned()) {
                    Some(v) => Ok(v),
                    None => Err(Err(format!("{name} needs {what}"))),
                }
            };
            match name {
                "-h" | "--help" => return Err(Ok(Help)),
                "-v" | "--verbose" => o.verbose = true,
                "--read-only" => o.read_only = true,
                "--disk" => o.disks.push(PathBuf::from(val("an image file")?)),
                "--listen" => {
                    o.mode = Mode::Listen(val("HOST:PORT")?);
                    modes += 1;
                }
                "--dgram" => {
                    let v = val("LOCAL,REMOTE")?;
                    let Some((l, r)) = v.split_once(',') else {
                        return err(format!(
                            "--dgram wants LOCALHOST:PORT,REMOTEHOST:PORT, not {v:?}"
                        ));
                    };
                    o.mode = Mode::Dgram(l.into(), r.into());
                    modes += 1;
                }
                "--iface" => {
                    o.mode = Mode::Iface(val("an interface name")?);
                    modes += 1;
                }
                "--mac" => {
                    let v = val("a MAC address")?;
                    o.mac = parse_mac(&v)
                        .ok_or_else(|| Err(format!("--mac: not a MAC address: {v:?}")))?;
                    if o.mac[0] & 1 != 0 {
                        return err(format!("--mac: {v} is a multicast address"));
                    }
                }
                "--ip" => {
                    let v = val("A.B.C.D/N")?;
                    (o.ip, o.prefix) = parse_ip(&v)
                        .ok_or_else(|| Err(format!("--ip: not an IPv4 address/prefix: {v:?}")))?;
                }
                "--guid" => {
                    let v = val("a GUID")?;
                    guid =
                        Some(parse_hex64(&v).ok_or_else(|| {
                            Err(format!("--guid: not a 64-bit hex number: {v:?}"))
                        })?);
                }
                "--port" => {
                    let v = val("a port number")?;
                    o.port = v.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| {
                        Err(format!("--port: not a port number (1-65535): {v:?}"))
                    })?;
                }
                "--service-id" => {
                    let v = val("a service ID (0x + hex) or off")?;
                    let ids = service_ids.get_or_insert_with(Vec::new);
                    if v == "off" || v == "none" {
                        ids.clear();
                        continue;
                    }
                    let id = parse_hex64(&v).filter(|&id| id != 0).ok_or_else(|| {
                        Err(format!(
                            "--service-id: not a nonzero 64-bit hex number or off: {v:?}"
                        ))
                    })?;
                    if let Some(p) = fabric::wire::cm::rdma_cm_port(id) {
                        return err(format!(
                            "--service-id 0x{id:x} is an rdma_cm service ID (port {p}); use --port"
                        ));
                    }
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                    if ids.len() > MAX_SERVICE_IDS {
                        return err(format!("--service-id: at most {MAX_SERVICE_IDS}"));
                    }
                }
                "--cow" => o.cow = Some(PathBuf::from(val("a directory")?)),
                "--block-size" => {
                    let v = val("512 or 4096")?;
                    o.block_size = match v.as_str() {
                        "512" => 512,
                        "4096" => 4096,
                        _ => return err(format!("--block-size: 512 or 4096, not {v:?}")),
                    };
                }
                "--allow" => {
                    let v = val("an initiator port ID")?;
                    let id = parse_port_id(&v).ok_or_else(|| {
                        Err(format!(
                            "--allow: not a port ID (0x + 32 hex digits) or GUID: {v:?}"
                        ))
                    })?;
                    o.allow.get_or_insert_with(Vec::new).push(id);
                }
                "--mtu" => {
                    let v = val("a number")?;
                    o.mtu = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|m| (576..=9000).contains(m))
                            .ok_or_else(|| Err(format!("--mtu: 576..=9000, not {v:?}")))?,
                    );
                }
                "--credits" => {
                    let v = val("a number")?;
                    o.credits = v
                        .parse::<u32>()
                        .ok()
                        .filter(|&c| (1..=CREDITS).contains(&c))
                        .ok_or_else(|| Err(format!("--credits: 1..={CREDITS}, not {v:?}")))?;
                }
                _ => return err(format!("unknown option {a:?} (see --help)")),
            }
        }
        if modes > 1 {
            return err("choose one of --listen, --dgram, --iface".into());
        }
        if o.disks.is_empty() {
            return err("no --disk given".into());
        }
        o.guid = guid.unwrap_or_else(|| u64::from_be_bytes(EthernetAddress(o.mac).eui64()));
        o.service_ids = service_ids.unwrap_or_else(|| vec![o.guid]);
        Ok(o)
    }

    /// Opens the LUNs.
    ///
    /// # Errors
    /// The first image that cannot be served, in words.
    pub fn open_luns(&self) -> Result<Vec<Lun>, String> {
        self.disks
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Lun::open(
                    LunConfig {
                        path: p.clone(),
                        read_only: self.read_only,
                        block_size: self.block_size,
                        cow_dir: self.cow.clone(),
                    },
                    i,
                )
                .map_err(|e| e.to_string())
            })
            .collect()
    }

    /// The target for these options.
    ///
    /// # Errors
    /// As [`Options::open_luns`].
    pub fn target(&self) -> Result<Target, String> {
        if let Some(d) = &self.cow {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create --cow directory {}: {e}", d.display()))?;
        }
        let mut cfg = TargetConfig::new(self.guid);
        cfg.credits = self.credits;
        cfg.max_it_iu_len = MSG as u32;
        cfg.acl = self.allow.clone();
        cfg.verbose = self.verbose;
        Ok(Target::new(cfg, self.open_luns()?))
    }

    /// The network identity.
    pub fn net(&self) -> NetConfig {
        NetConfig {
            mac: self.mac,
            ip: self.ip,
            prefix: self.prefix,
            port: self.port,
            service_ids: self.service_ids.clone(),
            max_frame: self.mtu.unwrap_or(VIRTUAL_LINK_MTU) + ETH_HEADER,
        }
    }

    /// Opens the transport.
    ///
    /// # Errors
    /// A busy port, a bad address, a missing interface or permission.
    pub fn transport(&self) -> Result<Transport, String> {
        match &self.mode {
            Mode::Listen(a) => {
                let addrs: Vec<_> = a
                    .to_socket_addrs()
                    .map_err(|e| format!("--listen {a}: {e}"))?
                    .collect();
                TcpListener::bind(&addrs[..]).map(Transport::Listen).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AddrInUse {
                        format!("--listen {a}: address already in use (another srp-target or QEMU is there; pick another port)")
                    } else {
                        format!("--listen {a}: {e}")
                    }
                })
            }
            Mode::Dgram(l, r) => {
                let mut n = DgramNic::open(l.as_str(), r.as_str(), self.mac).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AddrInUse {
                        format!("--dgram {l}: address already in use")
                    } else {
                        format!("--dgram {l},{r}: {e}")
                    }
                })?;
                n.set_max_frame(self.mtu.unwrap_or(VIRTUAL_LINK_MTU) + ETH_HEADER);
                Ok(Transport::Single(
                    DevNic {
                        dev: NetDev::Dgram(n),
                    },
                    format!("udp {l}<->{r}"),
                ))
            }
            Mode::Iface(i) => {
                let mut n =
                    PacketNic::open(i, Some(self.mac)).map_err(|e| format!("--iface {i}: {e}"))?;
                let mtu = self.mtu.or_else(|| iface_mtu(i)).unwrap_or(1500);
                n.set_max_frame(mtu + ETH_HEADER);
                Ok(Transport::Single(
                    DevNic {
                        dev: NetDev::Packet(n),
                    },
                    format!("iface {i}"),
                ))
            }
        }
    }

    /// The startup summary: identity, LUNs, how to connect.
    pub fn summary(&self, target: &Target, server: &Server) -> String {
        let m = self.mac;
        let mac = format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        );
        let ip = std::net::Ipv4Addr::from(self.ip.0);
        let g = self.guid;
        let mut s = format!(
            "srp-target {}: serving {} LUN(s)\n  MAC {mac}  IP {ip}/{}  GUID 0x{g:016x}\n  rdma_cm port {} (IB CM service ID 0x{:016x}); target port ID 0x{g:016x}{g:016x}\n",
            env!("CARGO_PKG_VERSION"),
            target.luns().len(),
            self.prefix,
            self.port,
            (0x0106u64 << 16) | u64::from(self.port),
        );
        if self.service_ids.is_empty() {
            s.push_str("  plain IB CM service IDs: none (--service-id off)\n");
        }
        for id in &self.service_ids {
            s.push_str(&format!(
                "  plain IB CM service ID 0x{id:016x} (classic 64-byte SRP_LOGIN_REQ, no rdma_cm header)\n"
            ));
        }
        s.push_str(&target.describe_luns());
        match &self.allow {
            None => s.push_str("  WARNING: no --allow given: any initiator may log in and write\n"),
            Some(a) => {
                for id in a {
                    s.push_str(&format!("  allowed initiator 0x{id}\n"));
                }
            }
        }
        s.push_str("how to connect:\n");
        match &self.mode {
            Mode::Listen(_) => {
                let a = server
                    .local_addr()
                    .map_or_else(|| "?".into(), |a| a.to_string());
                let (h, p) = a.rsplit_once(':').unwrap_or((&a, "?"));
                s.push_str(&format!(
                    "  QEMU: -netdev socket,id=n0,connect={a} -device virtio-net-pci,netdev=n0\n     or -netdev stream,id=n0,server=off,addr.type=inet,addr.host={h},addr.port={p}\n"
                ));
            }
            Mode::Dgram(l, r) => {
                let (lh, lp) = l.rsplit_once(':').unwrap_or((l, "?"));
                let (rh, rp) = r.rsplit_once(':').unwrap_or((r, "?"));
                s.push_str(&format!(
                    "  QEMU: -netdev dgram,id=n0,local.type=inet,local.host={rh},local.port={rp},remote.type=inet,remote.host={lh},remote.port={lp} -device virtio-net-pci,netdev=n0\n"
                ));
            }
            Mode::Iface(i) => s.push_str(&format!(
                "  on the Ethernet segment of {i}; initiators use a free address in {ip}/{}\n",
                self.prefix
            )),
        }
        s.push_str(&format!(
            "  Linux: echo id_ext=0x{g:016x},ioc_guid=0x{g:016x},dest={ip}:{} > /sys/class/infiniband_srp/srp-rxe0-1/add_target\n  boot ROM: srp://{ip}:{}/0?guid=0x{g:016x}",
            self.port, self.port
        ));
        s
    }
}

/// The interface's MTU as the kernel reports it.
fn iface_mtu(name: &str) -> Option<usize> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}
