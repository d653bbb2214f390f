//! Management datagrams: the 24-byte common MAD header and the 232 bytes of
//! class data behind it. A MAD is always 256 bytes and travels as the whole
//! payload of a UD SEND to QP1. The CM class data is decoded by `cm`.

use super::bytes::{
    enum_with_unknown, read_u16, read_u32, read_u64, write_u16, write_u32, write_u64,
};
use super::{Error, Result};

enum_with_unknown! {
    /// Management class.
    pub enum MgmtClass(u8) {
        /// Subnet management, LID routed.
        SubnLid = 0x01,
        /// Subnet administration.
        SubnAdm = 0x03,
        /// Performance management.
        Perf = 0x04,
        /// Baseboard management.
        BoardMgmt = 0x05,
        /// Device management (I/O units, where IB SRP targets advertise).
        DevMgmt = 0x06,
        /// Communication management (connection setup).
        Cm = 0x07,
        /// SNMP tunnelling.
        Snmp = 0x08,
        /// Subnet management, directed route.
        SubnDirectedRoute = 0x81,
    }
}

enum_with_unknown! {
    /// MAD method. Bit 7 marks a response.
    pub enum Method(u8) {
        /// Get.
        Get = 0x01,
        /// Set.
        Set = 0x02,
        /// Send (every CM message uses it).
        Send = 0x03,
        /// Trap.
        Trap = 0x05,
        /// Report.
        Report = 0x06,
        /// TrapRepress.
        TrapRepress = 0x07,
        /// GetResp.
        GetResp = 0x81,
        /// ReportResp.
        ReportResp = 0x86,
    }
}

/// BaseVersion of every MAD this stack speaks.
pub const BASE_VERSION: u8 = 1;
/// ClassVersion of the CM class (what Linux sends and expects).
pub const CM_CLASS_VERSION: u8 = 2;
/// Size of a MAD.
pub const MAD_LEN: usize = 256;

mod field {
    use core::ops::Range;
    pub const BASE_VERSION: usize = 0;
    pub const MGMT_CLASS: usize = 1;
    pub const CLASS_VERSION: usize = 2;
    pub const METHOD: usize = 3;
    pub const STATUS: Range<usize> = 4..6;
    pub const CLASS_SPECIFIC: Range<usize> = 6..8;
    pub const TID: Range<usize> = 8..16;
    pub const ATTR_ID: Range<usize> = 16..18;
    pub const RESERVED: Range<usize> = 18..20;
    pub const ATTR_MOD: Range<usize> = 20..24;
    pub const DATA: Range<usize> = 24..super::MAD_LEN;
}

/// Length of the common MAD header.
pub const HEADER_LEN: usize = field::DATA.start;
/// Length of the class data after the header.
pub const DATA_LEN: usize = MAD_LEN - HEADER_LEN;

/// A read/write view of a MAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it (for output buffers).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Ensures a whole 256-byte MAD is present (bytes after it are ignored).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < MAD_LEN {
            Err(Error)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// BaseVersion.
    pub fn base_version(&self) -> u8 {
        self.buffer.as_ref()[field::BASE_VERSION]
    }

    /// MgmtClass.
    pub fn mgmt_class(&self) -> MgmtClass {
        MgmtClass::from(self.buffer.as_ref()[field::MGMT_CLASS])
    }

    /// ClassVersion.
    pub fn class_version(&self) -> u8 {
        self.buffer.as_ref()[field::CLASS_VERSION]
    }

    /// Method.
    pub fn method(&self) -> Method {
        Method::from(self.buffer.as_ref()[field::METHOD])
    }

    /// Status.
    pub fn status(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::STATUS])
    }

    /// ClassSpecific.
    pub fn class_specific(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CLASS_SPECIFIC])
    }

    /// TransactionID.
    pub fn tid(&self) -> u64 {
        read_u64(&self.buffer.as_ref()[field::TID])
    }

    /// AttributeID (its meaning depends on the class; see `cm::AttributeId`).
    pub fn attr_id(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ATTR_ID])
    }

    /// AttributeModifier.
    pub fn attr_mod(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::ATTR_MOD])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The 232 bytes of class data.
    pub fn data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets BaseVersion.
    pub fn set_base_version(&mut self, value: u8) {
        self.buffer.as_mut()[field::BASE_VERSION] = value
    }

    /// Sets MgmtClass.
    pub fn set_mgmt_class(&mut self, value: MgmtClass) {
        self.buffer.as_mut()[field::MGMT_CLASS] = value.into()
    }

    /// Sets ClassVersion.
    pub fn set_class_version(&mut self, value: u8) {
        self.buffer.as_mut()[field::CLASS_VERSION] = value
    }

    /// Sets Method.
    pub fn set_method(&mut self, value: Method) {
        self.buffer.as_mut()[field::METHOD] = value.into()
    }

    /// Sets Status.
    pub fn set_status(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::STATUS], value)
    }

    /// Sets ClassSpecific.
    pub fn set_class_specific(&mut self, value: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CLASS_SPECIFIC], value)
    }

    /// Sets TransactionID.
    pub fn set_tid(&mut self, value: u64) {
        write_u64(&mut self.buffer.as_mut()[field::TID], value)
    }

    /// Sets AttributeID and clears the reserved field after it.
    pub fn set_attr_id(&mut self, value: u16) {
        let data = self.buffer.as_mut();
        write_u16(&mut data[field::ATTR_ID], value);
        data[field::RESERVED].fill(0);
    }

    /// Sets AttributeModifier.
    pub fn set_attr_mod(&mut self, value: u32) {
        write_u32(&mut self.buffer.as_mut()[field::ATTR_MOD], value)
    }

    /// Mutable class data.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }
}

