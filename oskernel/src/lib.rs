//! srpboot OS boot driver core (no_std). After the BIOS is gone it finds the
//! boot firmware table the ROM left, reconnects the same SRP session and serves
//! block I/O under boot-driver rules. Work starts with the SAN boot issue.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
