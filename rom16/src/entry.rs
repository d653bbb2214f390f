//! The three protected-mode entry points and the panic handler.

use crate::bios::{bda, phys};
use crate::console;

core::arch::global_asm!(include_str!("entry16.s"), options(att_syntax));

extern "C" {
    static mut __bss_start: u8;
    static __bss_end: u8;
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// PCI bus/devfn the BIOS gave us at POST (AX).
static mut PCI_BDF: u16 = 0;

fn zero_bss() {
    // SAFETY: .bss lies between the two linker symbols inside our RAM copy
    // and nothing in it is live yet (the stack is outside .bss).
    unsafe {
        let start = core::ptr::addr_of_mut!(__bss_start);
        let len = core::ptr::addr_of!(__bss_end) as usize - start as usize;
        core::ptr::write_bytes(start, 0, len);
    }
}

/// POST init. `arg` = shadow segment << 16 | the PCI address the BIOS
/// passed in AX.
#[no_mangle]
extern "C" fn rust_init(arg: u32) -> u32 {
    zero_bss();
    console::set_screen(true);
    let bdf = arg as u16;
    // SAFETY: single-threaded; interrupts are off in protected mode.
    unsafe { PCI_BDF = bdf };
    console::str("srpboot ");
    console::str(VERSION);
    console::str(" PCI ");
    print_bdf(bdf);
    console::str(" ROM ");
    console::hex(arg >> 16, 4);
    console::str(" LOW ");
    console::hex(phys::low_base() >> 4, 4);
    console::str(" BODY ");
    console::hex(phys::base(), 8);
    console::str(" (");
    console::dec(bda::base_mem_kb() as u64);
    console::str(" KiB base memory left)\n");
    print_config();
    0
}

fn print_config() {
    use crate::config::{self, Config};
    match config::read() {
        Config::Configured(c) => {
            console::str("srpboot: target ");
            console::str(c.uri);
            console::str(" from ");
            print_ip(c.local_ip.octets());
            console::str("/");
            console::dec(c.prefix_len as u64);
            console::str("\n");
        }
        Config::Unconfigured => console::str(
            "srpboot: no target configured (romtool config ROM --target srp://IP --ip A.B.C.D/N)\n",
        ),
        Config::Corrupt => {
            console::str("srpboot: configuration block is corrupt (romtool verify ROM says why)\n")
        }
    }
}

fn print_ip(o: [u8; 4]) {
    for (i, b) in o.iter().enumerate() {
        if i > 0 {
            console::str(".");
        }
        console::dec(*b as u64);
    }
}

/// Boot connection vector, called once before INT 19h.
#[no_mangle]
extern "C" fn rust_bcv(_unused: u32) -> u32 {
    crate::profile::paint_stack();
    console::set_screen(true);
    #[cfg(feature = "nic-selftest")]
    crate::nicselftest::run(unsafe_pci_bdf());
    crate::disk::attach(unsafe_pci_bdf());
    0
}

/// INT 13h: `frame` points at the registers the stub saved.
#[no_mangle]
extern "C" fn rust_int13(frame: u32) -> u32 {
    crate::profile::pm_entry();
    console::set_screen(false);
    // SAFETY: the stub passes the address of the frame it built on our
    // stack; it stays valid and unaliased until we return.
    let f = unsafe { &mut *(frame as *mut rom16::int13::Frame) };
    crate::disk::int13(f);
    crate::profile::pm_exit();
    0
}

/// PCI bus/devfn of our device (`bus << 8 | dev << 3 | fn`).
pub(crate) fn pci_bdf() -> u16 {
    unsafe_pci_bdf()
}

fn unsafe_pci_bdf() -> u16 {
    // SAFETY: written once in rust_init, read here; single-threaded.
    unsafe { PCI_BDF }
}

fn print_bdf(bdf: u16) {
    console::hex((bdf >> 8) as u32, 2);
    console::str(":");
    console::hex(((bdf >> 3) & 0x1f) as u32, 2);
    console::str(".");
    console::hex((bdf & 7) as u32, 1);
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // No formatting: it would pull core::fmt into the image. A panic is a
    // bug; stop here rather than corrupt a loader's memory.
    console::str("\nsrpboot: internal error (panic); halting\n");
    loop {
        // SAFETY: halting the CPU with interrupts off is the intended end state.
        unsafe { core::arch::asm!("hlt", options(nomem, nostack)) };
    }
}
