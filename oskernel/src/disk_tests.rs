//! BootDisk against the real srp-target (in-process, on a thread) over a
//! QEMU-framed TCP link: the same target code the end-to-end handoff test
//! runs as a process, without QEMU.

use crate::disk::{BootDisk, DiskConfig, DiskError, DiskState, Identity};
use crate::handoff::{find, BootTarget};
use crate::handoff_tests::rom_table;
use fabric::time::{Duration, Instant};
use fabric::wire::sbft::Packet;
use fabric::wire::scsi::Lun;
use fabric::wire::Ipv4Address;
use std::path::PathBuf;
use tools::netdev::StreamNic;
use tools::srp_host::{HostMem, MEM_BASE};
use tools::srptarget::inprocess::InProcess;

const BLOCKS: u64 = 4096;
/// Room for a jumbo frame: the table says path MTU 4096 and srp-target's
/// QEMU links carry 9000-byte IP packets.
const JUMBO: usize = 9014;
/// Memory layout: scratch first, then the I/O buffer.
const SCRATCH: u64 = MEM_BASE;
const BUF: u64 = MEM_BASE + 4096;

fn pattern(lba: u64) -> Vec<u8> {
    (0..512u64).map(|i| (lba * 7 + i * 13) as u8).collect()
}

fn disk_image(name: &str) -> PathBuf {
    let d = tools::qemu::target_dir().join("oskernel-tests");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(format!("{name}.img"));
    let img: Vec<u8> = (0..BLOCKS).flat_map(pattern).collect();
    std::fs::write(&p, img).unwrap();
    p
}

/// The target the ROM's table names, LUN 0 (srp-target's only LUN here).
fn boot_target() -> BootTarget {
    let mut repr = rom_table(true);
    repr.lun = Lun::ZERO;
    let mut mem = vec![0u8; 512];
    repr.emit(&mut Packet::new_unchecked(&mut mem[..repr.buffer_len()]));
    find(&mem).unwrap().1
}

fn clock() -> impl FnMut() -> Instant {
    let t0 = std::time::Instant::now();
    move || {
        // Spinning shares two cores with the target thread: let it run.
        std::thread::yield_now();
        Instant(t0.elapsed().as_micros() as u64)
    }
}

/// Runs `f` on a thread with room for the HCA's fixed-size state.
fn big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn disk(
    port: u16,
    t: &BootTarget,
    expect: Option<Identity>,
) -> Result<(BootDisk<StreamNic, HostMem>, HostMem), DiskError> {
    let mut nic = StreamNic::connect(("127.0.0.1", port), t.initiator_mac.0).unwrap();
    nic.set_max_frame(JUMBO);
    let mem = HostMem::new(1 << 20);
    let cfg = DiskConfig {
        seed: 0x05_0b00_7000 ^ u64::from(port),
        scratch_addr: SCRATCH,
        expect,
    };
    Ok((BootDisk::new(t, nic, mem.clone(), cfg)?, mem))
}

#[test]
fn reads_and_writes_as_the_roms_initiator() {
    let img = disk_image("rw");
    let t = boot_target();
    // Only the ROM's initiator port ID may log in: proves we present it.
    let acl = format!("0x{}", t.initiator_port_id);
    let srv = InProcess::serve(&["--disk", img.to_str().unwrap(), "--allow", &acl]);
    let port = srv.port;
    big_stack(move || {
        let (mut d, mem) = disk(port, &t, None).unwrap();
        let mut clock = clock();
        d.wait_ready(&mut clock, Duration::from_secs(20)).unwrap();
        assert_eq!((d.blocks(), d.block_len()), (BLOCKS, 512));
        assert_eq!(d.path_mtu(), 4096);
        assert_ne!(d.channel().hca().qpn(0), t.rom_qpn);

        // 64 blocks from 100: more than one command, all in flight at once.
        let now = clock();
        d.start_read(now, 100, 64, BUF).unwrap();
        assert_eq!(d.start_read(now, 0, 1, BUF), Err(DiskError::Busy));
        d.complete(&mut clock, Duration::from_secs(10)).unwrap();
        let want: Vec<u8> = (100..164).flat_map(pattern).collect();
        mem.with(BUF, want.len(), |b| assert_eq!(b, &want[..]));

        // Write one block, read it back into another buffer.
        mem.with(BUF, 512, |b| b.fill(0x5A));
        d.start_write(clock(), 7, 1, BUF).unwrap();
        d.complete(&mut clock, Duration::from_secs(10)).unwrap();
        d.start_read(clock(), 7, 1, BUF + 0x1_0000).unwrap();
        d.complete(&mut clock, Duration::from_secs(10)).unwrap();
        mem.with(BUF + 0x1_0000, 512, |b| {
            assert!(b.iter().all(|&x| x == 0x5A))
        });

        // Past the end: a SCSI error, and the disk stays usable.
        d.start_read(clock(), BLOCKS - 1, 2, BUF).unwrap();
        assert!(matches!(
            d.complete(&mut clock, Duration::from_secs(10)),
            Err(DiskError::Io(_))
        ));
        assert_eq!(d.state(), DiskState::Ready);
    });
    srv.wait_for("login: channel", 1);
    let img_now = std::fs::read(&img).unwrap();
    assert!(img_now[7 * 512..8 * 512].iter().all(|&x| x == 0x5A));
    srv.stop();
}

#[test]
fn another_lun_size_is_not_the_boot_disk() {
    let img = disk_image("identity");
    let t = boot_target();
    let srv = InProcess::serve(&["--disk", img.to_str().unwrap()]);
    let port = srv.port;
    let e = big_stack(move || {
        let expect = Identity {
            blocks: BLOCKS + 1,
            block_len: 512,
        };
        let (mut d, _) = disk(port, &t, Some(expect)).unwrap();
        d.wait_ready(&mut clock(), Duration::from_secs(20))
    });
    assert_eq!(
        e,
        Err(DiskError::IdentityChanged {
            expected: Identity {
                blocks: BLOCKS + 1,
                block_len: 512
            },
            found: Identity {
                blocks: BLOCKS,
                block_len: 512
            },
        })
    );
    srv.stop();
}

#[test]
fn wrong_nic_and_silent_target_are_named() {
    let img = disk_image("silent");
    let srv = InProcess::serve(&["--disk", img.to_str().unwrap()]);
    let port = srv.port;
    big_stack(move || {
        let t = boot_target();
        let nic = StreamNic::connect(("127.0.0.1", port), [2, 0, 0, 0, 0, 9]).unwrap();
        let cfg = DiskConfig {
            seed: 1,
            scratch_addr: SCRATCH,
            expect: None,
        };
        assert!(matches!(
            BootDisk::new(&t, nic, HostMem::new(4096), cfg),
            Err(DiskError::WrongNic)
        ));
        // Nobody has this address: ARP gives up after ARP_WAIT (the clock
        // runs 50 ms per read, so this takes no real time).
        let mut t2 = t;
        t2.target_ip = Ipv4Address::new(192, 168, 77, 99);
        let (mut d, _) = disk(port, &t2, None).unwrap();
        let mut now = 0;
        let mut fast = move || {
            now += 50_000;
            Instant(now)
        };
        assert_eq!(
            d.wait_ready(&mut fast, Duration::from_secs(20)),
            Err(DiskError::ArpTimeout)
        );
    });
    srv.stop();
}