/// The meaning of a common MAD header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Management class.
    pub mgmt_class: MgmtClass,
    /// Class version.
    pub class_version: u8,
    /// Method.
    pub method: Method,
    /// Status.
    pub status: u16,
    /// Class-specific field.
    pub class_specific: u16,
    /// Transaction ID (a CM exchange keeps its REQ's TID throughout).
    pub tid: u64,
    /// Attribute ID.
    pub attr_id: u16,
    /// Attribute modifier.
    pub attr_mod: u32,
}

impl Repr {
    /// Validates a checked MAD: BaseVersion 1. The reserved field is ignored.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.base_version() != BASE_VERSION {
            return Err(Error);
        }
        Ok(Repr {
            mgmt_class: packet.mgmt_class(),
            class_version: packet.class_version(),
            method: packet.method(),
            status: packet.status(),
            class_specific: packet.class_specific(),
            tid: packet.tid(),
            attr_id: packet.attr_id(),
            attr_mod: packet.attr_mod(),
        })
    }

    /// A CM Send header (class 0x07, version 2, method Send, status 0).
    pub const fn cm_send(tid: u64, attr_id: u16) -> Repr {
        Repr {
            mgmt_class: MgmtClass::Cm,
            class_version: CM_CLASS_VERSION,
            method: Method::Send,
            status: 0,
            class_specific: 0,
            tid,
            attr_id,
            attr_mod: 0,
        }
    }

    /// Header length: always 24 (the whole MAD is [`MAD_LEN`]).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 24-byte header; the class data is left alone.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_base_version(BASE_VERSION);
        packet.set_mgmt_class(self.mgmt_class);
        packet.set_class_version(self.class_version);
        packet.set_method(self.method);
        packet.set_status(self.status);
        packet.set_class_specific(self.class_specific);
        packet.set_tid(self.tid);
        packet.set_attr_id(self.attr_id);
        packet.set_attr_mod(self.attr_mod);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // MAD header of golden frame 5 (CM REQ).
    static HEADER: [u8; 24] = [
        0x01, 0x07, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x9e, 0xd5, 0x3f,
        0x79, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    fn mad() -> [u8; MAD_LEN] {
        let mut m = [0u8; MAD_LEN];
        m[..24].copy_from_slice(&HEADER);
        m
    }

    #[test]
    fn deconstruct() {
        let m = mad();
        let p = Packet::new_checked(&m[..]).unwrap();
        assert_eq!(p.base_version(), 1);
        assert_eq!(p.mgmt_class(), MgmtClass::Cm);
        assert_eq!(p.class_version(), 2);
        assert_eq!(p.method(), Method::Send);
        assert_eq!(p.status(), 0);
        assert_eq!(p.class_specific(), 0);
        assert_eq!(p.tid(), 0x0000_0002_9ed5_3f79);
        assert_eq!(p.attr_id(), 0x0010);
        assert_eq!(p.attr_mod(), 0);
        assert_eq!(p.data().len(), DATA_LEN);
    }

    #[test]
    fn parse_emit_round_trip() {
        let m = mad();
        let repr = Repr::parse(&Packet::new_checked(&m[..]).unwrap()).unwrap();
        assert_eq!(repr, Repr::cm_send(0x0000_0002_9ed5_3f79, 0x0010));
        let mut bytes = [0xA5u8; MAD_LEN];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes[..24], HEADER);
        assert!(bytes[24..].iter().all(|&b| b == 0xA5), "data untouched");
    }

    #[test]
    fn rejects() {
        let m = mad();
        for len in 0..MAD_LEN {
            assert_eq!(Packet::new_checked(&m[..len]), Err(Error));
        }
        let mut bad = mad();
        bad[0] = 2;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bad[..]).unwrap()),
            Err(Error)
        );
    }

    #[test]
    fn unknown_codes_are_kept() {
        let mut m = mad();
        m[1] = 0x30;
        m[3] = 0x15;
        let repr = Repr::parse(&Packet::new_checked(&m[..]).unwrap()).unwrap();
        assert_eq!(repr.mgmt_class, MgmtClass::Unknown(0x30));
        assert_eq!(repr.method, Method::Unknown(0x15));
        let mut out = [0u8; MAD_LEN];
        repr.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out[..24], m[..24]);
    }
}
