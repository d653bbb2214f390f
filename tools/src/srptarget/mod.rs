//! `srp-target`: an SRP target over RoCEv2 in user space, on the shared
//! fabric stack (soft HCA, CM passive side), so that any machine can serve a
//! disk image to booting machines. LIO `ib_srpt` is the reference.
//!
//! | file | role |
//! |---|---|
//! | [`lun`] | image files as LUNs: read-only, per-initiator copy-on-write overlays, fdatasync |
//! | [`scsi`] | SCSI semantics (INQUIRY/VPD, READ CAPACITY, READ/WRITE, SYNCHRONIZE CACHE, MODE SENSE, REPORT LUNS, sense) |
//! | [`target`] | SRP: login checks and ACL, credits, SRP_CMD/TSK_MGMT, data-in/out, SRP_RSP; the fabric is behind [`target::Io`] |
//! | [`sim`] | an in-process initiator for tests and the fuzzer |
//!
//! The core (`lun`, `scsi`, `target`) never touches the network, so every
//! protocol and SCSI rule is tested in-process.

pub mod inprocess;
pub mod lun;
pub mod options;
pub mod scsi;
pub mod server;
pub mod sim;
pub mod target;

pub use self::lun::{Lun, LunConfig, LunError};
pub use self::target::{
    ChanId, Counters, Io, IoError, LoginLayout, LoginOutcome, Target, TargetConfig,
};
