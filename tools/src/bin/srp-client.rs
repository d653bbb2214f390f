//! srp-client: log in to an SRP target over RoCEv2 from a host, with
//! fabric's own soft HCA, CM and SRP initiator on a QEMU socket segment, a
//! QEMU dgram segment or a raw interface.
//!
//! ```text
//! srp-client --connect HOST:PORT --ip A.B.C.D/N --target srp://IP[:PORT][/LUN][?guid=0x…] [--mac M] <cmd>
//!   info                                   login, INQUIRY, capacity, LUNs
//!   read [--lba N] [--count N] --out FILE  (whole LUN by default; FILE may be -)
//!   write --lba N --in FILE                (whole blocks; FILE may be -)
//!   bench [--seq-mib N] [--rand-size B] [--seconds S]
//! ```
//! Other network devices: `--dgram LOCAL,REMOTE` (QEMU `-netdev dgram`),
//! `--iface IF` (AF_PACKET on a real interface or TAP), `--listen
//! HOST:PORT` (wait for a QEMU that connects). Errors name the step that
//! failed (ARP, CM REJ reason, SRP login reject reason, SCSI sense).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use fabric::uri::SrpUri;
use fabric::wire::Ipv4Address;
use tools::netdev::parse_mac;
use tools::romtool::args::Args;
use tools::srp_host::{read_input, Client, ClientConfig, ClientError};

const USAGE: &str = "usage: srp-client (--connect HOST:PORT | --listen HOST:PORT | --dgram LOCAL,REMOTE | --iface IF)
                  --ip A.B.C.D/N --target srp://IP[:PORT][/LUN][?guid=0x<16 hex>]
                  [--mac MAC] [--gateway A.B.C.D] [--max-xfer BYTES] [--timeout SECS]
                  [--no-immediate] [-v|--verbose] <command>
commands:
  info                                  login, INQUIRY, capacity, LUNs, then logout
  read [--lba N] [--count N] --out FILE  read blocks (default: the whole LUN) to FILE (- = stdout)
  write --lba N --in FILE               write FILE (whole blocks; - = stdin) at LBA N
  bench [--seq-mib N] [--rand-size BYTES] [--seconds S]
                                        sequential and random read rates";

const VALUED: &[&str] = &[
    "connect",
    "listen",
    "dgram",
    "iface",
    "ip",
    "target",
    "mac",
    "gateway",
    "max-xfer",
    "timeout",
    "lba",
    "count",
    "out",
    "in",
    "seq-mib",
    "rand-size",
    "seconds",
];
const FLAGS: &[&str] = &["no-immediate", "verbose", "help"];

fn parse_ip(s: &str) -> Option<Ipv4Address> {
    let mut o = [0u8; 4];
    let mut it = s.split('.');
    for b in o.iter_mut() {
        *b = it.next()?.parse().ok()?;
    }
    it.next().is_none().then_some(Ipv4Address(o))
}

fn num(a: &Args, name: &str) -> Result<Option<u64>, String> {
    a.value(name)
        .map(|v| {
            let r = match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => v.parse(),
            };
            r.map_err(|_| format!("--{name}: not a number: {v}"))
        })
        .transpose()
}

