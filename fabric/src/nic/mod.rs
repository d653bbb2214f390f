//! The NIC boundary: one Ethernet frame at a time, never waiting.
//!
//! Drivers (virtio-net, e1000) and test devices (loopback, fault injection)
//! implement [`Nic`]; the software HCA above only ever sees frames.

pub mod e1000;
#[cfg(test)]
mod fakehal;
pub mod hal;
pub mod loopback;
pub mod pci;
pub mod virtio_net;
pub mod virtqueue;

/// A MAC address.
pub type MacAddr = [u8; 6];

/// An Ethernet device that can send and receive whole frames (destination
/// MAC first, no FCS).
pub trait Nic {
    /// Our MAC address.
    fn mac(&self) -> MacAddr;

    /// Largest frame we can send or receive, Ethernet header included
    /// (1514 for a 1500-byte MTU).
    fn max_frame(&self) -> usize;

    /// Hands the next received frame, if any, to `f` and returns its result.
    /// The frame is only borrowed: the buffer goes back to the device after.
    fn receive<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R>;

    /// Lets `f` build a frame of `len` bytes in a transmit buffer and sends
    /// it. Returns `None`, sending nothing, when no buffer is free or `len`
    /// exceeds [`Nic::max_frame`].
    fn transmit<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Option<R>;

    /// The link is up (drivers that cannot tell say `true`).
    fn link_up(&self) -> bool {
        true
    }
}
