//! `nic-selftest` feature: at BCV time, bring our NIC up with the fabric
//! driver for it, ARP for QEMU slirp's gateway and print one line, then
//! quiesce the device. Proves the drivers, the ROM HAL (port I/O, MMIO, PCI
//! config, DMA, clock) and the wire types on a real (emulated) device:
//!
//! ```text
//! srpboot: nic <model> <mac> link up; ARP 10.0.2.2 is-at <mac> after <n> ms
//! srpboot: nic quiesced
//! ```
//! or one line saying what failed. Test-only: never in the production ROM.

use crate::console;
use crate::nichal::{Clock, RomHal};
use fabric::nic::e1000::{self, E1000};
use fabric::nic::hal::Bdf;
use fabric::nic::virtio_net::{self, VirtioNet};
use fabric::nic::{pci, MacAddr, Nic};
use fabric::wire::arp::{Operation, PACKET_LEN as ARP_LEN};
use fabric::wire::eth::{EtherType, HEADER_LEN as ETH_LEN};
use fabric::wire::{ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetRepr, Ipv4Address};

/// slirp's default guest address and its gateway (which answers ARP).
const OUR_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
const GATEWAY_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const LINK_WAIT_US: u64 = 3_000_000;
const ARP_WAIT_US: u64 = 3_000_000;
const ARP_RETRY_US: u64 = 500_000;

/// Runs the self-test on PCI function `bdf`.
pub fn run(bdf: u16) {
    let hal = match RomHal::new() {
        Ok(h) => h,
        Err(why) => return fail(why),
    };
    let clock = hal.clock();
    let bdf = Bdf(bdf);
    let quiet = match pci::id(&hal, bdf) {
        Some((virtio_net::VENDOR, _)) => match VirtioNet::probe(hal, bdf) {
            Ok(mut nic) => {
                let model = nic.model();
                exercise(&mut nic, model, clock);
                nic.quiesce();
                nic.is_quiesced()
            }
            Err(e) => return fail(e.reason()),
        },
        Some(_) if e1000::matches(&hal, bdf) => match E1000::new(hal, bdf) {
            Ok(mut nic) => {
                exercise(&mut nic, "e1000", clock);
                nic.quiesce();
                nic.is_quiesced()
            }
            Err(e) => return fail(e.reason()),
        },
        Some((v, d)) => {
            console::str("srpboot: nic selftest: no driver for PCI ");
            console::hex(v as u32, 4);
            console::str(":");
            console::hex(d as u32, 4);
            console::str("\n");
            return;
        }
        None => return fail("no PCI function at our address"),
    };
    console::str(if quiet {
        "srpboot: nic quiesced\n"
    } else {
        "srpboot: nic still active after quiesce\n"
    });
}

fn fail(why: &str) {
    console::str("srpboot: nic selftest failed: ");
    console::str(why);
    console::str("\n");
}

fn mac(m: MacAddr) {
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            console::str(":");
        }
        console::hex(*b as u32, 2);
    }
}

fn ms(us: u64) {
    console::dec(us / 1000);
    console::str(" ms");
}

/// Waits for link, then ARPs for the gateway until it answers or time runs
/// out; prints the result line.
fn exercise<N: Nic>(nic: &mut N, model: &str, clock: Clock) {
    console::str("srpboot: nic ");
    console::str(model);
    console::str(" ");
    mac(nic.mac());
    let start = clock.now_us();
    while !nic.link_up() {
        let waited = clock.now_us() - start;
        if waited > LINK_WAIT_US {
            console::str(" link down after ");
            ms(waited);
            console::str("\n");
            return;
        }
    }
    console::str(" link up; ");
    let ours = EthernetAddress(nic.mac());
    let begin = clock.now_us();
    let mut first_sent = None;
    let mut next_send = begin;
    loop {
        let now = clock.now_us();
        if now >= next_send {
            if nic
                .transmit(ETH_LEN + ARP_LEN, |f| arp_request(f, ours))
                .is_some()
            {
                first_sent.get_or_insert(now);
            }
            next_send = now + ARP_RETRY_US;
        }
        // Drain what arrived; anything but the reply is ignored.
        while let Some(reply) = nic.receive(gateway_mac) {
            if let Some(gw) = reply {
                let now = clock.now_us();
                console::str("ARP ");
                ip(GATEWAY_IP);
                console::str(" is-at ");
                mac(gw.0);
                console::str(" after ");
                ms(now - first_sent.unwrap_or(begin));
                console::str("\n");
                return;
            }
        }
        if now - begin > ARP_WAIT_US {
            console::str(if first_sent.is_some() {
                "no ARP reply from "
            } else {
                "could not transmit to "
            });
            ip(GATEWAY_IP);
            console::str(" in ");
            ms(now - begin);
            console::str("\n");
            return;
        }
    }
}

fn ip(a: Ipv4Address) {
    for (i, b) in a.as_bytes().iter().enumerate() {
        if i > 0 {
            console::str(".");
        }
        console::dec(*b as u64);
    }
}

/// Who has 10.0.2.2? Tell 10.0.2.15 (broadcast, 42 bytes).
fn arp_request(frame: &mut [u8], ours: EthernetAddress) {
    let mut eth = EthernetFrame::new_unchecked(&mut *frame);
    EthernetRepr {
        src_addr: ours,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EtherType::Arp,
    }
    .emit(&mut eth);
    ArpRepr {
        operation: Operation::Request,
        source_hardware_addr: ours,
        source_protocol_addr: OUR_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: GATEWAY_IP,
    }
    .emit(&mut ArpPacket::new_unchecked(&mut frame[ETH_LEN..]));
}

/// The gateway's MAC if `frame` is its ARP reply to us.
fn gateway_mac(frame: &[u8]) -> Option<EthernetAddress> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Arp {
        return None;
    }
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
    let ours = arp.operation == Operation::Reply
        && arp.source_protocol_addr == GATEWAY_IP
        && arp.target_protocol_addr == OUR_IP;
    ours.then_some(arp.source_hardware_addr)
}
