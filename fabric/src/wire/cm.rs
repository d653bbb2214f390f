//! InfiniBand Communication Management messages (the class data of CM MADs)
//! and the rdma_cm conventions layered on them.
//!
//! Each CM message fills the 232 bytes of MAD class data. Offsets below are
//! counted from the start of that data; multi-byte fields are big-endian and
//! sub-byte fields are named by their bit position within one byte (bit 7 is
//! the most significant). Reserved bits are ignored on input and written as
//! zero.
//!
//! This module decodes REQ, MRA, REJ, REP, RTU, DREQ and DREP, which is all a
//! connection's life needs. Parsers only check lengths: a REQ with odd
//! parameters is still a REQ, and refusing it (with a REJ reason) is the
//! connection manager's call, not the wire layer's.
//!
//! rdma_cm adds two things, both here: the service ID carries a port space
//! and a port ([`rdma_cm_service_id`]), and the REQ private data begins with
//! a 36-byte header naming the IP endpoints ([`CmaHeaderRepr`]).

use core::fmt;

use super::bytes::{
    enum_with_unknown, read_array, read_u16, read_u24, read_u32, read_u64, write_u16, write_u24,
    write_u32, write_u64,
};
use super::ipv4::Address as Ipv4Address;
use super::mad::{self, Method, MgmtClass};
use super::{Error, Result};

enum_with_unknown! {
    /// CM attribute IDs (the MAD AttributeID of each CM message).
    pub enum AttributeId(u16) {
        /// ClassPortInfo.
        ClassPortInfo = 0x0001,
        /// Connection request.
        Req = 0x0010,
        /// Message receipt acknowledgement ("wait longer").
        Mra = 0x0011,
        /// Reject.
        Rej = 0x0012,
        /// Connection reply.
        Rep = 0x0013,
        /// Ready to use.
        Rtu = 0x0014,
        /// Disconnect request.
        Dreq = 0x0015,
        /// Disconnect reply.
        Drep = 0x0016,
        /// Service ID resolution request.
        SidrReq = 0x0017,
        /// Service ID resolution response.
        SidrRep = 0x0018,
        /// Load alternate path.
        Lap = 0x0019,
        /// Alternate path response.
        Apr = 0x001A,
    }
}

enum_with_unknown! {
    /// Why a REJ was sent (IBA table 109 / Linux `ib_cm_rej_reason`).
    pub enum RejectReason(u16) {
        /// No QP available.
        NoQp = 1,
        /// No EEC available.
        NoEec = 2,
        /// No resources available.
        NoResources = 3,
        /// Timeout.
        Timeout = 4,
        /// Unsupported request.
        UnsupportedRequest = 5,
        /// Invalid communication ID.
        InvalidCommId = 6,
        /// Invalid communication instance.
        InvalidCommInstance = 7,
        /// Invalid service ID: nobody listens there.
        InvalidServiceId = 8,
        /// Invalid transport service type.
        InvalidTransportType = 9,
        /// Stale connection (a live connection already uses this QP).
        StaleConnection = 10,
        /// RDC does not exist.
        RdcNotExist = 11,
        /// Primary remote GID rejected.
        InvalidGid = 12,
        /// Primary remote LID rejected.
        InvalidLid = 13,
        /// Primary SL rejected.
        InvalidSl = 14,
        /// Primary traffic class rejected.
        InvalidTrafficClass = 15,
        /// Primary hop limit rejected.
        InvalidHopLimit = 16,
        /// Primary packet rate rejected.
        InvalidPacketRate = 17,
        /// Alternate remote GID rejected.
        InvalidAltGid = 18,
        /// Alternate remote LID rejected.
        InvalidAltLid = 19,
        /// Alternate SL rejected.
        InvalidAltSl = 20,
        /// Alternate traffic class rejected.
        InvalidAltTrafficClass = 21,
        /// Alternate hop limit rejected.
        InvalidAltHopLimit = 22,
        /// Alternate packet rate rejected.
        InvalidAltPacketRate = 23,
        /// Port and CM redirection.
        PortCmRedirect = 24,
        /// Port redirection.
        PortRedirect = 25,
        /// Invalid path MTU.
        InvalidMtu = 26,
        /// Insufficient responder resources.
        InsufficientResponderResources = 27,
        /// Consumer defined: the private data says why (ib_srpt puts an
        /// SRP_LOGIN_REJ there).
        ConsumerDefined = 28,
        /// Invalid RNR retry count.
        InvalidRnrRetry = 29,
        /// Duplicate local communication ID.
        DuplicateLocalCommId = 30,
        /// Unsupported class version.
        InvalidClassVersion = 31,
        /// Invalid primary flow label.
        InvalidFlowLabel = 32,
        /// Invalid alternate flow label.
        InvalidAltFlowLabel = 33,
        /// Vendor option not supported.
        VendorOptionNotSupported = 35,
    }
}

enum_with_unknown! {
    /// Which message a REJ rejects or an MRA acknowledges (2 bits).
    pub enum MessageKind(u8) {
        /// A REQ.
        Req = 0,
        /// A REP.
        Rep = 1,
        /// Something else (a LAP for MRA/REJ).
        Other = 2,
    }
}

enum_with_unknown! {
    /// Transport service type of a REQ (2 bits).
    pub enum TransportType(u8) {
        /// Reliable connected.
        Rc = 0,
        /// Unreliable connected.
        Uc = 1,
        /// Reliable datagram.
        Rd = 2,
    }
}

enum_with_unknown! {
    /// Path MTU code (4 bits): payload bytes per packet.
    pub enum PathMtu(u8) {
        /// 256 bytes.
        Mtu256 = 1,
        /// 512 bytes.
        Mtu512 = 2,
        /// 1024 bytes (the largest that fits a 1500-byte Ethernet MTU).
        Mtu1024 = 3,
        /// 2048 bytes.
        Mtu2048 = 4,
        /// 4096 bytes.
        Mtu4096 = 5,
    }
}

impl PathMtu {
    /// Payload bytes per packet, `None` for an invalid code.
    pub fn bytes(self) -> Option<usize> {
        match self {
            PathMtu::Unknown(_) => None,
            known => Some(128 << u8::from(known)),
        }
    }
}

/// A 128-bit global identifier. RoCEv2 over IPv4 uses IPv4-mapped IPv6
/// addresses (`::ffff:a.b.c.d`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Gid(pub [u8; 16]);

impl Gid {
    /// The IPv4-mapped GID of `addr`.
    pub const fn from_ipv4(addr: Ipv4Address) -> Gid {
        let a = addr.0;
        Gid([
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, a[0], a[1], a[2], a[3],
        ])
    }

    /// The IPv4 address of an IPv4-mapped GID, `None` for any other GID.
    pub fn to_ipv4(&self) -> Option<Ipv4Address> {
        let mapped_prefix = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
        if self.0[..12] == mapped_prefix {
            Some(Ipv4Address::from_bytes(&self.0[12..]))
        } else {
            None
        }
    }

    /// The link-local GID `fe80::` + EUI-64 (rxe's GID index 0).
    pub fn link_local(eui64: [u8; 8]) -> Gid {
        let mut g = [0u8; 16];
        g[0] = 0xFE;
        g[1] = 0x80;
        g[8..].copy_from_slice(&eui64);
        Gid(g)
    }

    /// The 64-bit interface ID (low half).
    pub fn interface_id(&self) -> u64 {
        read_u64(&self.0[8..])
    }
}

impl fmt::Debug for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Gid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks_exact(2).enumerate() {
            if i != 0 {
                f.write_str(":")?;
            }
            write!(f, "{:02x}{:02x}", pair[0], pair[1])?;
        }
        Ok(())
    }
}

/// Length of the CM class data (every CM message fills it).
pub const MSG_LEN: usize = mad::DATA_LEN;

/// Private data bytes of a REQ.
pub const REQ_PRIVATE_DATA_LEN: usize = 92;
/// Private data bytes of an MRA.
pub const MRA_PRIVATE_DATA_LEN: usize = 222;
/// Private data bytes of a REJ.
pub const REJ_PRIVATE_DATA_LEN: usize = 148;
/// Additional rejection information bytes of a REJ.
pub const REJ_ARI_LEN: usize = 72;
/// Private data bytes of a REP.
pub const REP_PRIVATE_DATA_LEN: usize = 196;
/// Private data bytes of an RTU.
pub const RTU_PRIVATE_DATA_LEN: usize = 224;
/// Private data bytes of a DREQ.
pub const DREQ_PRIVATE_DATA_LEN: usize = 220;
/// Private data bytes of a DREP.
pub const DREP_PRIVATE_DATA_LEN: usize = 224;

/// A sub-byte field: `width` bits ending `shift` bits above bit 0 of byte `at`.
#[derive(Clone, Copy)]
struct Bits {
    at: usize,
    shift: u8,
    width: u8,
}

const fn bits(at: usize, shift: u8, width: u8) -> Bits {
    Bits { at, shift, width }
}

fn get_bits(data: &[u8], f: Bits) -> u8 {
    (data[f.at] >> f.shift) & ((1u16 << f.width) - 1) as u8
}

