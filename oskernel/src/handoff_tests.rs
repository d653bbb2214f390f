//! The table as the ROM writes it (fabric's `SbftRepr::emit`), placed in a
//! low-memory window, and each way it can be missing or broken.

use crate::handoff::{find, TableError};
use fabric::uri::{eui64_from_mac, initiator_port_id};
use fabric::wire::sbft::{IbSubtable, Packet, RoceSubtable, SbftRepr};
use fabric::wire::scsi::Lun;
use fabric::wire::srp::PortId;
use fabric::wire::{EthernetAddress, Ipv4Address};

const MAC_I: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x77, 0, 2]);
const MAC_T: EthernetAddress = EthernetAddress([0x52, 0x54, 0, 0x77, 0, 1]);
/// Where the table sits in the test window (16-byte aligned, not at 0).
const AT: usize = 0x1_2340;

/// What the ROM publishes after a login to srp://192.168.77.1/3 at 4096.
pub fn rom_table(roce: bool) -> SbftRepr {
    let ip_i = Ipv4Address::new(192, 168, 77, 2);
    let ip_t = Ipv4Address::new(192, 168, 77, 1);
    let guid = eui64_from_mac(MAC_T);
    SbftRepr {
        revision: 1,
        oem_id: *b"SRPBT ",
        oem_table_id: *b"SRPBOOT ",
        oem_revision: 1,
        creator_id: *b"SRPB",
        creator_revision: 1,
        lun: Lun::from_index(3).unwrap(),
        initiator_port_id: initiator_port_id(0, MAC_I),
        target_port_id: PortId::new(guid, guid),
        ib: Some(IbSubtable::for_roce(ip_i, ip_t, 5000)),
        roce: roce.then_some(RoceSubtable {
            version: 2,
            flags: 0,
            initiator_mac: MAC_I,
            target_mac: MAC_T,
            initiator_ip: ip_i,
            target_ip: ip_t,
            rdma_cm_port: 5000,
            path_mtu: 5,
            initiator_guid: eui64_from_mac(MAC_I),
            target_guid: guid,
            qpn_hint: 0x12_3456,
            prefix_len: 24,
            gateway: Some(Ipv4Address([192, 168, 77, 254])),
        }),
    }
}

/// A 128 KiB window (0x80000-0xA0000) with `repr` at `at`.
fn window_with(repr: &SbftRepr, at: usize) -> Vec<u8> {
    let mut mem = vec![0xA5u8; 0x2_0000];
    let len = repr.buffer_len();
    repr.emit(&mut Packet::new_unchecked(&mut mem[at..at + len]));
    mem
}

/// Rewrites the checksum after a deliberate edit, so only the edit is wrong.
fn fix_checksum(mem: &mut [u8], at: usize) {
    let len = u32::from_le_bytes(mem[at + 4..at + 8].try_into().unwrap()) as usize;
    Packet::new_unchecked(&mut mem[at..at + len]).fill_checksum();
}

#[test]
fn good_table_becomes_the_boot_target() {
    let mem = window_with(&rom_table(true), AT);
    let (at, t) = find(&mem).unwrap();
    assert_eq!(at, AT);
    assert_eq!(t.initiator_port_id, initiator_port_id(0, MAC_I));
    assert_eq!(
        format!("{}", t.initiator_port_id),
        "0000000000000000505400fffe770002"
    );
    assert_eq!(
        t.target_port_id,
        PortId::new(0x5054_00ff_fe77_0001, 0x5054_00ff_fe77_0001)
    );
    assert_eq!(t.lun.index(), Some(3));
    assert_eq!((t.initiator_mac, t.target_mac), (MAC_I, MAC_T));
    assert_eq!(t.initiator_ip, Ipv4Address::new(192, 168, 77, 2));
    assert_eq!(t.target_ip, Ipv4Address::new(192, 168, 77, 1));
    assert_eq!(t.rdma_cm_port, 5000);
    assert_eq!(t.target_guid, 0x5054_00ff_fe77_0001);
    assert_eq!(t.path_mtu, 4096);
    assert_eq!(t.rom_qpn, 0x12_3456);
    // Version 2: the route to a target behind a router.
    assert_eq!(t.prefix_len, 24);
    assert_eq!(t.gateway, Some(Ipv4Address::new(192, 168, 77, 254)));
}

#[test]
fn empty_memory_has_no_table() {
    assert_eq!(find(&[0u8; 4096]), Err(TableError::NotFound));
    assert_eq!(find(&[]), Err(TableError::NotFound));
    // A signature off the 16-byte grid is not a table.
    let mut mem = vec![0u8; 4096];
    mem[0x108..0x10c].copy_from_slice(b"sBFT");
    assert_eq!(find(&mem), Err(TableError::NotFound));
}

