//! Host-side helpers shared by the srpboot tools and their tests.
pub mod bench;
pub mod images;
pub mod lio;
pub mod netdev;
pub mod qemu;
pub mod romtool;
pub mod sanboot;
pub mod srp_host;
pub mod srptarget;
