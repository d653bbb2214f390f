//! When the SAN disk reads ahead of its INT 13h caller.
//!
//! Loaders read a kernel or an initrd as a run of equal calls, each starting
//! where the last ended, and every call would otherwise wait one network
//! round trip before its first byte (docs/architecture.md, "Speed"). Once
//! a call continues the previous one, the disk asks for the *next two*
//! calls' ranges as well, behind this call's own command (two keep the
//! target ahead of us; a third gained nothing); when such a call comes,
//! the read already on the wire is moved into its buffer
//! (`fabric::channel::Channel::rebind`) instead of being asked for then.
//!
//! A call that is exactly the read ahead takes it over (rebind: it is one
//! SRP command of the same length); a call inside it (a shorter read at the
//! end of a file) waits for it and copies its part out. Anything else (a
//! jump, a write) ends the run; the read ahead is then waited for and
//! dropped.

/// Tracks the run of sequential reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Planner {
    /// Where the last read ended, if the last call was a read.
    run_end: Option<u64>,
}

impl Planner {
    pub const fn new() -> Self {
        Planner { run_end: None }
    }

    /// A read of `count` blocks at `lba` is starting. Returns where the
    /// read-aheads start (`lba`, `count`: the next equal call; the disk
    /// keeps more of the same length behind it) if this call continues a
    /// run and that next call fits on the disk and in `max_blocks` (one
    /// command, one read-ahead buffer).
    pub fn on_read(
        &mut self,
        lba: u64,
        count: u32,
        disk_blocks: u64,
        max_blocks: u32,
    ) -> Option<(u64, u32)> {
        let continues = self.run_end == Some(lba);
        let end = lba.checked_add(u64::from(count));
        self.run_end = end;
        let next_end = end?.checked_add(u64::from(count))?;
        (continues && count > 0 && count <= max_blocks && next_end <= disk_blocks)
            .then_some((end?, count))
    }

    /// Anything but a read ends the run.
    pub fn on_other(&mut self) {
        self.run_end = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_continued_run_reads_ahead() {
        let mut p = Planner::new();
        assert_eq!(
            p.on_read(0, 127, 10_000, 128),
            None,
            "first call: no run yet"
        );
        assert_eq!(p.on_read(127, 127, 10_000, 128), Some((254, 127)));
        assert_eq!(p.on_read(254, 127, 10_000, 128), Some((381, 127)));
        assert_eq!(
            p.on_read(5000, 127, 10_000, 128),
            None,
            "a jump ends the run"
        );
        assert_eq!(p.on_read(5127, 1, 10_000, 128), Some((5128, 1)));
        p.on_other();
        assert_eq!(p.on_read(5128, 1, 10_000, 128), None, "a write in between");
    }

    #[test]
    fn the_next_call_must_fit_the_disk_and_one_command() {
        let mut p = Planner::new();
        p.on_read(0, 100, 300, 128);
        assert_eq!(p.on_read(100, 100, 300, 128), Some((200, 100)));
        assert_eq!(p.on_read(200, 100, 300, 128), None, "would pass the end");
        let mut p = Planner::new();
        p.on_read(0, 200, 10_000, 128);
        assert_eq!(p.on_read(200, 200, 10_000, 128), None, "over one command");
        let mut p = Planner::new();
        p.on_read(u64::MAX - 10, 5, u64::MAX, 128);
        assert_eq!(p.on_read(u64::MAX - 5, 5, u64::MAX, 128), None, "overflow");
        assert_eq!(p.on_read(0, 0, 10, 128), None);
    }
}