fn set_bits(data: &mut [u8], f: Bits, value: u8) {
    let mask = (((1u16 << f.width) - 1) as u8) << f.shift;
    data[f.at] = (data[f.at] & !mask) | ((value << f.shift) & mask);
}

/// Copies `src` into `dst`, zero-filling the rest; a `src` longer than
/// `dst` is a caller bug and is cut short.
fn copy_padded(dst: &mut [u8], src: &[u8]) {
    debug_assert!(src.len() <= dst.len(), "private data too long");
    let n = src.len().min(dst.len());
    dst[..n].copy_from_slice(&src[..n]);
    dst[n..].fill(0);
}

/// Defines a CM message view over the 232 bytes of class data.
macro_rules! cm_packet {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps a buffer without checking it (for output buffers).
            pub const fn new_unchecked(buffer: T) -> Self {
                $name { buffer }
            }

            /// Wraps a buffer after [`check_len`](Self::check_len).
            pub fn new_checked(buffer: T) -> Result<Self> {
                let packet = Self::new_unchecked(buffer);
                packet.check_len()?;
                Ok(packet)
            }

            /// Ensures all 232 bytes of CM data are present.
            pub fn check_len(&self) -> Result<()> {
                if self.buffer.as_ref().len() < MSG_LEN { Err(Error) } else { Ok(()) }
            }

            /// Returns the underlying buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}

/// Defines getters and setters for CM message fields.
macro_rules! cm_fields {
    ($name:ident { $( $(#[$doc:meta])* $get:ident / $set:ident : $kind:tt @ $loc:expr; )* }) => {
        impl<T: AsRef<[u8]>> $name<T> {
            $( $(#[$doc])* pub fn $get(&self) -> cm_fields!(@ty $kind) {
                let data = self.buffer.as_ref();
                cm_fields!(@get $kind, data, $loc)
            } )*
        }
        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            $( $(#[$doc])* pub fn $set(&mut self, value: cm_fields!(@ty $kind)) {
                let data = self.buffer.as_mut();
                cm_fields!(@set $kind, data, $loc, value)
            } )*
        }
    };
    (@ty u8) => { u8 };
    (@ty u16) => { u16 };
    (@ty u24) => { u32 };
    (@ty u32) => { u32 };
    (@ty u64) => { u64 };
    (@ty bits) => { u8 };
    (@ty flag) => { bool };
    (@get u8, $d:ident, $at:expr) => { $d[$at] };
    (@get u16, $d:ident, $at:expr) => { read_u16(&$d[$at..]) };
    (@get u24, $d:ident, $at:expr) => { read_u24(&$d[$at..]) };
    (@get u32, $d:ident, $at:expr) => { read_u32(&$d[$at..]) };
    (@get u64, $d:ident, $at:expr) => { read_u64(&$d[$at..]) };
    (@get bits, $d:ident, $f:expr) => { get_bits($d, $f) };
    (@get flag, $d:ident, $f:expr) => { get_bits($d, $f) != 0 };
    (@set u8, $d:ident, $at:expr, $v:ident) => { $d[$at] = $v };
    (@set u16, $d:ident, $at:expr, $v:ident) => { write_u16(&mut $d[$at..], $v) };
    (@set u24, $d:ident, $at:expr, $v:ident) => { write_u24(&mut $d[$at..], $v) };
    (@set u32, $d:ident, $at:expr, $v:ident) => { write_u32(&mut $d[$at..], $v) };
    (@set u64, $d:ident, $at:expr, $v:ident) => { write_u64(&mut $d[$at..], $v) };
    (@set bits, $d:ident, $f:expr, $v:ident) => { set_bits($d, $f, $v) };
    (@set flag, $d:ident, $f:expr, $v:ident) => { set_bits($d, $f, u8::from($v)) };
}

// ---------------------------------------------------------------- paths ----

/// One path of a REQ (primary or alternate), 44 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathRepr {
    /// Local port LID (Linux sends 0xFFFF, the permissive LID, on RoCE).
    pub local_lid: u16,
    /// Remote port LID.
    pub remote_lid: u16,
    /// Local port GID (`::ffff:<our IPv4>` on RoCEv2).
    pub local_gid: Gid,
    /// Remote port GID.
    pub remote_gid: Gid,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Packet rate (6 bits; ignored by rxe).
    pub packet_rate: u8,
    /// Traffic class (→ IPv4 TOS).
    pub traffic_class: u8,
    /// Hop limit (→ IPv4 TTL).
    pub hop_limit: u8,
    /// Service level (4 bits).
    pub sl: u8,
    /// Subnet local.
    pub subnet_local: bool,
    /// Local ACK timeout (5 bits): the passive side's QP retransmit timeout,
    /// 4.096 µs × 2^value.
    pub local_ack_timeout: u8,
}

mod path {
    use core::ops::Range;
    pub const LOCAL_LID: Range<usize> = 0..2;
    pub const REMOTE_LID: Range<usize> = 2..4;
    pub const LOCAL_GID: Range<usize> = 4..20;
    pub const REMOTE_GID: Range<usize> = 20..36;
    pub const FLOW_RATE: Range<usize> = 36..40; // flow label 31:12, rate 5:0
    pub const TRAFFIC_CLASS: usize = 40;
    pub const HOP_LIMIT: usize = 41;
    pub const SL_SUBNET: usize = 42; // SL 7:4, subnet local 3
    pub const ACK_TIMEOUT: usize = 43; // 7:3
    pub const LEN: usize = 44;
}

impl PathRepr {
    /// Reads a path from the first 44 bytes of `data`.
    fn read(data: &[u8]) -> PathRepr {
        let flow_rate = read_u32(&data[path::FLOW_RATE]);
        PathRepr {
            local_lid: read_u16(&data[path::LOCAL_LID]),
            remote_lid: read_u16(&data[path::REMOTE_LID]),
            local_gid: Gid(read_array(&data[path::LOCAL_GID])),
            remote_gid: Gid(read_array(&data[path::REMOTE_GID])),
            flow_label: flow_rate >> 12,
            packet_rate: (flow_rate & 0x3F) as u8,
            traffic_class: data[path::TRAFFIC_CLASS],
            hop_limit: data[path::HOP_LIMIT],
            sl: data[path::SL_SUBNET] >> 4,
            subnet_local: data[path::SL_SUBNET] & 0x08 != 0,
            local_ack_timeout: data[path::ACK_TIMEOUT] >> 3,
        }
    }

    /// Writes all 44 bytes into the start of `data`.
    fn write(&self, data: &mut [u8]) {
        write_u16(&mut data[path::LOCAL_LID], self.local_lid);
        write_u16(&mut data[path::REMOTE_LID], self.remote_lid);
        data[path::LOCAL_GID].copy_from_slice(&self.local_gid.0);
        data[path::REMOTE_GID].copy_from_slice(&self.remote_gid.0);
        let flow_rate = ((self.flow_label & 0xF_FFFF) << 12) | u32::from(self.packet_rate & 0x3F);
        write_u32(&mut data[path::FLOW_RATE], flow_rate);
        data[path::TRAFFIC_CLASS] = self.traffic_class;
        data[path::HOP_LIMIT] = self.hop_limit;
        data[path::SL_SUBNET] = ((self.sl & 0x0F) << 4) | (u8::from(self.subnet_local) << 3);
        data[path::ACK_TIMEOUT] = (self.local_ack_timeout & 0x1F) << 3;
    }
}

// ------------------------------------------------------------------ REQ ----

mod req {
    use super::{bits, Bits};
    use core::ops::Range;
    pub const LOCAL_COMM_ID: usize = 0;
    pub const SERVICE_ID: usize = 8;
    pub const LOCAL_CA_GUID: usize = 16;
    pub const LOCAL_QKEY: usize = 28;
    pub const LOCAL_QPN: usize = 32;
    pub const RESPONDER_RESOURCES: usize = 35;
    pub const LOCAL_EECN: usize = 36;
    pub const INITIATOR_DEPTH: usize = 39;
    pub const REMOTE_EECN: usize = 40;
    pub const REMOTE_CM_RESPONSE_TIMEOUT: Bits = bits(43, 3, 5);
    pub const TRANSPORT_TYPE: Bits = bits(43, 1, 2);
    pub const E2E_FLOW_CONTROL: Bits = bits(43, 0, 1);
    pub const STARTING_PSN: usize = 44;
    pub const LOCAL_CM_RESPONSE_TIMEOUT: Bits = bits(47, 3, 5);
    pub const RETRY_COUNT: Bits = bits(47, 0, 3);
    pub const PKEY: usize = 48;
    pub const PATH_MTU: Bits = bits(50, 4, 4);
    pub const RDC_EXISTS: Bits = bits(50, 3, 1);
    pub const RNR_RETRY_COUNT: Bits = bits(50, 0, 3);
    pub const MAX_CM_RETRIES: Bits = bits(51, 4, 4);
    pub const SRQ: Bits = bits(51, 3, 1);
    pub const EXT_TRANSPORT_TYPE: Bits = bits(51, 0, 3);
    pub const PRIMARY_PATH: Range<usize> = 52..96;
    pub const ALTERNATE_PATH: Range<usize> = 96..140;
    pub const PRIVATE_DATA: Range<usize> = 140..232;
    // Whole-byte or whole-word fields that also hold reserved bits.
    pub const RESERVED_4: Range<usize> = 4..8;
    pub const RESERVED_24: Range<usize> = 24..28;
}

const _: () = {
    assert!(req::PRIMARY_PATH.end - req::PRIMARY_PATH.start == path::LEN);
    assert!(req::ALTERNATE_PATH.end - req::ALTERNATE_PATH.start == path::LEN);
    assert!(req::PRIVATE_DATA.end - req::PRIVATE_DATA.start == REQ_PRIVATE_DATA_LEN);
    assert!(req::PRIVATE_DATA.end == MSG_LEN);
};

cm_packet! {
    /// A view of a CM REQ.
    ReqPacket
}

cm_fields!(ReqPacket {
    /// Local communication ID.
    local_comm_id / set_local_comm_id: u32 @ req::LOCAL_COMM_ID;
    /// Service ID.
    service_id / set_service_id: u64 @ req::SERVICE_ID;
    /// Local CA GUID.
    local_ca_guid / set_local_ca_guid: u64 @ req::LOCAL_CA_GUID;
    /// Local Q_Key.
    local_qkey / set_local_qkey: u32 @ req::LOCAL_QKEY;
    /// Local QPN (24 bits).
    local_qpn / set_local_qpn: u24 @ req::LOCAL_QPN;
    /// Responder resources.
    responder_resources / set_responder_resources: u8 @ req::RESPONDER_RESOURCES;
    /// Local EECN (24 bits).
    local_eecn / set_local_eecn: u24 @ req::LOCAL_EECN;
    /// Initiator depth.
    initiator_depth / set_initiator_depth: u8 @ req::INITIATOR_DEPTH;
    /// Remote EECN (24 bits); the byte after it holds the next three fields.
    remote_eecn / set_remote_eecn: u24 @ req::REMOTE_EECN;
    /// Remote CM response timeout (5 bits).
    remote_cm_response_timeout / set_remote_cm_response_timeout: bits @ req::REMOTE_CM_RESPONSE_TIMEOUT;
    /// Transport service type, raw 2 bits.
    transport_type_raw / set_transport_type_raw: bits @ req::TRANSPORT_TYPE;
    /// End-to-end flow control.
    e2e_flow_control / set_e2e_flow_control: flag @ req::E2E_FLOW_CONTROL;
    /// Starting PSN (24 bits).
    starting_psn / set_starting_psn: u24 @ req::STARTING_PSN;
    /// Local CM response timeout (5 bits).
    local_cm_response_timeout / set_local_cm_response_timeout: bits @ req::LOCAL_CM_RESPONSE_TIMEOUT;
    /// Retry count (3 bits).
    retry_count / set_retry_count: bits @ req::RETRY_COUNT;
    /// Partition key.
    pkey / set_pkey: u16 @ req::PKEY;
    /// Path MTU code, raw 4 bits.
    path_mtu_raw / set_path_mtu_raw: bits @ req::PATH_MTU;
    /// RDC exists.
    rdc_exists / set_rdc_exists: flag @ req::RDC_EXISTS;
    /// RNR retry count (3 bits; 7 = infinite).
    rnr_retry_count / set_rnr_retry_count: bits @ req::RNR_RETRY_COUNT;
    /// Max CM retries (4 bits).
    max_cm_retries / set_max_cm_retries: bits @ req::MAX_CM_RETRIES;
    /// SRQ.
    srq / set_srq: flag @ req::SRQ;
    /// Extended transport type (3 bits).
    ext_transport_type / set_ext_transport_type: bits @ req::EXT_TRANSPORT_TYPE;
});

impl<T: AsRef<[u8]>> ReqPacket<T> {
    /// The primary path.
    pub fn primary_path(&self) -> PathRepr {
        PathRepr::read(&self.buffer.as_ref()[req::PRIMARY_PATH])
    }

    /// The alternate path; `None` when its 44 bytes are all zero.
    pub fn alternate_path(&self) -> Option<PathRepr> {
        let raw = &self.buffer.as_ref()[req::ALTERNATE_PATH];
        if raw.iter().all(|&b| b == 0) {
            None
        } else {
            Some(PathRepr::read(raw))
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> ReqPacket<&'a T> {
    /// The 92 bytes of private data.
    pub fn private_data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[req::PRIVATE_DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ReqPacket<T> {
    /// Writes the primary path.
    pub fn set_primary_path(&mut self, value: &PathRepr) {
        value.write(&mut self.buffer.as_mut()[req::PRIMARY_PATH])
    }

    /// Writes the alternate path (`None`: all zero).
    pub fn set_alternate_path(&mut self, value: Option<&PathRepr>) {
        let raw = &mut self.buffer.as_mut()[req::ALTERNATE_PATH];
        match value {
            Some(p) => p.write(raw),
            None => raw.fill(0),
        }
    }

    /// Mutable private data.
    pub fn private_data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[req::PRIVATE_DATA]
    }
}

/// The meaning of a CM REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqRepr<'a> {
    /// Local communication ID.
    pub local_comm_id: u32,
    /// Service ID (rdma_cm: [`rdma_cm_service_id`]).
    pub service_id: u64,
    /// Local CA GUID (the sender's node GUID).
    pub local_ca_guid: u64,
    /// Local Q_Key (0 for RC).
    pub local_qkey: u32,
    /// The sender's QPN.
    pub local_qpn: u32,
    /// RDMA READs the sender will serve at once.
    pub responder_resources: u8,
    /// Local EECN (0 for RC).
    pub local_eecn: u32,
    /// RDMA READs the sender will issue at once.
    pub initiator_depth: u8,
    /// Remote EECN (0 for RC).
    pub remote_eecn: u32,
    /// How long the passive side may take to answer (4.096 µs × 2^n).
    pub remote_cm_response_timeout: u8,
    /// Transport service type.
    pub transport_type: TransportType,
    /// End-to-end flow control.
    pub e2e_flow_control: bool,
    /// Starting PSN: the PSN the REQ sender expects to receive first (Linux
    /// programs the passive side's send PSN from it).
    pub starting_psn: u32,
    /// How long the sender takes to answer (4.096 µs × 2^n).
    pub local_cm_response_timeout: u8,
    /// Retry count for the passive side's QP.
    pub retry_count: u8,
    /// Partition key.
    pub pkey: u16,
    /// Path MTU.
    pub path_mtu: PathMtu,
    /// RDC exists.
    pub rdc_exists: bool,
    /// RNR retry count for the passive side's QP (7 = infinite).
    pub rnr_retry_count: u8,
    /// Max CM retries.
    pub max_cm_retries: u8,
    /// SRQ.
    pub srq: bool,
    /// Extended transport type (0).
    pub ext_transport_type: u8,
    /// Primary path.
    pub primary_path: PathRepr,
    /// Alternate path (`None` = all zero on the wire).
    pub alternate_path: Option<PathRepr>,
    /// Private data, at most 92 bytes (zero-filled on emit). rdma_cm: a
    /// [`CmaHeaderRepr`] then 56 bytes for the consumer.
    pub private_data: &'a [u8],
}

impl<'a> ReqRepr<'a> {
    /// Reads a checked REQ.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &ReqPacket<&'a T>) -> Result<ReqRepr<'a>> {
        packet.check_len()?;
        Ok(ReqRepr {
            local_comm_id: packet.local_comm_id(),
            service_id: packet.service_id(),
            local_ca_guid: packet.local_ca_guid(),
            local_qkey: packet.local_qkey(),
            local_qpn: packet.local_qpn(),
            responder_resources: packet.responder_resources(),
            local_eecn: packet.local_eecn(),
            initiator_depth: packet.initiator_depth(),
            remote_eecn: packet.remote_eecn(),
            remote_cm_response_timeout: packet.remote_cm_response_timeout(),
            transport_type: TransportType::from(packet.transport_type_raw()),
            e2e_flow_control: packet.e2e_flow_control(),
            starting_psn: packet.starting_psn(),
            local_cm_response_timeout: packet.local_cm_response_timeout(),
            retry_count: packet.retry_count(),
            pkey: packet.pkey(),
            path_mtu: PathMtu::from(packet.path_mtu_raw()),
            rdc_exists: packet.rdc_exists(),
            rnr_retry_count: packet.rnr_retry_count(),
            max_cm_retries: packet.max_cm_retries(),
            srq: packet.srq(),
            ext_transport_type: packet.ext_transport_type(),
            primary_path: packet.primary_path(),
            alternate_path: packet.alternate_path(),
            private_data: packet.private_data(),
        })
    }

    /// Message length: always 232.
    pub const fn buffer_len(&self) -> usize {
        MSG_LEN
    }

    /// Writes all 232 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ReqPacket<T>) {
        packet.set_local_comm_id(self.local_comm_id);
        packet.buffer.as_mut()[req::RESERVED_4].fill(0);
        packet.set_service_id(self.service_id);
        packet.set_local_ca_guid(self.local_ca_guid);
        packet.buffer.as_mut()[req::RESERVED_24].fill(0);
        packet.set_local_qkey(self.local_qkey);
        packet.set_local_qpn(self.local_qpn);
        packet.set_responder_resources(self.responder_resources);
        packet.set_local_eecn(self.local_eecn);
        packet.set_initiator_depth(self.initiator_depth);
        packet.set_remote_eecn(self.remote_eecn);
        packet.buffer.as_mut()[43] = 0;
        packet.set_remote_cm_response_timeout(self.remote_cm_response_timeout);
        packet.set_transport_type_raw(self.transport_type.into());
        packet.set_e2e_flow_control(self.e2e_flow_control);
        packet.set_starting_psn(self.starting_psn);
        packet.buffer.as_mut()[47] = 0;
        packet.set_local_cm_response_timeout(self.local_cm_response_timeout);
        packet.set_retry_count(self.retry_count);
        packet.set_pkey(self.pkey);
        packet.buffer.as_mut()[50..52].fill(0);
        packet.set_path_mtu_raw(self.path_mtu.into());
        packet.set_rdc_exists(self.rdc_exists);
        packet.set_rnr_retry_count(self.rnr_retry_count);
        packet.set_max_cm_retries(self.max_cm_retries);
        packet.set_srq(self.srq);
        packet.set_ext_transport_type(self.ext_transport_type);
        packet.set_primary_path(&self.primary_path);
        packet.set_alternate_path(self.alternate_path.as_ref());
        copy_padded(packet.private_data_mut(), self.private_data);
    }
}

// ------------------------------------------------------------------ REP ----

mod rep {
    use super::{bits, Bits};
    use core::ops::Range;
    pub const LOCAL_COMM_ID: usize = 0;
    pub const REMOTE_COMM_ID: usize = 4;
    pub const LOCAL_QKEY: usize = 8;
    pub const LOCAL_QPN: Range<usize> = 12..16; // 24 bits + reserved
    pub const LOCAL_EECN: Range<usize> = 16..20; // 24 bits + reserved
    pub const STARTING_PSN: Range<usize> = 20..24; // 24 bits + reserved
    pub const RESPONDER_RESOURCES: usize = 24;
    pub const INITIATOR_DEPTH: usize = 25;
    pub const TARGET_ACK_DELAY: Bits = bits(26, 3, 5);
    pub const FAILOVER_ACCEPTED: Bits = bits(26, 1, 2);
    pub const E2E_FLOW_CONTROL: Bits = bits(26, 0, 1);
    pub const RNR_RETRY_COUNT: Bits = bits(27, 5, 3);
    pub const SRQ: Bits = bits(27, 4, 1);
    pub const LOCAL_CA_GUID: usize = 28;
    pub const PRIVATE_DATA: Range<usize> = 36..232;
}

cm_packet! {
    /// A view of a CM REP.
    RepPacket
}

cm_fields!(RepPacket {
    /// Local communication ID (the replier's).
    local_comm_id / set_local_comm_id: u32 @ rep::LOCAL_COMM_ID;
    /// Remote communication ID (echo of the REQ's local one).
    remote_comm_id / set_remote_comm_id: u32 @ rep::REMOTE_COMM_ID;
    /// Local Q_Key.
    local_qkey / set_local_qkey: u32 @ rep::LOCAL_QKEY;
    /// Local QPN (24 bits).
    local_qpn / set_local_qpn: u24 @ rep::LOCAL_QPN.start;
    /// Local EECN (24 bits).
    local_eecn / set_local_eecn: u24 @ rep::LOCAL_EECN.start;
    /// Starting PSN (24 bits).
    starting_psn / set_starting_psn: u24 @ rep::STARTING_PSN.start;
    /// Responder resources.
    responder_resources / set_responder_resources: u8 @ rep::RESPONDER_RESOURCES;
    /// Initiator depth.
    initiator_depth / set_initiator_depth: u8 @ rep::INITIATOR_DEPTH;
    /// Target ACK delay (5 bits).
    target_ack_delay / set_target_ack_delay: bits @ rep::TARGET_ACK_DELAY;
    /// Failover accepted (2 bits).
    failover_accepted / set_failover_accepted: bits @ rep::FAILOVER_ACCEPTED;
    /// End-to-end flow control.
    e2e_flow_control / set_e2e_flow_control: flag @ rep::E2E_FLOW_CONTROL;
    /// RNR retry count (3 bits).
    rnr_retry_count / set_rnr_retry_count: bits @ rep::RNR_RETRY_COUNT;
    /// SRQ.
    srq / set_srq: flag @ rep::SRQ;
    /// Local CA GUID.
    local_ca_guid / set_local_ca_guid: u64 @ rep::LOCAL_CA_GUID;
});

impl<'a, T: AsRef<[u8]> + ?Sized> RepPacket<&'a T> {
    /// The 196 bytes of private data.
    pub fn private_data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[rep::PRIVATE_DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RepPacket<T> {
    /// Mutable private data.
    pub fn private_data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[rep::PRIVATE_DATA]
    }
}

/// The meaning of a CM REP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepRepr<'a> {
    /// Local communication ID (the replier's).
    pub local_comm_id: u32,
    /// Remote communication ID (the REQ sender's).
    pub remote_comm_id: u32,
    /// Local Q_Key.
    pub local_qkey: u32,
    /// The replier's QPN: our QP's destination.
    pub local_qpn: u32,
    /// Local EECN.
    pub local_eecn: u32,
    /// Starting PSN: what the replier expects to receive first (our first
    /// send PSN in Linux's reading).
    pub starting_psn: u32,
    /// RDMA READs the replier serves at once.
    pub responder_resources: u8,
    /// RDMA READs the replier issues at once.
    pub initiator_depth: u8,
    /// Target ACK delay.
    pub target_ack_delay: u8,
    /// Failover accepted (2 bits).
    pub failover_accepted: u8,
    /// End-to-end flow control.
    pub e2e_flow_control: bool,
    /// RNR retry count for our QP.
    pub rnr_retry_count: u8,
    /// SRQ.
    pub srq: bool,
    /// Local CA GUID (the replier's node GUID).
    pub local_ca_guid: u64,
    /// Private data, at most 196 bytes (ib_srpt: SRP_LOGIN_RSP).
    pub private_data: &'a [u8],
}

impl<'a> RepRepr<'a> {
    /// Reads a checked REP.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &RepPacket<&'a T>) -> Result<RepRepr<'a>> {
        packet.check_len()?;
        Ok(RepRepr {
            local_comm_id: packet.local_comm_id(),
            remote_comm_id: packet.remote_comm_id(),
            local_qkey: packet.local_qkey(),
            local_qpn: packet.local_qpn(),
            local_eecn: packet.local_eecn(),
            starting_psn: packet.starting_psn(),
            responder_resources: packet.responder_resources(),
            initiator_depth: packet.initiator_depth(),
            target_ack_delay: packet.target_ack_delay(),
            failover_accepted: packet.failover_accepted(),
            e2e_flow_control: packet.e2e_flow_control(),
            rnr_retry_count: packet.rnr_retry_count(),
            srq: packet.srq(),
            local_ca_guid: packet.local_ca_guid(),
            private_data: packet.private_data(),
        })
    }

    /// Message length: always 232.
    pub const fn buffer_len(&self) -> usize {
        MSG_LEN
    }

    /// Writes all 232 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut RepPacket<T>) {
        packet.set_local_comm_id(self.local_comm_id);
        packet.set_remote_comm_id(self.remote_comm_id);
        packet.set_local_qkey(self.local_qkey);
        packet.buffer.as_mut()[rep::LOCAL_QPN.start..rep::STARTING_PSN.end].fill(0);
        packet.set_local_qpn(self.local_qpn);
        packet.set_local_eecn(self.local_eecn);
        packet.set_starting_psn(self.starting_psn);
        packet.set_responder_resources(self.responder_resources);
        packet.set_initiator_depth(self.initiator_depth);
        packet.buffer.as_mut()[26..28].fill(0);
        packet.set_target_ack_delay(self.target_ack_delay);
        packet.set_failover_accepted(self.failover_accepted);
        packet.set_e2e_flow_control(self.e2e_flow_control);
        packet.set_rnr_retry_count(self.rnr_retry_count);
        packet.set_srq(self.srq);
        packet.set_local_ca_guid(self.local_ca_guid);
        copy_padded(packet.private_data_mut(), self.private_data);
    }
}

