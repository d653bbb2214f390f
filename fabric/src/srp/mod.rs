//! The SRP initiator, in two files that mirror iPXE's `srp.c` / `scsi.c`
//! split (style.md §2):
//!
//! | file | owns | does not know about |
//! |---|---|---|
//! | [`session`] | login over a [`Channel`](crate::channel::Channel), tags, the request limit, the table of outstanding commands, SRP_RSP / T_LOGOUT / AER / CRED_REQ, logout | SCSI opcodes, block sizes |
//! | [`scsi`] | a SCSI block device on one LUN: open (INQUIRY, TEST UNIT READY, READ CAPACITY, block limits), READ/WRITE(10/16), SYNCHRONIZE CACHE, REPORT LUNS, sense → [`scsi::BlockError`], large transfers split into several commands in flight | InfiniBand, RoCE, the CM |
//!
//! Nothing here blocks: `start_*` calls hand back a handle or say `Busy`,
//! `poll(now)` advances, and completions are taken by handle. The readiness
//! window ([`session::Session::window`]) is 0 until login completes and while
//! the target's credits are exhausted, so callers wait rather than fail. The
//! one blocking loop belongs to the front end (ROM `sanboot`, host tools).

pub mod scsi;
pub mod session;

pub use self::scsi::{BlockConfig, BlockDevice, BlockError, DeviceInfo, DeviceState, Transfer};
pub use self::session::{
    CmdHandle, Command, Completion, DataBuf, LoginInfo, LoginLayout, Session, SessionConfig,
    SessionCounters, SessionError, SessionState, StartError,
};

#[cfg(test)]
mod loopback_tests;
#[cfg(test)]
mod tests;
