//! The boundary between SRP and the fabric below it: a connected, reliable
//! message channel with remote memory access — iPXE's "CMRC" idea. The
//! connection manager plus an RC queue pair implement it; SRP uses it and
//! knows nothing of InfiniBand addressing, PSNs or MADs.
//!
//! Lifecycle: `connect(private_data)` sends the CM REQ whose private data
//! carries the first message (SRP_LOGIN_REQ); the peer's REP or REJ private
//! data comes back through [`ChannelEvent`]. Once `Up`, messages are SENDs on
//! the RC QP, and the peer may RDMA WRITE into / RDMA READ from regions we
//! registered (and only those: key, bounds and access are checked below).

use crate::time::Instant;

/// Remote access rights of a registered region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The peer may RDMA WRITE into it (SRP data-in).
    pub remote_write: bool,
    /// The peer may RDMA READ from it (SRP data-out).
    pub remote_read: bool,
}

/// A registered region as the peer must name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteRegion {
    /// The address the peer puts in its RETH (our "virtual address").
    pub addr: u64,
    /// Remote key.
    pub rkey: u32,
    /// Length in bytes.
    pub len: u32,
}

/// Where the channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// Nothing sent yet, or closed and reusable.
    Idle,
    /// Resolving the peer (ARP) or waiting for REP.
    Connecting,
    /// REP received, RTU sent: messages flow.
    Up,
    /// Disconnect requested or received; draining.
    Closing,
    /// Closed; the reason says why.
    Closed(CloseReason),
}

/// Why a channel closed or failed to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// We asked (DREQ sent and answered, or timed out).
    Local,
    /// The peer sent DREQ.
    Remote,
    /// ARP for the peer went unanswered.
    ArpTimeout,
    /// CM REQ (or its retries) went unanswered.
    CmTimeout,
    /// The peer rejected the connection with this IB CM reason code; the REJ
    /// private data (e.g. SRP_LOGIN_REJ) was delivered as an event first.
    Rejected(u16),
    /// The RC QP gave up: retries exhausted, or a fatal NAK.
    TransportError,
}

/// Something the user of a channel must see.
#[derive(Debug, PartialEq, Eq)]
pub enum ChannelEvent<'a> {
    /// REP arrived: its private data (e.g. SRP_LOGIN_RSP); the channel is Up.
    Established(&'a [u8]),
    /// REJ arrived: its private data (e.g. SRP_LOGIN_REJ).
    Rejected { reason: u16, private_data: &'a [u8] },
    /// A message (SEND) from the peer.
    Message(&'a [u8]),
    /// The channel closed.
    Closed(CloseReason),
}

/// Errors of the calls below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelError {
    /// Not in a state that allows this call.
    WrongState,
    /// No send slot free right now (try after `poll`).
    Busy,
    /// Message, private data or region too large.
    TooLarge,
    /// No free memory-region slot.
    NoResources,
}

/// A reliable, connected message channel with RDMA-able regions.
pub trait Channel {
    /// Starts connecting; `private_data` rides in the CM REQ.
    fn connect(&mut self, now: Instant, private_data: &[u8]) -> Result<(), ChannelError>;
    /// Current state.
    fn state(&self) -> ChannelState;
    /// Queues one message. Fails with `Busy` when the send queue is full.
    fn send(&mut self, now: Instant, msg: &[u8]) -> Result<(), ChannelError>;
    /// Messages that can be queued right now.
    fn send_window(&self) -> usize;
    /// Registers `[addr, addr + len)` of the platform's memory for the peer.
    fn register(
        &mut self,
        addr: u64,
        len: u32,
        access: Access,
    ) -> Result<RemoteRegion, ChannelError>;
    /// Revokes a region: later accesses with its key are refused.
    fn deregister(&mut self, region: RemoteRegion);
    /// Moves a live region to `[addr, addr + region.len)` of platform
    /// memory: what the peer already wrote is copied there, and its later
    /// accesses (still naming `region.addr`) land there. For a read-ahead
    /// whose data is still on the wire when the caller it was for shows up.
    /// `WrongState` if the region is gone or the memory is not usable.
    fn rebind(&mut self, region: RemoteRegion, addr: u64) -> Result<(), ChannelError>;
    /// Starts an orderly disconnect (DREQ).
    fn disconnect(&mut self, now: Instant);
    /// Forgets the connection at once, without the DREQ handshake: the peer
    /// is gone or restarted, and we want to connect again now. The state
    /// becomes `Closed(Local)`; registered regions stay registered.
    fn abandon(&mut self);
    /// Does ready work (receive, ACK, retransmit, timeouts) and hands at most
    /// one event to `f`. Never blocks.
    fn poll<R>(&mut self, now: Instant, f: impl FnOnce(ChannelEvent<'_>) -> R) -> Option<R>;
    /// When `poll` next has timed work to do, if ever.
    fn poll_at(&self) -> Option<Instant>;
}