// ------------------------------------------- RTU, DREP (IDs + private) ----

mod ids {
    pub const LOCAL_COMM_ID: usize = 0;
    pub const REMOTE_COMM_ID: usize = 4;
    pub const REST: usize = 8;
}

cm_packet! {
    /// A view of a CM message that is two communication IDs and private data
    /// (RTU, DREP), or starts like one (MRA, REJ, DREQ).
    IdsPacket
}

cm_fields!(IdsPacket {
    /// Local communication ID (the sender's).
    local_comm_id / set_local_comm_id: u32 @ ids::LOCAL_COMM_ID;
    /// Remote communication ID (the receiver's).
    remote_comm_id / set_remote_comm_id: u32 @ ids::REMOTE_COMM_ID;
});

impl<'a, T: AsRef<[u8]> + ?Sized> IdsPacket<&'a T> {
    /// Everything after the two IDs (224 bytes).
    pub fn rest(&self) -> &'a [u8] {
        &self.buffer.as_ref()[ids::REST..MSG_LEN]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IdsPacket<T> {
    /// Mutable access to everything after the two IDs.
    pub fn rest_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[ids::REST..MSG_LEN]
    }
}

/// The meaning of an RTU or a DREP: two IDs and private data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdsRepr<'a> {
    /// Local communication ID (the sender's).
    pub local_comm_id: u32,
    /// Remote communication ID (the receiver's).
    pub remote_comm_id: u32,
    /// Private data, at most 224 bytes.
    pub private_data: &'a [u8],
}

