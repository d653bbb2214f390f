//! An in-process initiator for tests and the fuzzer: [`SimIo`] plays the
//! fabric under one channel (initiator memory regions by rkey, SENDs
//! collected, RDMA completing at once or when released), and [`Sim`] drives a
//! [`Target`] through login, commands and responses without a network.

use std::collections::{HashMap, VecDeque};

use fabric::wire::scsi::{Cdb, Lun as ScsiLun};
use fabric::wire::srp::{
    BufferFormats, CmdPacket, CmdRepr, CmdSolNot, DataBuffer, DirectDesc, LoginReqFlags,
    LoginReqRdmaPacket, LoginReqRepr, MultiChannelAction, PortId, RspPacket, RspRepr, Tag,
    TaskAttr, LINUX_IMM_DATA_OFFSET,
};

use super::target::{ChanId, Io, IoError, LoginLayout, LoginOutcome, Target};

/// The fabric under one simulated channel.
#[derive(Debug, Default)]
pub struct SimIo {
    /// Initiator memory: rkey → (va, bytes).
    pub regions: HashMap<u32, (u64, Vec<u8>)>,
    /// IUs the target sent, oldest first.
    pub sent: VecDeque<Vec<u8>>,
    /// Finished work requests: (wr_id, ok, READ data).
    pub done: VecDeque<(u64, bool, Option<Vec<u8>>)>,
    /// Work requests the fabric accepts before saying Busy (`None`: any).
    pub room_limit: Option<usize>,
    /// Posted work requests not yet completed (counts against the room).
    pub in_flight: usize,
    /// The target asked to disconnect.
    pub disconnected: bool,
    /// An RDMA access failed: a real QP would be in error now.
    pub failed: bool,
    /// Work requests posted, by kind.
    pub writes: u64,
    /// RDMA READs posted.
    pub reads: u64,
}

impl SimIo {
    fn access(&mut self, va: u64, rkey: u32, len: usize) -> Option<(&mut Vec<u8>, usize)> {
        let (base, bytes) = self.regions.get_mut(&rkey)?;
        let off = usize::try_from(va.checked_sub(*base)?).ok()?;
        (off.checked_add(len)? <= bytes.len()).then_some((bytes, off))
    }
}

impl Io for SimIo {
    fn room(&self) -> usize {
        match self.room_limit {
            Some(n) => n.saturating_sub(self.in_flight),
            None => usize::MAX,
        }
    }
    fn send(&mut self, iu: &[u8]) -> Result<(), IoError> {
        if self.room() == 0 {
            return Err(IoError::Busy);
        }
        self.sent.push_back(iu.to_vec());
        Ok(())
    }
    fn rdma_write(&mut self, wr_id: u64, data: &[u8], va: u64, rkey: u32) -> Result<(), IoError> {
        if self.room() == 0 {
            return Err(IoError::Busy);
        }
        self.writes += 1;
        self.in_flight += 1;
        let ok = match self.access(va, rkey, data.len()) {
            Some((bytes, off)) => {
                bytes[off..off + data.len()].copy_from_slice(data);
                true
            }
            None => false,
        };
        self.failed |= !ok;
        self.done.push_back((wr_id, ok, None));
        Ok(())
    }
    fn rdma_read(&mut self, wr_id: u64, va: u64, rkey: u32, len: u32) -> Result<(), IoError> {
        if self.room() == 0 {
            return Err(IoError::Busy);
        }
        self.reads += 1;
        self.in_flight += 1;
        let data = self
            .access(va, rkey, len as usize)
            .map(|(b, off)| b[off..off + len as usize].to_vec());
        self.failed |= data.is_none();
        self.done.push_back((wr_id, data.is_some(), data));
        Ok(())
    }
    fn disconnect(&mut self) {
        self.disconnected = true;
    }
}

/// A decoded SRP_RSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The raw IU.
    pub raw: Vec<u8>,
    /// Tag.
    pub tag: Tag,
    /// Status byte.
    pub status: u8,
    /// Credits returned.
    pub req_lim_delta: u32,
    /// (key, asc, ascq) of the sense, if any.
    pub sense: Option<(u8, u8, u8)>,
    /// Data-in residual: positive = underflow, negative = overflow.
    pub data_in_residual: i64,
    /// Data-out residual (same convention).
    pub data_out_residual: i64,
    /// Response data (task management).
    pub response_data: Option<Vec<u8>>,
}

