# srpboot ROM: header and the real-mode entry stubs. Nothing else lives here.
#
# Execution model (docs/architecture.md, "ROM memory map"):
#   * The image is linked at 0. SeaBIOS copies it to a shadow segment (for
#     example ca00) and far-calls `init16` at offset 3 during POST.
#   * init16 takes _alloc_kb KiB of base memory from the BDA word 40:13, copies
#     the image there (the "RAM copy") and runs everything else from it: the
#     shadow becomes read-only after POST.
#   * Rust runs in 32-bit protected mode. `pm_call` switches modes with a GDT
#     whose segment bases equal the RAM copy's linear address, so link-time
#     offsets stay valid pointers. Interrupts are off while in protected mode.
#   * Every entry (init, BCV, INT 13h) switches to our own stack in the RAM
#     copy, so SS == CS == RAM segment and ESP < 64 KiB (linker asserts).

    .set SEL_CODE32, 0x08
    .set SEL_DATA32, 0x10
    .set SEL_CODE16, 0x18
    .set SEL_DATA16, 0x20
    .set BDA_SEG,    0x40
    .set BDA_BASEMEM_KB, 0x13

    .section .header, "ax"
    .code16
    .globl rom_header
rom_header:
    .byte 0x55, 0xaa
    .byte 0                         # size in 512-byte units (romtool)
    jmp init16                      # offset 3: init entry
    .org 0x18
    .word pcir_header
    .word pnp_header

    .balign 4
pcir_header:
    .ascii "PCIR"
    .word 0x1af4                    # vendor (romtool --vendor)
    .word 0x1000                    # device (romtool --device)
    .word 0                         # device list pointer
    .word 0x18                      # structure length
    .byte 0                         # structure revision
    .byte 0x00, 0x00, 0x02          # class code: network controller (prog-if, sub, base)
    .word 0                         # image length in 512-byte units (romtool)
    .word 1                         # code revision
    .byte 0                         # code type: x86 PC-AT compatible
    .byte 0x80                      # indicator: last image
    .word 0                         # reserved

    .balign 16                      # some BIOSes scan for $PnP on 16-byte boundaries
pnp_header:
    .ascii "$PnP"
    .byte 1                         # revision
    .byte 2                         # length in 16-byte units
    .word 0                         # next header
    .byte 0                         # reserved
    .byte 0                         # checksum (romtool)
    .long 0                         # device identifier
    .word manufacturer_str
    .word product_str
    .byte 0x01, 0x80, 0x00          # device type: mass storage, other
    .byte 0x44                      # indicators: may be shadowed, IPL device
    .word bcv16                     # boot connection vector
    .word 0                         # disconnect vector
    .word 0                         # bootstrap entry vector
    .word 0                         # reserved
    .word 0                         # static resource information vector

manufacturer_str:
    .asciz "srpboot project"
    .globl product_str
product_str:
    .asciz "srpboot SAN disk (SRP over RoCEv2)"

# Variables shared by the shadow stubs and the RAM copy. The shadow copy must
# keep its byte sum: `ram_seg` is written together with `ram_seg_sum_fix`,
# which holds the byte-wise negation (SeaBIOS re-checks the checksum after
# init and drops a ROM whose sum changed).
    .balign 2
    .globl ram_seg
ram_seg:            .word 0
ram_seg_sum_fix:    .word 0

    .section .text16, "ax"
    .code16

# ---------------------------------------------------------------------------
# POST init: far-called by the BIOS with AX = PCI bus/devfn.
init16:
    pushfl
    cli
    pushal
    pushw %ds
    pushw %es
    pushw %fs
    pushw %gs
    cld
    movw %ax, %dx                   # PCI bus/devfn, kept for rust_init
    movw %cs, %bp                   # shadow segment, reported in the banner

    # Take base memory: 40:13 -= _alloc_kb; our segment = new KiB * 64.
    movw $BDA_SEG, %ax
    movw %ax, %ds
    movw BDA_BASEMEM_KB, %ax
    subw $_alloc_kb, %ax
    movw %ax, BDA_BASEMEM_KB
    shlw $6, %ax

    # Record the segment in the shadow with checksum compensation.
    movw %ax, %cs:ram_seg
    movb %al, %bl
    negb %bl
    movb %bl, %cs:ram_seg_sum_fix
    movb %ah, %bl
    negb %bl
    movb %bl, %cs:ram_seg_sum_fix+1

    # Copy the whole image (including the variable just written).
    movw %ax, %es
    pushw %cs
    popw %ds
    xorw %si, %si
    xorw %di, %di
    movw $_rom_end, %cx
    rep movsb

    # Continue in the RAM copy.
    pushw %ax
    pushw $init16_ram
    lretw