impl<'a> IdsRepr<'a> {
    /// Reads a checked RTU or DREP.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &IdsPacket<&'a T>) -> Result<IdsRepr<'a>> {
        packet.check_len()?;
        Ok(IdsRepr {
            local_comm_id: packet.local_comm_id(),
            remote_comm_id: packet.remote_comm_id(),
            private_data: packet.rest(),
        })
    }

    /// Message length: always 232.
    pub const fn buffer_len(&self) -> usize {
        MSG_LEN
    }

    /// Writes all 232 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut IdsPacket<T>) {
        packet.set_local_comm_id(self.local_comm_id);
        packet.set_remote_comm_id(self.remote_comm_id);
        copy_padded(packet.rest_mut(), self.private_data);
    }
}

// ----------------------------------------------------------------- DREQ ----

mod dreq {
    use core::ops::Range;
    pub const REMOTE_QPN: Range<usize> = 8..12; // 24 bits + reserved
    pub const PRIVATE_DATA: Range<usize> = 12..232;
}

cm_packet! {
    /// A view of a CM DREQ.
    DreqPacket
}

cm_fields!(DreqPacket {
    /// Local communication ID.
    local_comm_id / set_local_comm_id: u32 @ ids::LOCAL_COMM_ID;
    /// Remote communication ID.
    remote_comm_id / set_remote_comm_id: u32 @ ids::REMOTE_COMM_ID;
    /// Remote QPN/EECN (24 bits): the receiver's QP.
    remote_qpn / set_remote_qpn: u24 @ dreq::REMOTE_QPN.start;
});