impl Response {
    /// Parses an SRP_RSP.
    pub fn parse(raw: &[u8]) -> Option<Response> {
        let p = RspPacket::new_checked(raw).ok()?;
        let r = RspRepr::parse(&p).ok()?;
        let res = |x: fabric::wire::srp::Residual| match x {
            fabric::wire::srp::Residual::None => 0,
            fabric::wire::srp::Residual::Underflow(n) => i64::from(n),
            fabric::wire::srp::Residual::Overflow(n) => -i64::from(n),
        };
        Some(Response {
            raw: raw.to_vec(),
            tag: r.tag,
            status: r.status.into(),
            req_lim_delta: r.req_lim_delta,
            sense: r.sense().map(|s| (u8::from(s.key), s.asc, s.ascq)),
            data_in_residual: res(r.data_in_residual),
            data_out_residual: res(r.data_out_residual),
            response_data: r.response_data.map(<[u8]>::to_vec),
        })
    }
}

/// The data phase of a simulated command.
#[derive(Debug, Clone)]
pub enum Data<'a> {
    /// No data.
    None,
    /// Data-in into a fresh buffer of this many bytes.
    In(usize),
    /// Data-out by RDMA READ from a buffer holding these bytes.
    Out(&'a [u8]),
    /// Data-out as immediate data.
    Immediate(&'a [u8]),
}

/// A simulated initiator logged in to a target.
pub struct Sim {
    /// The target.
    pub target: Target,
    /// The fabric.
    pub io: SimIo,
    /// The channel.
    pub chan: ChanId,
    next_tag: u64,
    next_key: u32,
    /// Credits the initiator holds.
    pub credits: i64,
    /// Complete RDMA at once (else the test releases them).
    pub auto_complete: bool,
}

/// The login request Linux ib_srp sends (rdma_cm layout), for `initiator`
/// to a target with `guid`.
pub fn login_req(initiator: PortId, guid: u64) -> [u8; LoginReqRepr::RDMA_LEN] {
    let r = LoginReqRepr {
        tag: Tag::default(),
        req_it_iu_len: 8260,
        buffer_formats: BufferFormats::DIRECT | BufferFormats::INDIRECT,
        multi_channel: MultiChannelAction::Single,
        flags: LoginReqFlags::IMMED_REQUESTED,
        imm_data_offset: LINUX_IMM_DATA_OFFSET,
        initiator_port_id: initiator,
        target_port_id: PortId::new(guid, guid),
    };
    let mut b = [0u8; LoginReqRepr::RDMA_LEN];
    r.emit_rdma(&mut LoginReqRdmaPacket::new_unchecked(&mut b[..]));
    b
}

impl Sim {
    /// Logs `initiator` in to `target`.
    ///
    /// # Errors
    /// The login outcome when it was a rejection.
    pub fn login(
        mut target: Target,
        initiator: PortId,
    ) -> Result<Sim, Box<(Target, LoginOutcome)>> {
        let guid = target.config().guid;
        let out = target.login("sim", &login_req(initiator, guid), LoginLayout::RdmaCm);
        match out {
            LoginOutcome::Accepted { chan, rsp, .. } => {
                let credits = i64::from(u32::from_be_bytes([rsp[4], rsp[5], rsp[6], rsp[7]]));
                Ok(Sim {
                    target,
                    io: SimIo::default(),
                    chan,
                    next_tag: 1,
                    next_key: 0x100,
                    credits,
                    auto_complete: true,
                })
            }
            o => Err(Box::new((target, o))),
        }
    }

    /// Registers a buffer; returns (va, rkey).
    pub fn region(&mut self, bytes: Vec<u8>) -> (u64, u32) {
        let key = self.next_key;
        self.next_key += 1;
        let va = 0x1000_0000 + u64::from(key) * 0x1_0000_0000;
        self.io.regions.insert(key, (va, bytes));
        (va, key)
    }

    /// The bytes of a region.
    pub fn region_bytes(&self, rkey: u32) -> &[u8] {
        &self.io.regions[&rkey].1
    }

    /// Sends a raw IU.
    pub fn send_raw(&mut self, iu: &[u8]) {
        self.target.on_message(self.chan, iu, &mut self.io);
        self.pump();
    }

    /// Delivers completions until none are left (when `auto_complete`).
    pub fn pump(&mut self) {
        while self.auto_complete {
            if !self.complete_one() {
                break;
            }
        }
        self.target.flush(self.chan, &mut self.io);
    }

    /// Delivers one completion; `false` when none was pending.
    pub fn complete_one(&mut self) -> bool {
        let Some((wr, ok, data)) = self.io.done.pop_front() else {
            return false;
        };
        self.io.in_flight = self.io.in_flight.saturating_sub(1);
        self.target
            .on_completion(self.chan, wr, ok, data.as_deref(), &mut self.io);
        true
    }

    /// Takes the oldest SRP_RSP the target sent.
    pub fn take_response(&mut self) -> Option<Response> {
        let raw = self.io.sent.pop_front()?;
        let r = Response::parse(&raw)?;
        self.credits += i64::from(r.req_lim_delta);
        Some(r)
    }

    /// Builds an SRP_CMD for `cdb` on `lun` with `data`; returns the IU, its
    /// tag and the data-in rkey.
    pub fn build(
        &mut self,
        lun: ScsiLun,
        cdb: &[u8],
        data: &Data<'_>,
    ) -> (Vec<u8>, Tag, Option<u32>) {
        let tag = Tag::from_u64(self.next_tag);
        self.next_tag += 1;
        let mut key_in = None;
        let (data_out, data_in) = match data {
            Data::None => (DataBuffer::None, DataBuffer::None),
            Data::In(n) => {
                let (va, rkey) = self.region(vec![0xEE; *n]);
                key_in = Some(rkey);
                (
                    DataBuffer::None,
                    DataBuffer::Direct(DirectDesc {
                        va,
                        rkey,
                        len: *n as u32,
                    }),
                )
            }
            Data::Out(b) => {
                let (va, rkey) = self.region(b.to_vec());
                (
                    DataBuffer::Direct(DirectDesc {
                        va,
                        rkey,
                        len: b.len() as u32,
                    }),
                    DataBuffer::None,
                )
            }
            Data::Immediate(b) => (
                DataBuffer::Immediate {
                    offset: LINUX_IMM_DATA_OFFSET,
                    data: b,
                },
                DataBuffer::None,
            ),
        };
        let c = CmdRepr {
            sol_not: CmdSolNot::empty(),
            tag,
            lun,
            task_attr: TaskAttr::Simple,
            cdb,
            data_out,
            data_in,
        };
        let mut buf = vec![0u8; c.buffer_len()];
        c.emit(&mut CmdPacket::new_unchecked(&mut buf[..]));
        (buf, tag, key_in)
    }

    /// Runs one command to its response; returns it and the data-in bytes.
    pub fn command(&mut self, lun: ScsiLun, cdb: &[u8], data: Data<'_>) -> (Response, Vec<u8>) {
        let (iu, tag, key_in) = self.build(lun, cdb, &data);
        self.credits -= 1;
        self.send_raw(&iu);
        let r = self.take_response().expect("the target answered");
        assert_eq!(r.tag, tag, "response for another tag");
        let mut bytes = key_in
            .map(|k| self.io.regions.remove(&k).expect("region").1)
            .unwrap_or_default();
        // Only what the target transferred (an underflow leaves the rest).
        if r.data_in_residual > 0 {
            bytes.truncate(bytes.len().saturating_sub(r.data_in_residual as usize));
        }
        (r, bytes)
    }

    /// Runs a [`Cdb`] on LUN 0.
    pub fn cdb(&mut self, cdb: Cdb, data: Data<'_>) -> (Response, Vec<u8>) {
        let b = cdb.to_padded();
        self.command(ScsiLun::ZERO, &b, data)
    }
}
