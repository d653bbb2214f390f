//! Wire formats: typed, length-checked views over byte slices.
//!
//! Every protocol follows smoltcp's pattern: a `Packet<T: AsRef<[u8]>>` view
//! (`new_checked` on input, `new_unchecked` on output buffers) with accessors
//! through named field ranges, and a validated `Repr` with `parse` and `emit`.
//! Numbers are big-endian on the wire unless a module says otherwise.

mod bytes;

pub mod aeth;
pub mod arp;
pub mod bth;
pub mod cm;
pub mod deth;
pub mod eth;
pub mod icrc;
pub mod immdt;
pub mod ipv4;
pub mod mad;
pub mod reth;
pub mod roce;
pub mod sbft;
pub mod scsi;
pub mod srp;
pub mod udp;

pub use self::arp::{Packet as ArpPacket, Repr as ArpRepr};
pub use self::bth::{OpCode, OpFlags, Packet as BthPacket, Repr as BthRepr};
pub use self::cm::{Gid, Message as CmMessage, Repr as CmRepr};
pub use self::eth::{Address as EthernetAddress, Frame as EthernetFrame, Repr as EthernetRepr};
pub use self::ipv4::{Address as Ipv4Address, Packet as Ipv4Packet, Repr as Ipv4Repr};
pub use self::mad::{Packet as MadPacket, Repr as MadRepr};
pub use self::roce::Repr as RoceRepr;
pub use self::udp::{Packet as UdpPacket, Repr as UdpRepr};

/// The one error a parser reports: the bytes are not a valid packet of this
/// kind (too short, bad field, bad checksum). Malformed frames are dropped, so
/// callers never need more detail than this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error;

/// Result of a wire-level parse.
pub type Result<T> = core::result::Result<T, Error>;
