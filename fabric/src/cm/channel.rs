//! The [`Channel`] boundary on top of the CM (iPXE's ib_cmrc role): one
//! connection to one target over one RC QP. The first message rides in
//! the REQ (SRP_LOGIN_REQ), the answer comes back as REP or REJ private
//! data, later messages are SENDs, and the peer moves data with RDMA into
//! and out of the regions registered here (and nowhere else).
//!
//! The passive side (a target) uses [`Cm`] directly: `listen`, then
//! `ConnectRequest` events answered by `accept` / `reject`, one
//! [`ConnId`] per initiator; see [`Passive`].

use super::{Cm, CmConfig, CmError, CmEvent, CmState, ConnId, EvKind};
use crate::channel::{Access, Channel, ChannelError, ChannelEvent, ChannelState, RemoteRegion};
use crate::memory::Memory;
use crate::nic::Nic;
use crate::time::Instant;
use crate::transport::{Hca, HcaConfig};
use crate::wire::Ipv4Address;

/// The passive side: a CM listening for several initiators at once.
pub type Passive<N, M, const QPS: usize, const DEPTH: usize, const MSG: usize> =
    Cm<N, M, QPS, DEPTH, MSG>;

/// An initiator's channel: a CM with a single connection to `target`.
pub struct Initiator<N: Nic, M: Memory, const DEPTH: usize, const MSG: usize> {
    cm: Cm<N, M, 1, DEPTH, MSG>,
    target: Ipv4Address,
    port: u16,
    service_id: Option<u64>,
    conn: Option<ConnId>,
    next_wr: u64,
}

impl<N: Nic, M: Memory, const DEPTH: usize, const MSG: usize> Initiator<N, M, DEPTH, MSG> {
    /// A channel to rdma_cm port `port` at `target`, not yet connecting.
    pub fn new(
        nic: N,
        mem: M,
        hca: HcaConfig,
        cm: CmConfig,
        target: Ipv4Address,
        port: u16,
    ) -> Self {
        Initiator {
            cm: Cm::new(nic, mem, hca, cm),
            target,
            port,
            service_id: None,
            conn: None,
            next_wr: 0,
        }
    }

    /// Connects to plain IB CM service ID `id` instead of the rdma_cm
    /// port (`None`: back to the port): the login rides in the REQ private
    /// data as is, up to 92 bytes (the classic 64-byte SRP_LOGIN_REQ).
    /// Takes effect at the next `connect`.
    pub fn set_service_id(&mut self, id: Option<u64>) {
        self.service_id = id;
    }

    /// The path MTU of the current connection (0 when there is none).
    pub fn path_mtu(&self) -> usize {
        self.conn.map_or(0, |c| self.cm.path_mtu(c))
    }

    /// The connection manager underneath.
    pub fn cm(&self) -> &Cm<N, M, 1, DEPTH, MSG> {
        &self.cm
    }

    /// The connection manager underneath, mutably.
    pub fn cm_mut(&mut self) -> &mut Cm<N, M, 1, DEPTH, MSG> {
        &mut self.cm
    }

    /// The HCA underneath (memory, counters).
    pub fn hca(&self) -> &Hca<N, M, 1, DEPTH, MSG> {
        self.cm.hca()
    }

    /// The HCA underneath, mutably.
    pub fn hca_mut(&mut self) -> &mut Hca<N, M, 1, DEPTH, MSG> {
        self.cm.hca_mut()
    }
}

fn channel_error(e: CmError) -> ChannelError {
    match e {
        CmError::WrongState => ChannelError::WrongState,
        CmError::NoResources => ChannelError::NoResources,
        CmError::TooLarge => ChannelError::TooLarge,
        CmError::Busy => ChannelError::Busy,
    }
}

impl<N: Nic, M: Memory, const DEPTH: usize, const MSG: usize> Channel
    for Initiator<N, M, DEPTH, MSG>
{
    fn connect(&mut self, now: Instant, private_data: &[u8]) -> Result<(), ChannelError> {
        if !matches!(self.state(), ChannelState::Idle | ChannelState::Closed(_)) {
            return Err(ChannelError::WrongState);
        }
        let conn = match self.service_id {
            Some(id) => self
                .cm
                .connect_service_id(now, self.target, id, private_data),
            None => self.cm.connect(now, self.target, self.port, private_data),
        }
        .map_err(channel_error)?;
        self.conn = Some(conn);
        Ok(())
    }

    fn state(&self) -> ChannelState {
        let Some(conn) = self.conn else {
            return ChannelState::Idle;
        };
        match self.cm.state(conn) {
            CmState::Free => ChannelState::Idle,
            CmState::Resolving | CmState::ReqSent | CmState::ReqRcvd | CmState::RepSent => {
                ChannelState::Connecting
            }
            CmState::Established => ChannelState::Up,
            CmState::DreqSent => ChannelState::Closing,
            CmState::Closed(r) => ChannelState::Closed(r),
        }
    }

    fn send(&mut self, _now: Instant, msg: &[u8]) -> Result<(), ChannelError> {
        let conn = self.conn.ok_or(ChannelError::WrongState)?;
        if self.state() != ChannelState::Up {
            return Err(ChannelError::WrongState);
        }
        self.next_wr = self.next_wr.wrapping_add(1);
        self.cm.send(conn, self.next_wr, msg).map_err(channel_error)
    }

    fn send_window(&self) -> usize {
        match self.conn {
            Some(conn) if self.state() == ChannelState::Up => self.cm.send_window(conn),
            _ => 0,
        }
    }

    fn register(
        &mut self,
        addr: u64,
        len: u32,
        access: Access,
    ) -> Result<RemoteRegion, ChannelError> {
        self.cm
            .register(addr, len, access)
            .ok_or(ChannelError::NoResources)
    }

    fn deregister(&mut self, region: RemoteRegion) {
        self.cm.deregister(region)
    }

    fn rebind(&mut self, region: RemoteRegion, addr: u64) -> Result<(), ChannelError> {
        if self.cm.rebind(region, addr) {
            Ok(())
        } else {
            Err(ChannelError::WrongState)
        }
    }

    fn disconnect(&mut self, now: Instant) {
        if let Some(conn) = self.conn {
            self.cm.disconnect(now, conn);
        }
    }
    fn abandon(&mut self) {
        if let Some(conn) = self.conn {
            self.cm.abandon(conn);
        }
    }

    fn poll<R>(&mut self, now: Instant, f: impl FnOnce(ChannelEvent<'_>) -> R) -> Option<R> {
        self.cm.step(now);
        loop {
            let kind = self.cm.next_event()?;
            match kind {
                // Send completions only free slots (send_window shows them);
                // a channel has no listener, so no requests either.
                EvKind::Completion(..) | EvKind::Request(_) => {
                    if let EvKind::Request(i) = kind {
                        let _ = self.cm.reject(ConnId(i), 28, &[]);
                    }
                    continue;
                }
                _ => {}
            }
            return Some(self.cm.deliver(kind, |e| match e {
                CmEvent::Established { private_data, .. } => {
                    f(ChannelEvent::Established(private_data))
                }
                CmEvent::Rejected {
                    reason,
                    private_data,
                    ..
                } => f(ChannelEvent::Rejected {
                    reason,
                    private_data,
                }),
                CmEvent::Message { data, .. } => f(ChannelEvent::Message(data)),
                CmEvent::Closed { reason, .. } => f(ChannelEvent::Closed(reason)),
                // Filtered above.
                CmEvent::ConnectRequest { .. } | CmEvent::Completion { .. } => {
                    f(ChannelEvent::Message(&[]))
                }
            }));
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        self.cm.poll_at()
    }
}
