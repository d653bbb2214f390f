//! The ROM's one piece of mutable global state, with its safety contract.
//!
//! The ROM is single-threaded: code runs only inside a `pm_call` from the
//! real-mode stubs, with interrupts off, and calls never nest (INT 13h is
//! not re-entered: we never call the BIOS from protected mode). So at most
//! one `&mut` to the state exists at any time.

use core::cell::UnsafeCell;

/// A cell for statics under the contract above.
pub struct RomCell<T>(UnsafeCell<T>);

// SAFETY: see the module contract — there is only ever one thread.
unsafe impl<T> Sync for RomCell<T> {}

impl<T> RomCell<T> {
    /// Wraps a value.
    pub const fn new(v: T) -> Self {
        RomCell(UnsafeCell::new(v))
    }

    /// Runs `f` with exclusive access. Must not be called re-entrantly
    /// (entry points call it once, at the top).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: single thread, no nesting (module contract).
        f(unsafe { &mut *self.0.get() })
    }
}