impl<'a, T: AsRef<[u8]> + ?Sized> DreqPacket<&'a T> {
    /// The 220 bytes of private data.
    pub fn private_data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[dreq::PRIVATE_DATA]
    }
}

/// The meaning of a CM DREQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DreqRepr<'a> {
    /// Local communication ID (the sender's).
    pub local_comm_id: u32,
    /// Remote communication ID (the receiver's).
    pub remote_comm_id: u32,
    /// The receiver's QPN.
    pub remote_qpn: u32,
    /// Private data, at most 220 bytes.
    pub private_data: &'a [u8],
}

impl<'a> DreqRepr<'a> {
    /// Reads a checked DREQ.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &DreqPacket<&'a T>) -> Result<DreqRepr<'a>> {
        packet.check_len()?;
        Ok(DreqRepr {
            local_comm_id: packet.local_comm_id(),
            remote_comm_id: packet.remote_comm_id(),
            remote_qpn: packet.remote_qpn(),
            private_data: packet.private_data(),
        })
    }

    /// Message length: always 232.
    pub const fn buffer_len(&self) -> usize {
        MSG_LEN
    }

    /// Writes all 232 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut DreqPacket<T>) {
        packet.set_local_comm_id(self.local_comm_id);
        packet.set_remote_comm_id(self.remote_comm_id);
        packet.buffer.as_mut()[dreq::REMOTE_QPN].fill(0);
        packet.set_remote_qpn(self.remote_qpn);
        copy_padded(
            &mut packet.buffer.as_mut()[dreq::PRIVATE_DATA],
            self.private_data,
        );
    }
}

// ------------------------------------------------------------------ MRA ----

mod mra {
    use super::{bits, Bits};
    use core::ops::Range;
    pub const MESSAGE_MRAED: Bits = bits(8, 6, 2);
    pub const SERVICE_TIMEOUT: Bits = bits(9, 3, 5);
    pub const PRIVATE_DATA: Range<usize> = 10..232;
}

cm_packet! {
    /// A view of a CM MRA.
    MraPacket
}

cm_fields!(MraPacket {
    /// Local communication ID.
    local_comm_id / set_local_comm_id: u32 @ ids::LOCAL_COMM_ID;
    /// Remote communication ID.
    remote_comm_id / set_remote_comm_id: u32 @ ids::REMOTE_COMM_ID;
    /// Which message is acknowledged, raw 2 bits.
    message_mraed_raw / set_message_mraed_raw: bits @ mra::MESSAGE_MRAED;
    /// Service timeout (5 bits): wait 4.096 µs × 2^n more.
    service_timeout / set_service_timeout: bits @ mra::SERVICE_TIMEOUT;
});

impl<'a, T: AsRef<[u8]> + ?Sized> MraPacket<&'a T> {
    /// The 222 bytes of private data.
    pub fn private_data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[mra::PRIVATE_DATA]
    }
}

/// The meaning of a CM MRA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MraRepr<'a> {
    /// Local communication ID (the sender's).
    pub local_comm_id: u32,
    /// Remote communication ID (the receiver's).
    pub remote_comm_id: u32,
    /// Which message is acknowledged.
    pub message_mraed: MessageKind,
    /// Extra time the sender needs (4.096 µs × 2^n).
    pub service_timeout: u8,
    /// Private data, at most 222 bytes.
    pub private_data: &'a [u8],
}

impl<'a> MraRepr<'a> {
    /// Reads a checked MRA.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &MraPacket<&'a T>) -> Result<MraRepr<'a>> {
        packet.check_len()?;
        Ok(MraRepr {
            local_comm_id: packet.local_comm_id(),
            remote_comm_id: packet.remote_comm_id(),
            message_mraed: MessageKind::from(packet.message_mraed_raw()),
            service_timeout: packet.service_timeout(),
            private_data: packet.private_data(),
        })
    }

    /// Message length: always 232.
    pub const fn buffer_len(&self) -> usize {
        MSG_LEN
    }

    /// Writes all 232 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut MraPacket<T>) {
        packet.set_local_comm_id(self.local_comm_id);
        packet.set_remote_comm_id(self.remote_comm_id);
        packet.buffer.as_mut()[8..10].fill(0);
        packet.set_message_mraed_raw(self.message_mraed.into());
        packet.set_service_timeout(self.service_timeout);
        copy_padded(
            &mut packet.buffer.as_mut()[mra::PRIVATE_DATA],
            self.private_data,
        );
    }
}

// ------------------------------------------------------------------ REJ ----

mod rej {
    use super::{bits, Bits};
    use core::ops::Range;
    pub const MESSAGE_REJECTED: Bits = bits(8, 6, 2);
    pub const REJECT_INFO_LEN: Bits = bits(9, 1, 7);
    pub const REASON: usize = 10;
    pub const ARI: Range<usize> = 12..84;
    pub const PRIVATE_DATA: Range<usize> = 84..232;
}

cm_packet! {
    /// A view of a CM REJ.
    RejPacket
}

cm_fields!(RejPacket {
    /// Local communication ID.
    local_comm_id / set_local_comm_id: u32 @ ids::LOCAL_COMM_ID;
    /// Remote communication ID.
    remote_comm_id / set_remote_comm_id: u32 @ ids::REMOTE_COMM_ID;
    /// Which message is rejected, raw 2 bits.
    message_rejected_raw / set_message_rejected_raw: bits @ rej::MESSAGE_REJECTED;
    /// Length of the meaningful part of the ARI (7 bits).
    reject_info_len / set_reject_info_len: bits @ rej::REJECT_INFO_LEN;
    /// Reason, raw.
    reason_raw / set_reason_raw: u16 @ rej::REASON;
});

impl<'a, T: AsRef<[u8]> + ?Sized> RejPacket<&'a T> {
    /// All 72 bytes of additional rejection information.
    pub fn ari(&self) -> &'a [u8] {
        &self.buffer.as_ref()[rej::ARI]
    }

    /// The 148 bytes of private data.
    pub fn private_data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[rej::PRIVATE_DATA]
    }
}

/// The meaning of a CM REJ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejRepr<'a> {
    /// Local communication ID (the sender's; 0 if it never got one).
    pub local_comm_id: u32,
    /// Remote communication ID (the receiver's).
    pub remote_comm_id: u32,
    /// Which message is rejected.
    pub message_rejected: MessageKind,
    /// Meaningful bytes of `ari` (7 bits; may claim more than 72).
    pub reject_info_len: u8,
    /// Why.
    pub reason: RejectReason,
    /// Additional rejection information, at most 72 bytes (all of them on
    /// parse; see [`RejRepr::ari_info`]).
    pub ari: &'a [u8],
    /// Private data, at most 148 bytes (ib_srpt: SRP_LOGIN_REJ for reason
    /// 28).
    pub private_data: &'a [u8],
}