init16_ram:
    # Patch the GDT: every descriptor's base = linear address of the RAM copy.
    movzwl %cs:ram_seg, %eax
    shll $4, %eax
    movl %eax, %cs:ram_base
    movw $gdt + 8, %bx
1:  movw %ax, %cs:2(%bx)            # base 15..0
    movl %eax, %ecx
    shrl $16, %ecx
    movb %cl, %cs:4(%bx)            # base 23..16
    movb %ch, %cs:7(%bx)            # base 31..24
    addw $8, %bx
    cmpw $gdt_end, %bx
    jb 1b
    addl $gdt, %eax
    movl %eax, %cs:gdt_desc+2

    movw %bp, %ax                   # argument: shadow segment << 16 | bus/devfn
    shll $16, %eax
    movw %dx, %ax
    movl $rust_init, %edx
    pushw %cs
    pushw $2f
    jmp ram_trampoline
2:
    popw %gs
    popw %fs
    popw %es
    popw %ds
    popal
    popfl
    lretw

# ---------------------------------------------------------------------------
# Boot connection vector: far-called by the BIOS from the shadow copy, before
# INT 19h, with ES:DI -> our PnP header. Runs rust_bcv in the RAM copy.
bcv16:
    pushfl
    cli
    pushal
    pushw %ds
    pushw %es
    pushw %fs
    pushw %gs
    cld
    xorl %eax, %eax
    movl $rust_bcv, %edx
    pushw %cs                       # return address: 1f in this segment
    pushw $1f
    pushw %cs:ram_seg               # target: ram_trampoline in the RAM copy
    pushw $ram_trampoline
    lretw
1:
    popw %gs
    popw %fs
    popw %es
    popw %ds
    popal
    popfl
    lretw

# ---------------------------------------------------------------------------
# ram_trampoline (in the RAM copy, entered by a far call/"lret" trick):
# EAX = argument, EDX = Rust function. Switches to our stack, runs the
# function in protected mode, prints any text it queued for the screen
# through INT 10h, returns far. Clobbers general registers.
ram_trampoline:
    movw %ss, %cs:tramp_ss
    movl %esp, %cs:tramp_esp
    movw %cs, %cx
    movw %cx, %ss
    movl $_stack_top, %esp
    calll pm_call
    call flush_screen
    movw %cs:tramp_ss, %ss
    movl %cs:tramp_esp, %esp
    lretw

# Print the bytes Rust queued in `screen_buf` with INT 10h teletype. Only
# used during POST/BCV: inside INT 13h the video state belongs to the loader.
flush_screen:
    movw %cs, %ax
    movw %ax, %ds
    movw $screen_buf, %si
    movw screen_len, %cx
    jcxz 2f
1:  lodsb
    pushw %cx
    pushw %si
    movb $0x0e, %ah
    movw $0x0007, %bx
    int $0x10
    popw %si
    popw %cx
    loop 1b
    movw $0, screen_len
2:  ret

# ---------------------------------------------------------------------------
# INT 13h entry in the RAM copy, with the "$INT13SF" safe-hook header that
# MEMDISK, GRUB4DOS and WinVBlock use to walk the hook chain.
    .balign 2
    .globl int13_entry
int13_entry:
    jmp int13_body
    nop
    .ascii "$INT13SF"
    .ascii "SRPBOOT "
    .globl old_int13
old_int13:  .long 0                 # previous handler, offset then segment
    .long 0                         # safe-hook flags

