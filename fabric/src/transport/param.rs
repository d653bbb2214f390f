//! Limits and defaults of the soft HCA. Values marked "policy" are our
//! choices, not the spec's; the others cite where they come from.

/// rxe's `RXE_MAX_HDR_LENGTH`: headroom subtracted from the netdev MTU when
/// deriving the port MTU (fabric-wire §1.2).
pub const ROCE_MAX_HDR: usize = 80;
/// Largest path MTU (IB MTU 4096).
pub const MAX_PMTU: usize = 4096;
/// IPv4 TTL of everything we send (rxe: the AV hop limit, 64).
pub const DEFAULT_TTL: u8 = 64;

/// ARP cache entries (policy).
pub const ARP_SLOTS: usize = 8;
/// Time between ARP requests for one address (policy).
pub const ARP_RETRY_US: u64 = 250_000;
/// ARP requests before giving up (policy).
pub const ARP_TRIES: u8 = 8;
/// Pending ARP replies we owe (policy; more requests at once are dropped
/// and the asker retries).
pub const ARP_REPLY_QUEUE: usize = 4;

/// Memory-region slots (policy). The key's low byte is the slot index.
pub const MR_SLOTS: usize = 32;

/// Received MADs buffered on QP1 until the CM takes them (policy).
pub const GSI_RX_SLOTS: usize = 8;

/// Incoming RDMA READs remembered for duplicate replay (≥ the 4 responder
/// resources we advertise in the CM; policy).
pub const RD_RES: usize = 8;
/// Ordered responder output (ACKs, NAKs, READ responses) per QP (policy).
pub const RESP_QUEUE: usize = 16;

/// Frames taken from the NIC per `poll` (policy: bounded work).
pub const RX_BUDGET: usize = 64;
/// Frames sent per `poll` (policy: bounded work).
pub const TX_BUDGET: usize = 64;

/// Request packets in flight per QP (rxe allows 128 PSNs; policy, and small
/// enough not to overrun a 32-frame NIC ring in one burst).
pub const DEFAULT_WINDOW: u32 = 24;
/// AckReq also on every this-many packets inside a long message, so the
/// window opens before the message ends (rxe: 64; policy).
pub const ACK_EVERY: u32 = 8;

/// RNR NAK timer code we send when no receive slot is free: 1.28 ms
/// (aeth::rnr_timer_micros; policy).
pub const RNR_TIMER_CODE: u8 = 14;
/// Retransmit timeout of our requester (fabric-wire §7: 100–500 ms; policy).
pub const DEFAULT_RETRANSMIT_US: u64 = 200_000;
/// Transport retries before the QP fails (IBA max 7).
pub const DEFAULT_RETRY_CNT: u8 = 7;
/// RNR retry count meaning "forever" (IBA).
pub const RNR_RETRY_INFINITE: u8 = 7;