impl<'a> RejRepr<'a> {
    /// Reads a checked REJ.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &RejPacket<&'a T>) -> Result<RejRepr<'a>> {
        packet.check_len()?;
        Ok(RejRepr {
            local_comm_id: packet.local_comm_id(),
            remote_comm_id: packet.remote_comm_id(),
            message_rejected: MessageKind::from(packet.message_rejected_raw()),
            reject_info_len: packet.reject_info_len(),
            reason: RejectReason::from(packet.reason_raw()),
            ari: packet.ari(),
            private_data: packet.private_data(),
        })
    }

    /// The meaningful part of the ARI (`reject_info_len` bytes, capped).
    pub fn ari_info(&self) -> &'a [u8] {
        &self.ari[..usize::from(self.reject_info_len).min(self.ari.len())]
    }

    /// Message length: always 232.
    pub const fn buffer_len(&self) -> usize {
        MSG_LEN
    }

    /// Writes all 232 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut RejPacket<T>) {
        packet.set_local_comm_id(self.local_comm_id);
        packet.set_remote_comm_id(self.remote_comm_id);
        packet.buffer.as_mut()[8..10].fill(0);
        packet.set_message_rejected_raw(self.message_rejected.into());
        packet.set_reject_info_len(self.reject_info_len);
        packet.set_reason_raw(self.reason.into());
        copy_padded(&mut packet.buffer.as_mut()[rej::ARI], self.ari);
        copy_padded(
            &mut packet.buffer.as_mut()[rej::PRIVATE_DATA],
            self.private_data,
        );
    }
}

// ------------------------------------------------------ whole messages ----

