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

/// An optional value in zero-initialised storage: `.bss`, not `.data`.
/// (`RomCell<Option<T>>` of a large `T` whose `None` is not all-zero bytes
/// would put a full-size initialiser into the ROM image.)
pub struct RomSlot<T> {
    full: RomCell<bool>,
    value: RomCell<core::mem::MaybeUninit<T>>,
}

impl<T> RomSlot<T> {
    /// Empty.
    pub const fn empty() -> Self {
        RomSlot {
            full: RomCell::new(false),
            value: RomCell::new(core::mem::MaybeUninit::zeroed()),
        }
    }

    /// Stores `v`, dropping nothing (the ROM never replaces a value).
    pub fn set(&self, v: T) {
        self.value.with(|slot| {
            slot.write(v);
        });
        self.full.with(|f| *f = true);
    }

    /// Runs `f` on the value, or returns `None` while empty. Same
    /// no-nesting rule as [`RomCell::with`].
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if !self.full.with(|f| *f) {
            return None;
        }
        // SAFETY: `full` is only set after `set` initialised the value.
        Some(self.value.with(|slot| f(unsafe { slot.assume_init_mut() })))
    }
}
