//! Access to physical memory below 4 GiB (caller buffers, DAPs, the BDA).
//! The ROM implements it over its flat protected-mode segments; host tests
//! implement it over a byte vector.

/// Physical memory as the INT 13h layer sees it.
pub trait PhysMem {
    /// Copies `dst.len()` bytes from physical address `addr`.
    fn read(&self, addr: u32, dst: &mut [u8]);
    /// Copies `src` to physical address `addr`.
    fn write(&mut self, addr: u32, src: &[u8]);

    /// Reads a byte.
    fn read8(&self, addr: u32) -> u8 {
        let mut b = [0; 1];
        self.read(addr, &mut b);
        b[0]
    }
    /// Reads a little-endian u16.
    fn read16(&self, addr: u32) -> u16 {
        let mut b = [0; 2];
        self.read(addr, &mut b);
        u16::from_le_bytes(b)
    }
    /// Reads a little-endian u32.
    fn read32(&self, addr: u32) -> u32 {
        let mut b = [0; 4];
        self.read(addr, &mut b);
        u32::from_le_bytes(b)
    }
    /// Reads a little-endian u64.
    fn read64(&self, addr: u32) -> u64 {
        let mut b = [0; 8];
        self.read(addr, &mut b);
        u64::from_le_bytes(b)
    }
    /// Writes a byte.
    fn write8(&mut self, addr: u32, v: u8) {
        self.write(addr, &[v]);
    }
    /// Writes a little-endian u16.
    fn write16(&mut self, addr: u32, v: u16) {
        self.write(addr, &v.to_le_bytes());
    }
}

/// Linear address of a real-mode segment:offset pair.
pub fn linear(seg: u16, off: u16) -> u32 {
    ((seg as u32) << 4) + off as u32
}