int13_body:
    movw %ax, %cs:int13_ax
    movw %ss, %ax
    movw %ax, %cs:int13_ss
    movl %esp, %cs:int13_esp
    movw %cs, %ax
    movw %ax, %ss
    movl $_stack_top, %esp
    movw %cs:int13_ax, %ax

    # Frame for Rust (struct Int13Frame in src/bios/regs.rs), lowest first:
    # gs fs es ds | edi esi ebp esp ebx edx ecx eax | flags | action
    pushl $0                        # action: bit0 = carry, bit1 = chain
    pushl $0                        # caller FLAGS, filled below
    pushal
    pushw %ds
    pushw %es
    pushw %fs
    pushw %gs
    cld
    # Caller FLAGS from its iret frame (ss:sp+4), for Rust to see.
    pushw %ds
    pushw %bp
    movw %cs:int13_ss, %ds
    movw %cs:int13_esp, %bp
    movw %ds:4(%bp), %ax
    movw %ax, %ss:(4+8+32)(%esp)    # 4 bytes pushed above the frame
    popw %bp
    popw %ds

    movl %esp, %eax                 # &mut Int13Frame (SS base == DS base)
    movl $rust_int13, %edx
    calll pm_call

    popw %gs
    popw %fs
    popw %es
    popw %ds
    popal
    addl $4, %esp                   # flags slot (Rust reports CF via action)
    popl %cs:int13_action
    movw %cs:int13_ss, %ss
    movl %cs:int13_esp, %esp
    testb $2, %cs:int13_action
    jnz 3f
    # Handled: set the caller's CF in its iret frame, then return.
    pushw %bp
    movw %sp, %bp
    andb $0xfe, 6(%bp)
    testb $1, %cs:int13_action
    jz 1f
    orb $1, 6(%bp)
1:  popw %bp
    iret
3:  # Not ours: chain to the previous handler with the caller's registers.
    ljmp *%cs:old_int13

# ---------------------------------------------------------------------------
# pm_call: EAX = argument, EDX = 32-bit Rust function (extern "C" fn(u32) -> u32).
# Must be entered with SS = CS = RAM segment and ESP inside it. Returns EAX.
# Preserves segment registers and FLAGS; clobbers general registers.
pm_call:
    pushfl
    cli
    pushw %ds
    pushw %es
    pushw %fs
    pushw %gs
    lgdtl %cs:gdt_desc
    movl %cr0, %ecx
    orb $1, %cl
    movl %ecx, %cr0
    ljmpl $SEL_CODE32, $pm_call32

    .code32
pm_call32:
    movw $SEL_DATA32, %cx
    movw %cx, %ds
    movw %cx, %es
    movw %cx, %fs
    movw %cx, %gs
    movw %cx, %ss                   # same base as before: ESP stays valid
    pushl %eax
    call *%edx
    addl $4, %esp
    ljmp $SEL_CODE16, $pm_call16

    .code16
pm_call16:
    movw $SEL_DATA16, %cx           # 64 KiB limits: leave no big-real mode behind
    movw %cx, %ds
    movw %cx, %es
    movw %cx, %fs
    movw %cx, %gs
    movw %cx, %ss
    movl %cr0, %ecx
    andb $0xfe, %cl
    movl %ecx, %cr0
    pushw %cs:ram_seg
    pushw $pm_call_rm
    lretw
pm_call_rm:
    movw %cs, %cx
    movw %cx, %ss
    popw %gs
    popw %fs
    popw %es
    popw %ds
    popfl
    retl

# ---------------------------------------------------------------------------
    .section .data, "aw"
    .balign 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff        # 0x08 code32, 4 GiB, base patched
    .quad 0x00cf92000000ffff        # 0x10 data32, 4 GiB, base patched
    .quad 0x00009a000000ffff        # 0x18 code16, 64 KiB, base patched
    .quad 0x000092000000ffff        # 0x20 data16, 64 KiB, base patched
gdt_end:
    .balign 4
gdt_desc:
    .word gdt_end - gdt - 1
    .long 0                         # linear address of gdt (patched)

    .globl ram_base
ram_base:       .long 0             # linear address of the RAM copy
tramp_esp:      .long 0
tramp_ss:       .word 0
int13_ax:       .word 0
int13_ss:       .word 0
    .balign 4
int13_esp:      .long 0
int13_action:   .long 0


# Text queued by Rust for the screen (zeroed with the rest of .bss by rust_init).
    .section .bss, "aw", @nobits
    .globl screen_len
    .globl screen_buf
    .balign 2
screen_len:     .skip 2
screen_buf:     .skip 1024

    # Leave the assembler as we found it for the Rust code that follows.
    .text
    .code32