fn config(a: &Args) -> Result<ClientConfig, String> {
    let netdev = match (
        a.value("connect"),
        a.value("listen"),
        a.value("dgram"),
        a.value("iface"),
    ) {
        (Some(c), None, None, None) => format!("connect:{c}"),
        (None, Some(l), None, None) => format!("listen:{l}"),
        (None, None, Some(d), None) => format!("dgram:{d}"),
        (None, None, None, Some(i)) => format!("packet:{i}"),
        (None, None, None, None) => {
            return Err("one of --connect, --listen, --dgram or --iface is required".into())
        }
        _ => return Err("give only one of --connect, --listen, --dgram, --iface".into()),
    };
    let ipn = a.required("ip")?;
    let (ip, prefix) = ipn.split_once('/').unwrap_or((ipn, "24"));
    let ip = parse_ip(ip).ok_or(format!("--ip: bad address {ipn}"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or(format!("--ip: bad prefix length in {ipn}"))?;
    let uri = SrpUri::parse(a.required("target")?).map_err(|e| format!("--target: {e}"))?;
    let mut c = ClientConfig::new(&netdev, ip, prefix, uri);
    if let Some(m) = a.value("mac") {
        c.mac = Some(parse_mac(m).ok_or(format!("--mac: bad MAC {m}"))?);
    }
    if let Some(g) = a.value("gateway") {
        c.gateway = Some(parse_ip(g).ok_or(format!("--gateway: bad address {g}"))?);
    }
    if let Some(x) = num(a, "max-xfer")? {
        c.max_transfer = u32::try_from(x).map_err(|_| "--max-xfer too large".to_string())?;
    }
    if let Some(t) = num(a, "timeout")? {
        c.timeout = Duration::from_secs(t);
    }
    c.immediate = !a.flag("no-immediate");
    c.verbose = a.flag("verbose");
    Ok(c)
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// Appends a line to the report printed after logout (so a closed stdout
/// cannot interrupt the session).
macro_rules! out {
    ($r:expr, $($t:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($r, $($t)*);
    }};
}

fn run(a: &Args, cmd: &str) -> Result<String, ClientError> {
    let mut report = String::new();
    let cfg = config(a).map_err(ClientError::Usage)?;
    // Validate the command's own options before touching the network.
    match cmd {
        "info" | "bench" => {}
        "read" => {
            a.required("out").map_err(ClientError::Usage)?;
        }
        "write" => {
            a.required("in").map_err(ClientError::Usage)?;
            a.required("lba").map_err(ClientError::Usage)?;
        }
        other => {
            return Err(ClientError::Usage(format!(
                "unknown command {other:?}\n{USAGE}"
            )))
        }
    }
    let mut c = Client::connect(cfg)?;
    let info = c.info();
    match cmd {
        "info" => {
            let i = &info.inquiry;
            let l = &info.login;
            out!(report, "target MAC       {}", c.target_mac());
            out!(report, "SRP login        credits {}, max_it_iu_len {}, max_ti_iu_len {}, immediate data {} bytes, multi-channel {:?}",
                l.initial_credits, l.max_it_iu_len, l.max_ti_iu_len, l.max_immediate, l.multi_channel);
            out!(
                report,
                "INQUIRY          {} {} {} (type {}, SPC version {})",
                i.vendor_str(),
                i.product_str(),
                i.revision_str(),
                i.device_type,
                i.version
            );
            out!(
                report,
                "capacity         {} blocks of {} bytes = {} bytes ({:.1} MiB)",
                info.blocks,
                info.block_len,
                info.capacity(),
                mib(info.capacity() as f64)
            );
            out!(
                report,
                "max transfer     {} blocks per command (target limit {})",
                info.max_transfer_blocks,
                if info.target_max_transfer_blocks == 0 {
                    "none".to_string()
                } else {
                    info.target_max_transfer_blocks.to_string()
                }
            );
            let luns = c.report_luns()?;
            let list: Vec<String> = luns.iter().map(|l| l.to_string()).collect();
            out!(report, "LUNs             {}", list.join(" "));
        }
        "read" => {
            let lba = num(a, "lba").map_err(ClientError::Usage)?.unwrap_or(0);
            let count = num(a, "count")
                .map_err(ClientError::Usage)?
                .unwrap_or(info.blocks.saturating_sub(lba));
            let path = a.value("out").unwrap();
            let t = std::time::Instant::now();
            let n = if path == "-" {
                let stdout = std::io::stdout();
                let mut w = std::io::BufWriter::new(stdout.lock());
                let n = c.read_to(lba, count, &mut w)?;
                w.flush().map_err(ClientError::File)?;
                n
            } else {
                let mut f = std::fs::File::create(path).map_err(ClientError::File)?;
                c.read_to(lba, count, &mut f)?
            };
            let s = t.elapsed().as_secs_f64();
            eprintln!(
                "read {n} bytes (LBA {lba}+{count}) in {s:.2} s, {:.1} MiB/s",
                mib(n as f64) / s
            );
        }
        "write" => {
            let lba = num(a, "lba").map_err(ClientError::Usage)?.unwrap();
            let data = read_input(a.value("in").unwrap()).map_err(ClientError::File)?;
            let t = std::time::Instant::now();
            c.write_from(lba, &data)?;
            eprintln!(
                "wrote {} bytes at LBA {lba} in {:.2} s",
                data.len(),
                t.elapsed().as_secs_f64()
            );
        }
        "bench" => {
            let seq = num(a, "seq-mib").map_err(ClientError::Usage)?.unwrap_or(64) << 20;
            let size = num(a, "rand-size")
                .map_err(ClientError::Usage)?
                .unwrap_or(4096) as u32;
            let secs = num(a, "seconds").map_err(ClientError::Usage)?.unwrap_or(5);
            let r = c.bench(seq, size, Duration::from_secs(secs))?;
            out!(
                report,
                "sequential read  {:.1} MiB/s ({:.1} MiB, {} blocks per command)",
                mib(r.seq_bytes_per_s),
                mib(r.seq_bytes as f64),
                info.max_transfer_blocks
            );
            out!(
                report,
                "random read      {:.0} IOPS of {} bytes ({:.1} MiB/s, {} reads)",
                r.rand_iops,
                r.rand_size,
                mib(r.rand_iops * f64::from(r.rand_size)),
                r.rand_ops
            );
            let k = c.hca_counters();
            eprintln!("HCA counters: {k:?}");
        }
        _ => unreachable!(),
    }
    c.logout()?;
    Ok(report)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| if a == "-v" { "--verbose".into() } else { a })
        .collect();
    let a = match Args::parse(&argv, VALUED, FLAGS) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("srp-client: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if a.flag("help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let cmd = match a.positional.as_slice() {
        [c] => c.clone(),
        [] => {
            eprintln!("srp-client: missing command\n{USAGE}");
            return ExitCode::from(2);
        }
        more => {
            eprintln!("srp-client: one command expected, got {more:?}");
            return ExitCode::from(2);
        }
    };
    // The soft HCA's fixed tables are large: give the work a roomy stack.
    let worker = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            run(&a, &cmd).map_err(|e| (matches!(e, ClientError::Usage(_)), e.to_string()))
        });
    match worker
        .expect("spawn")
        .join()
        .expect("srp-client worker panicked")
    {
        Ok(report) => {
            // A closed stdout (e.g. `| head`) is not an error of ours.
            let _ = std::io::stdout().write_all(report.as_bytes());
            ExitCode::SUCCESS
        }
        Err((usage, e)) => {
            eprintln!("srp-client: {e}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