/// Any CM message this module decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// Connection request.
    Req(ReqRepr<'a>),
    /// Message receipt acknowledgement.
    Mra(MraRepr<'a>),
    /// Reject.
    Rej(RejRepr<'a>),
    /// Connection reply.
    Rep(RepRepr<'a>),
    /// Ready to use.
    Rtu(IdsRepr<'a>),
    /// Disconnect request.
    Dreq(DreqRepr<'a>),
    /// Disconnect reply.
    Drep(IdsRepr<'a>),
}

impl<'a> Message<'a> {
    /// Decodes CM class data (at least 232 bytes) of the given attribute.
    /// Attributes without a decoder here (SIDR, LAP, APR, ClassPortInfo,
    /// unknown) are refused.
    pub fn parse(attr_id: AttributeId, data: &'a [u8]) -> Result<Message<'a>> {
        Ok(match attr_id {
            AttributeId::Req => Message::Req(ReqRepr::parse(&ReqPacket::new_checked(data)?)?),
            AttributeId::Mra => Message::Mra(MraRepr::parse(&MraPacket::new_checked(data)?)?),
            AttributeId::Rej => Message::Rej(RejRepr::parse(&RejPacket::new_checked(data)?)?),
            AttributeId::Rep => Message::Rep(RepRepr::parse(&RepPacket::new_checked(data)?)?),
            AttributeId::Rtu => Message::Rtu(IdsRepr::parse(&IdsPacket::new_checked(data)?)?),
            AttributeId::Dreq => Message::Dreq(DreqRepr::parse(&DreqPacket::new_checked(data)?)?),
            AttributeId::Drep => Message::Drep(IdsRepr::parse(&IdsPacket::new_checked(data)?)?),
            _ => return Err(Error),
        })
    }

    /// The MAD attribute ID of this message.
    pub fn attr_id(&self) -> AttributeId {
        match self {
            Message::Req(_) => AttributeId::Req,
            Message::Mra(_) => AttributeId::Mra,
            Message::Rej(_) => AttributeId::Rej,
            Message::Rep(_) => AttributeId::Rep,
            Message::Rtu(_) => AttributeId::Rtu,
            Message::Dreq(_) => AttributeId::Dreq,
            Message::Drep(_) => AttributeId::Drep,
        }
    }

    /// Message length: always 232.
    pub const fn buffer_len(&self) -> usize {
        MSG_LEN
    }

    /// Writes all 232 bytes of class data into the start of `data`.
    ///
    /// # Panics
    /// If `data` is shorter than 232 bytes.
    pub fn emit(&self, data: &mut [u8]) {
        match self {
            Message::Req(r) => r.emit(&mut ReqPacket::new_unchecked(data)),
            Message::Mra(r) => r.emit(&mut MraPacket::new_unchecked(data)),
            Message::Rej(r) => r.emit(&mut RejPacket::new_unchecked(data)),
            Message::Rep(r) => r.emit(&mut RepPacket::new_unchecked(data)),
            Message::Rtu(r) | Message::Drep(r) => r.emit(&mut IdsPacket::new_unchecked(data)),
            Message::Dreq(r) => r.emit(&mut DreqPacket::new_unchecked(data)),
        }
    }
}

/// A whole CM MAD: the transaction ID and the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Transaction ID (one per exchange: the REP and RTU reuse the REQ's).
    pub tid: u64,
    /// The message.
    pub message: Message<'a>,
}

impl<'a> Repr<'a> {
    /// Decodes a 256-byte MAD: BaseVersion 1, class CM, ClassVersion 2,
    /// method Send, and an attribute decoded by [`Message::parse`]. Status,
    /// ClassSpecific and AttributeModifier are ignored.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &mad::Packet<&'a T>) -> Result<Repr<'a>> {
        let header = mad::Repr::parse(packet)?;
        if header.mgmt_class != MgmtClass::Cm
            || header.class_version != mad::CM_CLASS_VERSION
            || header.method != Method::Send
        {
            return Err(Error);
        }
        let message = Message::parse(AttributeId::from(header.attr_id), packet.data())?;
        Ok(Repr {
            tid: header.tid,
            message,
        })
    }

    /// MAD length: always 256.
    pub const fn buffer_len(&self) -> usize {
        mad::MAD_LEN
    }

    /// Writes the whole 256-byte MAD.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut mad::Packet<T>) {
        mad::Repr::cm_send(self.tid, self.message.attr_id().into()).emit(packet);
        self.message.emit(packet.data_mut());
    }
}

// -------------------------------------------------------------- rdma_cm ----

/// rdma_cm port space of TCP-like (RC) connections.
pub const RDMA_PS_TCP: u16 = 0x0106;

/// The service ID rdma_cm listens on for `port` in the TCP port space:
/// `0x0000_0000_0106_0000 | port`.
pub const fn rdma_cm_service_id(port: u16) -> u64 {
    ((RDMA_PS_TCP as u64) << 16) | port as u64
}

/// The port of an rdma_cm TCP-port-space service ID; `None` for any other
/// service ID (top 32 bits must be zero and bits 31:16 must be 0x0106).
pub const fn rdma_cm_port(service_id: u64) -> Option<u16> {
    if service_id >> 16 == RDMA_PS_TCP as u64 {
        Some(service_id as u16)
    } else {
        None
    }
}

mod cma {
    use core::ops::Range;
    pub const VERSION: usize = 0;
    pub const IP_VERSION: usize = 1;
    pub const PORT: Range<usize> = 2..4;
    pub const SRC_ADDR: Range<usize> = 4..20;
    pub const DST_ADDR: Range<usize> = 20..36;
    /// IPv4 addresses sit in the last 4 bytes of each 16-byte slot.
    pub const V4_PAD: usize = 12;
}

/// Length of the rdma_cm header at the front of REQ private data.
pub const CMA_HEADER_LEN: usize = cma::DST_ADDR.end;
/// REQ private data left for the consumer after the rdma_cm header.
pub const CMA_USER_DATA_LEN: usize = REQ_PRIVATE_DATA_LEN - CMA_HEADER_LEN;
/// The only rdma_cm header version.
pub const CMA_VERSION: u8 = 0;

/// A view of the 36-byte rdma_cm header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmaHeaderPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CmaHeaderPacket<T> {
    /// Wraps a buffer without checking it (for output buffers).
    pub const fn new_unchecked(buffer: T) -> Self {
        CmaHeaderPacket { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures the 36-byte header is present.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < CMA_HEADER_LEN {
            Err(Error)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Header version (0).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[cma::VERSION]
    }

    /// IP version, from the high nibble (4 or 6).
    pub fn ip_version(&self) -> u8 {
        self.buffer.as_ref()[cma::IP_VERSION] >> 4
    }

    /// The active side's port.
    pub fn src_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[cma::PORT])
    }

    /// Source IPv4 address (last 4 bytes of its slot).
    pub fn src_addr_v4(&self) -> Ipv4Address {
        Ipv4Address::from_bytes(&self.buffer.as_ref()[cma::SRC_ADDR][cma::V4_PAD..])
    }

    /// Destination IPv4 address (last 4 bytes of its slot).
    pub fn dst_addr_v4(&self) -> Ipv4Address {
        Ipv4Address::from_bytes(&self.buffer.as_ref()[cma::DST_ADDR][cma::V4_PAD..])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CmaHeaderPacket<T> {
    /// Sets the version byte.
    pub fn set_version(&mut self, value: u8) {
        self.buffer.as_mut()[cma::VERSION] = value
    }

    /// Sets the IP version (high nibble; the low nibble becomes 0).
    pub fn set_ip_version(&mut self, value: u8) {
        self.buffer.as_mut()[cma::IP_VERSION] = value << 4
    }

    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[cma::PORT], value)
    }

    /// Stores an IPv4 source address (12 zero bytes, then the address).
    pub fn set_src_addr_v4(&mut self, value: Ipv4Address) {
        let slot = &mut self.buffer.as_mut()[cma::SRC_ADDR];
        slot[..cma::V4_PAD].fill(0);
        slot[cma::V4_PAD..].copy_from_slice(&value.0);
    }

    /// Stores an IPv4 destination address (12 zero bytes, then the address).
    pub fn set_dst_addr_v4(&mut self, value: Ipv4Address) {
        let slot = &mut self.buffer.as_mut()[cma::DST_ADDR];
        slot[..cma::V4_PAD].fill(0);
        slot[cma::V4_PAD..].copy_from_slice(&value.0);
    }
}

/// The meaning of an rdma_cm header, IPv4 form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmaHeaderRepr {
    /// The active side's port (any value; recorded as the peer port).
    pub src_port: u16,
    /// The active side's IPv4 address.
    pub src_addr: Ipv4Address,
    /// The passive side's IPv4 address.
    pub dst_addr: Ipv4Address,
}

impl CmaHeaderRepr {
    /// Validates a checked header: version 0 and IPv4 (IPv6 is refused).
    /// The 12 bytes in front of each address are ignored, as Linux does.
    pub fn parse<T: AsRef<[u8]>>(packet: &CmaHeaderPacket<T>) -> Result<CmaHeaderRepr> {
        packet.check_len()?;
        if packet.version() != CMA_VERSION || packet.ip_version() != 4 {
            return Err(Error);
        }
        Ok(CmaHeaderRepr {
            src_port: packet.src_port(),
            src_addr: packet.src_addr_v4(),
            dst_addr: packet.dst_addr_v4(),
        })
    }

    /// Header length: always 36.
    pub const fn buffer_len(&self) -> usize {
        CMA_HEADER_LEN
    }

    /// Writes all 36 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut CmaHeaderPacket<T>) {
        packet.set_version(CMA_VERSION);
        packet.set_ip_version(4);
        packet.set_src_port(self.src_port);
        packet.set_src_addr_v4(self.src_addr);
        packet.set_dst_addr_v4(self.dst_addr);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // The 232 bytes of CM data of golden frames 5 (REQ), 6 (REP), 7 (RTU),
    // 1767 (DREQ) and 1768 (DREP); trailing zeros are implied.
    static REQ: &[u8] = &[
        0x79, 0x3f, 0xd5, 0x9e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x06, 0x13,
        0x88, 0x50, 0x54, 0x00, 0xff, 0xfe, 0x77, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x11, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa1, 0x95,
        0x3c, 0x7b, 0xa7, 0xff, 0xff, 0x37, 0xf0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xc0, 0xa8, 0x4d, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xc0, 0xa8, 0x4d, 0x01, 0x9c, 0x82,
        0x10, 0x00, 0x00, 0x40, 0x00, 0x98, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0xd4, 0x47, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x4d, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x4d, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x80, 0x00, 0x00, 0x00, 0x20, 0x44, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x54, 0x00, 0xff, 0xfe, 0x77, 0x00, 0x02, 0x50, 0x54,
        0x00, 0xff, 0xfe, 0x77, 0x00, 0x01, 0x50, 0x54, 0x00, 0xff, 0xfe, 0x77, 0x00, 0x01, 0x00,
        0x44,
    ];
    static REP: &[u8] = &[
        0x1f, 0x16, 0xe4, 0xcb, 0x79, 0x3f, 0xd5, 0x9e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x29, 0xb8, 0x71, 0x00, 0x04, 0x04, 0x79, 0xe0, 0x50, 0x54,
        0x00, 0xff, 0xfe, 0x77, 0x00, 0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x54, 0x00, 0x00, 0x20, 0x44,
        0x00, 0x06, 0x80,
    ];
    static RTU: &[u8] = &[0x79, 0x3f, 0xd5, 0x9e, 0x1f, 0x16, 0xe4, 0xcb];
    static DREQ: &[u8] = &[
        0x79, 0x3f, 0xd5, 0x9e, 0x1f, 0x16, 0xe4, 0xcb, 0x00, 0x00, 0x11, 0x00,
    ];
    static DREP: &[u8] = &[0x1f, 0x16, 0xe4, 0xcb, 0x79, 0x3f, 0xd5, 0x9e];

    fn full(prefix: &[u8]) -> [u8; MSG_LEN] {
        let mut m = [0u8; MSG_LEN];
        m[..prefix.len()].copy_from_slice(prefix);
        m
    }

    fn round_trip(attr: AttributeId, golden: &[u8; MSG_LEN]) -> Message<'_> {
        let msg = Message::parse(attr, golden).unwrap();
        assert_eq!(msg.attr_id(), attr);
        let mut out = [0xA5u8; MSG_LEN];
        msg.emit(&mut out);
        assert_eq!(&out[..], &golden[..], "{attr:?} re-emits bit for bit");
        msg
    }

    #[test]
    fn golden_req() {
        let data = full(REQ);
        let Message::Req(r) = round_trip(AttributeId::Req, &data) else {
            panic!()
        };
        assert_eq!(r.local_comm_id, 0x793fd59e);
        assert_eq!(r.service_id, 0x0000_0000_0106_1388);
        assert_eq!(rdma_cm_port(r.service_id), Some(5000));
        assert_eq!(r.local_ca_guid, 0x5054_00ff_fe77_0002);
        assert_eq!(r.local_qkey, 0);
        assert_eq!(r.local_qpn, 0x11);
        assert_eq!(r.responder_resources, 4);
        assert_eq!(r.initiator_depth, 0);
        assert_eq!(r.remote_cm_response_timeout, 20);
        assert_eq!(r.transport_type, TransportType::Rc);
        assert!(r.e2e_flow_control);
        assert_eq!(r.starting_psn, 0x953c7b);
        assert_eq!(r.local_cm_response_timeout, 20);
        assert_eq!(r.retry_count, 7);
        assert_eq!(r.pkey, 0xffff);
        assert_eq!(r.path_mtu, PathMtu::Mtu1024);
        assert_eq!(r.path_mtu.bytes(), Some(1024));
        assert!(!r.rdc_exists);
        assert_eq!(r.rnr_retry_count, 7);
        assert_eq!(r.max_cm_retries, 15);
        assert!(!r.srq);
        let p = r.primary_path;
        assert_eq!((p.local_lid, p.remote_lid), (0xffff, 0xffff));
        assert_eq!(
            p.local_gid,
            Gid::from_ipv4(Ipv4Address::new(192, 168, 77, 2))
        );
        assert_eq!(
            p.remote_gid.to_ipv4(),
            Some(Ipv4Address::new(192, 168, 77, 1))
        );
        assert_eq!(p.flow_label, 0x9c821);
        assert_eq!(p.packet_rate, 0);
        assert_eq!(p.traffic_class, 0);
        assert_eq!(p.hop_limit, 64);
        assert_eq!(p.sl, 0);
        assert!(!p.subnet_local);
        assert_eq!(p.local_ack_timeout, 19);
        assert_eq!(r.alternate_path, None);
        assert_eq!(r.private_data.len(), REQ_PRIVATE_DATA_LEN);

        let cma =
            CmaHeaderRepr::parse(&CmaHeaderPacket::new_checked(r.private_data).unwrap()).unwrap();
        assert_eq!(
            cma,
            CmaHeaderRepr {
                src_port: 54343,
                src_addr: Ipv4Address::new(192, 168, 77, 2),
                dst_addr: Ipv4Address::new(192, 168, 77, 1),
            }
        );
        let mut out = [0xA5u8; CMA_HEADER_LEN];
        cma.emit(&mut CmaHeaderPacket::new_unchecked(&mut out[..]));
        assert_eq!(out[..], r.private_data[..CMA_HEADER_LEN]);
    }

    #[test]
    fn golden_rep() {
        let data = full(REP);
        let Message::Rep(r) = round_trip(AttributeId::Rep, &data) else {
            panic!()
        };
        assert_eq!(r.local_comm_id, 0x1f16e4cb);
        assert_eq!(r.remote_comm_id, 0x793fd59e);
        assert_eq!(r.local_qkey, 0);
        assert_eq!(r.local_qpn, 0x11);
        assert_eq!(r.local_eecn, 0);
        assert_eq!(r.starting_psn, 0x29b871);
        assert_eq!(r.responder_resources, 4);
        assert_eq!(r.initiator_depth, 4);
        assert_eq!(r.target_ack_delay, 15);
        assert_eq!(r.failover_accepted, 0);
        assert!(r.e2e_flow_control);
        assert_eq!(r.rnr_retry_count, 7);
        assert!(!r.srq);
        assert_eq!(r.local_ca_guid, 0x5054_00ff_fe77_0001);
        assert_eq!(r.private_data.len(), REP_PRIVATE_DATA_LEN);
        assert_eq!(r.private_data[0], 0xc0, "SRP_LOGIN_RSP");
    }

    #[test]
    fn golden_rtu_dreq_drep() {
        let data = full(RTU);
        let Message::Rtu(r) = round_trip(AttributeId::Rtu, &data) else {
            panic!()
        };
        assert_eq!(
            (r.local_comm_id, r.remote_comm_id),
            (0x793fd59e, 0x1f16e4cb)
        );
        assert_eq!(r.private_data.len(), RTU_PRIVATE_DATA_LEN);

        let data = full(DREQ);
        let Message::Dreq(r) = round_trip(AttributeId::Dreq, &data) else {
            panic!()
        };
        assert_eq!(
            (r.local_comm_id, r.remote_comm_id, r.remote_qpn),
            (0x793fd59e, 0x1f16e4cb, 0x11)
        );
        assert_eq!(r.private_data.len(), DREQ_PRIVATE_DATA_LEN);

        let data = full(DREP);
        let Message::Drep(r) = round_trip(AttributeId::Drep, &data) else {
            panic!()
        };
        assert_eq!(
            (r.local_comm_id, r.remote_comm_id),
            (0x1f16e4cb, 0x793fd59e)
        );
        assert_eq!(r.private_data.len(), DREP_PRIVATE_DATA_LEN);
    }

    #[test]
    fn rej_and_mra() {
        // The capture has neither; build them, then read them back.
        let login_rej = [0xc2, 0, 0, 0, 0x00, 0x01, 0x00, 0x03];
        let rej = RejRepr {
            local_comm_id: 0x1234_5678,
            remote_comm_id: 0x793fd59e,
            message_rejected: MessageKind::Req,
            reject_info_len: 0,
            reason: RejectReason::ConsumerDefined,
            ari: &[],
            private_data: &login_rej,
        };
        let mut data = [0xA5u8; MSG_LEN];
        Message::Rej(rej).emit(&mut data);
        assert_eq!(&data[8..12], &[0x00, 0x00, 0x00, 28]);
        assert!(data[12..84].iter().all(|&b| b == 0));
        assert_eq!(&data[84..92], &login_rej);
        assert!(data[92..].iter().all(|&b| b == 0));
        let Message::Rej(back) = Message::parse(AttributeId::Rej, &data).unwrap() else {
            panic!()
        };
        assert_eq!(back.reason, RejectReason::ConsumerDefined);
        assert_eq!(back.message_rejected, MessageKind::Req);
        assert_eq!(&back.private_data[..8], &login_rej);
        assert_eq!(back.ari.len(), REJ_ARI_LEN);
        assert_eq!(back.ari_info(), &[] as &[u8]);

        // Bit placement of the REJ flags, and an unknown reason kept.
        data[8] = 0x80; // message rejected = other
        data[9] = 0x10 << 1; // reject info length 16
        data[10..12].copy_from_slice(&[0x01, 0x00]);
        let Message::Rej(odd) = Message::parse(AttributeId::Rej, &data).unwrap() else {
            panic!()
        };
        assert_eq!(odd.message_rejected, MessageKind::Other);
        assert_eq!(odd.reject_info_len, 16);
        assert_eq!(odd.ari_info().len(), 16);
        assert_eq!(odd.reason, RejectReason::Unknown(0x100));
        let mut again = [0u8; MSG_LEN];
        Message::Rej(odd).emit(&mut again);
        assert_eq!(again, data);

        let mra = MraRepr {
            local_comm_id: 1,
            remote_comm_id: 2,
            message_mraed: MessageKind::Rep,
            service_timeout: 21,
            private_data: &[],
        };
        let mut data = [0xA5u8; MSG_LEN];
        Message::Mra(mra).emit(&mut data);
        assert_eq!(&data[..10], &[0, 0, 0, 1, 0, 0, 0, 2, 0x40, 21 << 3]);
        assert!(data[10..].iter().all(|&b| b == 0));
        assert_eq!(
            Message::parse(AttributeId::Mra, &data),
            Ok(Message::Mra(MraRepr {
                private_data: &data[10..],
                ..mra
            }))
        );
    }

    #[test]
    fn alternate_path_round_trip() {
        let golden = full(REQ);
        let mut data = golden;
        let Message::Req(mut r) = Message::parse(AttributeId::Req, &golden).unwrap() else {
            panic!()
        };
        let alt = PathRepr {
            local_lid: 1,
            remote_lid: 2,
            local_gid: Gid::link_local([1, 2, 3, 4, 5, 6, 7, 8]),
            remote_gid: Gid([0xAB; 16]),
            flow_label: 0xFFFFF,
            packet_rate: 0x3F,
            traffic_class: 0x12,
            hop_limit: 0xFE,
            sl: 0xF,
            subnet_local: true,
            local_ack_timeout: 31,
        };
        r.alternate_path = Some(alt);
        Message::Req(r).emit(&mut data);
        assert_eq!(
            &data[132..140],
            &[0xFF, 0xFF, 0xF0, 0x3F, 0x12, 0xFE, 0xF8, 0xF8]
        );
        let Message::Req(back) = Message::parse(AttributeId::Req, &data).unwrap() else {
            panic!()
        };
        assert_eq!(back.alternate_path, Some(alt));
        assert_eq!(alt.local_gid.interface_id(), 0x0102_0304_0506_0708);
    }

    #[test]
    fn rejects() {
        let data = full(REQ);
        for attr in [
            AttributeId::Req,
            AttributeId::Mra,
            AttributeId::Rej,
            AttributeId::Rep,
            AttributeId::Rtu,
            AttributeId::Dreq,
            AttributeId::Drep,
        ] {
            for len in 0..MSG_LEN {
                assert_eq!(
                    Message::parse(attr, &data[..len]),
                    Err(Error),
                    "{attr:?} {len}"
                );
            }
            assert!(Message::parse(attr, &data[..]).is_ok());
        }
        for attr in [0x0001, 0x0017, 0x0018, 0x0019, 0x001A, 0x0020, 0xFFFF] {
            assert_eq!(
                Message::parse(AttributeId::from(attr), &data[..]),
                Err(Error)
            );
        }
    }

    #[test]
    fn whole_mad() {
        let mut mad_bytes = [0u8; mad::MAD_LEN];
        mad_bytes[..24].copy_from_slice(&[
            0x01, 0x07, 0x02, 0x03, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x9e, 0xd5, 0x3f, 0x79, 0x00, 0x10,
            0, 0, 0, 0, 0, 0,
        ]);
        mad_bytes[24..24 + REQ.len()].copy_from_slice(REQ);
        let packet = mad::Packet::new_checked(&mad_bytes[..]).unwrap();
        let repr = Repr::parse(&packet).unwrap();
        assert_eq!(repr.tid, 0x2_9ed5_3f79);
        assert!(matches!(repr.message, Message::Req(_)));
        let mut out = [0xA5u8; mad::MAD_LEN];
        repr.emit(&mut mad::Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, mad_bytes);

        for (at, value) in [(0, 2u8), (1, 0x03), (2, 1), (3, 0x81), (17, 0x17)] {
            let mut bad = mad_bytes;
            bad[at] = value;
            let packet = mad::Packet::new_checked(&bad[..]).unwrap();
            assert_eq!(Repr::parse(&packet), Err(Error), "byte {at} = {value:#x}");
        }
    }

    #[test]
    fn rdma_cm_service_ids() {
        assert_eq!(rdma_cm_service_id(5000), 0x0000_0000_0106_1388);
        assert_eq!(rdma_cm_port(0x0000_0000_0106_1388), Some(5000));
        assert_eq!(rdma_cm_port(0x0000_0000_0111_1388), None, "UDP port space");
        assert_eq!(rdma_cm_port(0x0000_0001_0106_1388), None);
        assert_eq!(
            rdma_cm_port(0x5054_00ff_fe77_0001),
            None,
            "an SRP IB service ID"
        );
    }

    #[test]
    fn cma_header_rejects() {
        let good = &full(REQ)[140..176];
        for len in 0..CMA_HEADER_LEN {
            assert_eq!(CmaHeaderPacket::new_checked(&good[..len]), Err(Error));
        }
        let mut v6 = [0u8; CMA_HEADER_LEN];
        v6.copy_from_slice(good);
        v6[1] = 0x60;
        assert_eq!(
            CmaHeaderRepr::parse(&CmaHeaderPacket::new_unchecked(&v6[..])),
            Err(Error)
        );
        let mut ver = [0u8; CMA_HEADER_LEN];
        ver.copy_from_slice(good);
        ver[0] = 1;
        assert_eq!(
            CmaHeaderRepr::parse(&CmaHeaderPacket::new_unchecked(&ver[..])),
            Err(Error)
        );
    }

    #[test]
    fn gids_and_mtus() {
        let g = Gid::from_ipv4(Ipv4Address::new(192, 168, 77, 2));
        assert_eq!(format!("{g}"), "0000:0000:0000:0000:0000:ffff:c0a8:4d02");
        assert_eq!(Gid::link_local([0; 8]).to_ipv4(), None);
        assert_eq!(PathMtu::from(5).bytes(), Some(4096));
        assert_eq!(PathMtu::from(1).bytes(), Some(256));
        assert_eq!(PathMtu::from(0).bytes(), None);
        assert_eq!(PathMtu::from(6).bytes(), None);
    }
}
