//! The boot initiator's login parameters, shared by the option ROM and the
//! OS boot driver (`oskernel`). Both must present the *same* login to the
//! target — the OS driver's login replaces the ROM's channel only because it
//! carries the same initiator port ID — so what the login asks for is written
//! once, here, and both sides build their `CmConfig` and `SessionConfig`
//! from it.

use crate::cm::CmConfig;
use crate::srp::SessionConfig;
use crate::wire::srp::PortId;
use crate::wire::Ipv4Address;

/// Path MTU a boot initiator asks for first: our NIC drivers take 4 KiB
/// frames, and srp-target's QEMU links and jumbo-frame networks carry them
/// (measured: ~29 → ~45-60 MiB/s under the ROM).
pub const PREFERRED_PATH_MTU: usize = 4096;

/// The path MTU every RoCE port supports on a 1500-byte link; where 4096 is
/// refused (CM REJ) or its packets vanish (LIO on rdma_rxe over a 1500-byte
/// netdev accepts 4096 and then drops), a boot initiator logs in again here.
pub const FALLBACK_PATH_MTU: usize = 1024;

/// The SRP IU length a boot initiator asks for (`req_it_iu_len`): commands
/// carry no immediate data (data-out goes by RDMA READ), so an IU is a
/// 48-byte SRP_CMD with a 16-byte CDB and one descriptor; responses carry at
/// most 96 bytes of sense. 512 keeps the message slots small.
pub const IU_LEN: usize = 512;

/// The CM parameters of a boot login asking for `max_path_mtu`
/// (rdma_cm's defaults otherwise).
pub fn cm_config(max_path_mtu: usize) -> CmConfig {
    CmConfig {
        max_path_mtu,
        ..CmConfig::default()
    }
}

/// The SRP login of a boot initiator: [`IU_LEN`]-byte IUs, no immediate
/// data, everything else as Linux ib_srp asks (single channel).
pub fn session_config(initiator: PortId, target: PortId) -> SessionConfig {
    let mut sc = SessionConfig::new(initiator, target);
    sc.req_it_iu_len = IU_LEN as u32;
    sc.request_immediate = false;
    sc
}

/// The netmask of a prefix length (0 → 0.0.0.0, over 32 → /32): the ROM's
/// configuration and the sBFT carry prefixes, the HCA wants a mask.
pub fn netmask(prefix_len: u8) -> Ipv4Address {
    let m = match prefix_len {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    };
    Ipv4Address(m.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_login_is_small_and_without_immediate_data() {
        let sc = session_config(PortId::new(0, 1), PortId::new(2, 2));
        assert_eq!(sc.req_it_iu_len, 512);
        assert!(!sc.request_immediate);
        assert_eq!(sc.initiator_port_id, PortId::new(0, 1));
        assert_eq!(cm_config(PREFERRED_PATH_MTU).max_path_mtu, 4096);
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask(0).0, [0, 0, 0, 0]);
        assert_eq!(netmask(24).0, [255, 255, 255, 0]);
        assert_eq!(netmask(31).0, [255, 255, 255, 254]);
        assert_eq!(netmask(32).0, [255; 4]);
        assert_eq!(netmask(200).0, [255; 4]);
    }
}