#[test]
fn broken_checksum_is_named() {
    let mut mem = window_with(&rom_table(true), AT);
    mem[AT + 9] = mem[AT + 9].wrapping_add(1);
    assert_eq!(find(&mem), Err(TableError::BadChecksum { at: AT }));
    // A torn table (a byte of the RoCE subtable overwritten) too.
    let mut mem = window_with(&rom_table(true), AT);
    mem[AT + 150] ^= 0x40;
    assert_eq!(find(&mem), Err(TableError::BadChecksum { at: AT }));
}

#[test]
fn truncated_table_is_named() {
    let repr = rom_table(true);
    // The window ends inside the table.
    let mem = window_with(&repr, AT);
    let cut = &mem[..AT + repr.buffer_len() - 1];
    assert_eq!(find(cut), Err(TableError::Truncated { at: AT }));
    // The window ends inside the header.
    assert_eq!(find(&mem[..AT + 20]), Err(TableError::Truncated { at: AT }));
    // A length shorter than the header.
    let mut mem = window_with(&repr, AT);
    mem[AT + 4..AT + 8].copy_from_slice(&40u32.to_le_bytes());
    assert_eq!(find(&mem), Err(TableError::Truncated { at: AT }));
    // A huge length.
    let mut mem = window_with(&repr, AT);
    mem[AT + 4..AT + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(find(&mem), Err(TableError::Truncated { at: AT }));
}

#[test]
fn subtables_outside_the_table_are_named() {
    // RoCE offset past the end, checksum made right again.
    let mut mem = window_with(&rom_table(true), AT);
    mem[AT + 42..AT + 44].copy_from_slice(&500u16.to_le_bytes());
    fix_checksum(&mut mem, AT);
    assert_eq!(find(&mem), Err(TableError::BadLayout { at: AT }));
    // SRP subtable overlapping the SCSI one.
    let mut mem = window_with(&rom_table(true), AT);
    mem[AT + 38..AT + 40].copy_from_slice(&52u16.to_le_bytes());
    fix_checksum(&mut mem, AT);
    assert_eq!(find(&mem), Err(TableError::BadLayout { at: AT }));
    // No SRP subtable.
    let mut mem = window_with(&rom_table(true), AT);
    mem[AT + 38..AT + 40].copy_from_slice(&0u16.to_le_bytes());
    fix_checksum(&mut mem, AT);
    assert_eq!(find(&mem), Err(TableError::BadLayout { at: AT }));
    // RoCE subtable claiming fewer than 48 bytes.
    let mut mem = window_with(&rom_table(true), AT);
    let roce = AT + 136;
    mem[roce..roce + 2].copy_from_slice(&20u16.to_le_bytes());
    fix_checksum(&mut mem, AT);
    assert_eq!(find(&mem), Err(TableError::BadLayout { at: AT }));
}

#[test]
fn ipxe_style_table_without_roce_is_named() {
    let mem = window_with(&rom_table(false), AT);
    assert_eq!(find(&mem), Err(TableError::NoRoce { at: AT }));
}

#[test]
fn unusable_roce_fields_are_named() {
    let mut repr = rom_table(true);
    repr.roce.as_mut().unwrap().path_mtu = 9;
    let mem = window_with(&repr, AT);
    assert_eq!(
        find(&mem),
        Err(TableError::Unusable {
            at: AT,
            field: "path MTU"
        })
    );
    let mut repr = rom_table(true);
    repr.roce.as_mut().unwrap().rdma_cm_port = 0;
    assert!(matches!(
        find(&window_with(&repr, AT)),
        Err(TableError::Unusable { .. })
    ));
}

#[test]
fn roce_table_wins_over_an_earlier_ib_only_one() {
    let mut mem = window_with(&rom_table(false), 0x100);
    let good = rom_table(true);
    good.emit(&mut Packet::new_unchecked(
        &mut mem[AT..AT + good.buffer_len()],
    ));
    assert_eq!(find(&mem).unwrap().0, AT);
}

#[test]
fn a_refused_candidate_reports_the_furthest_check() {
    // A stray signature (garbage after it) before a table with a bad
    // checksum: the checksum is what the caller needs to hear.
    let mut mem = window_with(&rom_table(true), AT);
    mem[0x40..0x44].copy_from_slice(b"sBFT");
    mem[AT + 9] ^= 1;
    assert_eq!(find(&mem), Err(TableError::BadChecksum { at: AT }));
}

#[test]
fn errors_read_as_one_line() {
    let e = TableError::BadChecksum { at: 0x1_f430 };
    assert_eq!(e.to_string(), "sBFT at +0x1f430: bad checksum");
}
