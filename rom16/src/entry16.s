# srpboot ROM: header and the real-mode entry stubs. Nothing else lives here.
#
# Execution model (docs/architecture.md, "ROM memory map"):
#   * The image is linked at 0. SeaBIOS copies it to a shadow segment (for
#     example ca00) and far-calls `init16` at offset 3 during POST.
#   * Two copies run. The "low copy" in base memory (_low_kb KiB taken from
#     BDA 40:13) holds only [0, _low_end): header, these stubs, their
#     variables and GDT, plus the screen queue and a small real-mode stack
#     (addresses from the linker script). The "body" — the whole image plus
#     .bss and the protected-mode stack — lives in a block of extended memory
#     from the BIOS's POST Memory Manager. SeaBIOS wipes 0x7000-0x90000 before
#     booting, so base memory can only hold a few KiB of ours.
#   * The image carries the 32-bit body packed (romfmt/src/pack/mod.rs). At POST
#     `load_body` (.init16, run from the shadow, never copied to base memory)
#     fills the body: the image's unpacked part as it is, the rest unpacked
#     to its link offsets.
#   * Rust runs in 32-bit protected mode. `pm_call` switches modes with a GDT
#     whose 32-bit code/data bases are the body's linear address (so
#     link-time offsets are valid pointers) and whose 16-bit bases are the
#     low copy's. Interrupts are off while in protected mode.
#   * Variables both sides use are set before the body copy is finished; the
#     ones Rust writes for the stubs (screen queue, previous INT 13h vector)
#     are written into the low copy by physical address.

    .set SEL_CODE32, 0x08
    .set SEL_DATA32, 0x10
    .set SEL_CODE16, 0x18
    .set SEL_DATA16, 0x20
    .set SEL_FLAT,   0x28           # base 0, 4 GiB: the body copy at init
    .set COM1,       0x3f8
    .set BDA_SEG,    0x40
    .set BDA_BASEMEM_KB, 0x13
    .set DMA_BYTES, 80 * 1024       # NIC DMA region (rom16/src/nichal.rs DMA_LEN)

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

# The low copy's segment, for the shadow's BCV stub. The shadow copy must
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

    # Take base memory for the low copy: 40:13 -= _low_kb.
    movw $BDA_SEG, %ax
    movw %ax, %ds
    movw BDA_BASEMEM_KB, %ax
    subw $_low_kb, %ax
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

    # Copy the low part and continue there.
    movw %ax, %es
    pushw %cs
    popw %ds
    xorw %si, %si
    xorw %di, %di
    movw $_low_end, %cx
    rep movsb
    pushw %ax
    pushw $init16_low
    lretw

init16_low:
    movw %cs, %ax
    movw %ax, %ds
    movzwl %ax, %eax
    shll $4, %eax
    movl %eax, low_base

    call pmm_find
    jc 8f
    # The body: image + .bss + stack, 4 KiB aligned (Rust statics need
    # their alignment to hold in linear addresses too).
    movl $_body_paras + 256, %eax
    call pmm_alloc
    testl %eax, %eax
    jz 8f
    addl $4095, %eax
    andl $0xfffff000, %eax
    movl %eax, ram_base
    # NIC DMA (may fail; the NIC code says so).
    movl $(DMA_BYTES + 4096) / 16, %eax
    call pmm_alloc
    movl %eax, pmm_dma_block

    # GDT: 32-bit code/data at the body, 16-bit code/data at the low copy.
    movl ram_base, %eax
    movw $gdt + 0x08, %bx
    call gdt_set_base
    movw $gdt + 0x10, %bx
    call gdt_set_base
    movl low_base, %eax
    movw $gdt + 0x18, %bx
    call gdt_set_base
    movw $gdt + 0x20, %bx
    call gdt_set_base
    movl $gdt, %eax
    addl low_base, %eax
    movl %eax, gdt_desc+2

    # Body = the image as linked (load_body, run from the shadow).
    pushw %cs
    pushw $1f
    pushw %bp
    pushw $load_body
    lretw
1:
    movb $1, installed

    movw %bp, %ax                   # argument: shadow segment << 16 | bus/devfn
    shll $16, %eax
    movw %dx, %ax
    movl $rust_init, %edx
    pushw %cs
    pushw $9f
    jmp ram_trampoline

8:  movw $no_pmm_msg, %si
    call rm_print
9:
    popw %gs
    popw %fs
    popw %es
    popw %ds
    popal
    popfl
    lretw

# EAX = linear base, BX = descriptor: patches the descriptor's base fields.
gdt_set_base:
    movw %ax, 2(%bx)
    movl %eax, %ecx
    shrl $16, %ecx
    movb %cl, 4(%bx)
    movb %ch, 7(%bx)
    ret

# Finds the PMM entry ("$PMM" on a paragraph in E000-FFFF with a valid
# checksum) into pmm_entry. CF set if there is none. DS = low copy on entry
# and exit.
pmm_find:
    pushw %ds
    movw $0xe000, %ax
1:  movw %ax, %ds
    cmpl $0x4d4d5024, 0             # "$PMM"
    jne 2f
    movzbw 5, %cx                   # length in bytes
    jcxz 2f
    xorw %si, %si
    xorb %bl, %bl
3:  addb (%si), %bl
    incw %si
    loop 3b
    testb %bl, %bl
    jz 4f
2:  incw %ax
    jnz 1b
    popw %ds
    stc
    ret
4:  movl 7, %eax                    # entry point, offset then segment
    popw %ds
    movl %eax, pmm_entry
    clc
    ret

# PMM allocate: EAX = paragraphs of extended memory, kept after boot
# (flags: extended | permanent; SeaBIOS leaves permanent blocks E820-
# reserved). Returns EAX = linear address, 0 on failure.
pmm_alloc:
    pushw %dx
    pushw %bp
    pushw %ds
    pushw %es
    pushl %ebx
    pushl %esi
    pushl %edi
    pushw $0x000a                   # flags
    pushl $0xffffffff               # handle: none
    pushl %eax                      # length in paragraphs
    pushw $0                        # function 0: allocate
    lcallw *pmm_entry
    addw $12, %sp
    shll $16, %edx                  # DX:AX = linear address
    movw %ax, %dx
    movl %edx, %eax
    popl %edi
    popl %esi
    popl %ebx
    popw %es
    popw %ds
    popw %bp
    popw %dx
    ret

# Prints the NUL-terminated string at DS:SI on COM1 and the screen.
rm_print:
1:  lodsb
    testb %al, %al
    jz 2f
    movw $COM1, %dx
    outb %al, %dx
    movb $0x0e, %ah
    movw $0x0007, %bx
    int $0x10
    jmp 1b
2:  ret

# ---------------------------------------------------------------------------
# Boot connection vector: far-called by the BIOS from the shadow copy, before
# INT 19h, with ES:DI -> our PnP header. Runs rust_bcv in the body.
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
    pushw %cs:ram_seg               # target: ram_trampoline in the low copy
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
# ram_trampoline (in the low copy, entered by a far call/"lret" trick):
# EAX = argument, EDX = Rust function. Switches to our real-mode stack, runs
# the function in protected mode, prints any text it queued for the screen
# through INT 10h, returns far. Clobbers general registers. Does nothing if
# init could not install the body.
ram_trampoline:
    cmpb $0, %cs:installed
    je 1f
    movw %ss, %cs:tramp_ss
    movl %esp, %cs:tramp_esp
    movw %cs, %cx
    movw %cx, %ss
    movl $_rm_stack_top, %esp
    calll pm_call
    call flush_screen
    movw %cs:tramp_ss, %ss
    movl %cs:tramp_esp, %esp
1:  lretw

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
# INT 13h entry in the low copy, with the "$INT13SF" safe-hook header that
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
    movl $_rm_stack_top, %esp
    movw %cs:int13_ax, %ax

    # Frame for Rust (struct Frame in src/int13.rs), lowest first:
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

    # The frame's address as a pointer in the body's segments (which wrap
    # around 4 GiB): low linear address - body base.
    movl %esp, %eax
    addl %cs:low_base, %eax
    subl %cs:ram_base, %eax
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
# Entered on our real-mode stack in the low copy. Runs the function on the
# body's stack. Returns EAX. Preserves segment registers and FLAGS; clobbers
# general registers.
pm_call:
    pushfl
    cli
    pushw %ds
    pushw %es
    pushw %fs
    pushw %gs
    movl %esp, %cs:pm_rm_esp
    lgdtl %cs:gdt_desc
    movl %cr0, %ecx
    orb $1, %cl
    movl %ecx, %cr0
    ljmpl $SEL_CODE32, $pm_call32

    .code32
pm_call32:                          # runs from the body
    movw $SEL_DATA32, %cx
    movw %cx, %ds
    movw %cx, %es
    movw %cx, %fs
    movw %cx, %gs
    movw %cx, %ss
    movl $_stack_top, %esp
    pushl %eax
    call *%edx
    ljmp $SEL_CODE16, $pm_call16

    .code16
pm_call16:                          # runs from the low copy
    movw $SEL_DATA16, %cx           # 64 KiB limits: leave no big-real mode behind
    movw %cx, %ds
    movw %cx, %es
    movw %cx, %fs
    movw %cx, %gs
    movw %cx, %ss                   # base = low copy: the real-mode stack again
    movl %cs:pm_rm_esp, %esp
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
# Variables of the stubs (in the low part, so the low copy has them).
    .section .data16, "aw"
    .balign 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff        # 0x08 code32, 4 GiB, base = body
    .quad 0x00cf92000000ffff        # 0x10 data32, 4 GiB, base = body
    .quad 0x00009a000000ffff        # 0x18 code16, 64 KiB, base = low copy
    .quad 0x000092000000ffff        # 0x20 data16, 64 KiB, base = low copy
    .quad 0x00cf92000000ffff        # 0x28 flat data, 4 GiB, base 0
gdt_end:
    .balign 4
gdt_desc:
    .word gdt_end - gdt - 1
    .long 0                         # linear address of gdt (patched)

    .balign 4
    .globl ram_base
ram_base:       .long 0             # linear address of the body
    .globl low_base
low_base:       .long 0             # linear address of the low copy
    .globl pmm_dma_block
pmm_dma_block:  .long 0             # PMM block for NIC DMA (0 = none)
pmm_entry:      .long 0
tramp_esp:      .long 0
int13_esp:      .long 0
int13_action:   .long 0
pm_rm_esp:      .long 0
tramp_ss:       .word 0
int13_ax:       .word 0
int13_ss:       .word 0
installed:      .byte 0             # the body is in place
no_pmm_msg:     .asciz "srpboot: no PMM extended memory for the ROM body; not installed\r\n"

# ---------------------------------------------------------------------------
# POST-only code, run from the shadow (after _low_end: never in base memory).
    .section .init16, "ax"
    .code16

# The packed-body descriptor (romfmt/src/pack/mod.rs). romtool build writes it;
# these defaults describe the image as linked, unpacked (`--no-pack`).
    .balign 16
pz_desc:
    .ascii "SRPZ"
    .byte 1                         # format
    .byte 28                        # descriptor length
    .word 0
pz_raw_len:      .long _rom_end     # image [0, raw_len) -> body, as it is
pz_src:          .long 0            # image offset of the packed stream
pz_packed_len:   .long 0
pz_dst:          .long _pack_start  # body offset it unpacks to
pz_unpacked_len: .long 0

# Probability contexts of the packed format (romfmt::pack CTX_*).
    .set PZ_LIT,      0
    .set PZ_KIND,     256
    .set PZ_REP,      258
    .set PZ_OFF,      260
    .set PZ_LEN,      PZ_OFF + 48
    .set PZ_REPLEN,   PZ_LEN + 48
    .set PZ_CONTEXTS, PZ_REPLEN + 48

# load_body: far-called from the shadow's segment with DS = low copy,
# interrupts off. Fills the body block at ram_base: the image's raw part
# from the shadow, the low copy over it (our variables as set so far), then
# the packed part unpacked to its link offset. Uses "unreal mode": DS and ES
# get a flat 4 GiB descriptor cache, then are restored.
load_body:
    pushal
    pushw %ds
    pushw %es
    movl ram_base, %edi
    movl low_base, %edx
    lgdtl gdt_desc
    movl %cr0, %eax
    orb $1, %al
    movl %eax, %cr0
    jmp 1f
1:  movw $SEL_FLAT, %ax
    movw %ax, %ds
    movw %ax, %es
    movl %cr0, %eax
    andb $0xfe, %al
    movl %eax, %cr0
    jmp 2f
2:  xorl %esi, %esi
    movw %si, %ds
    movw %si, %es
    movw %cs, %si
    shll $4, %esi                   # the shadow (linear)
    pushl %esi
    pushl %edi
    movl %cs:pz_raw_len, %ecx
    .byte 0x67                      # addr32: ESI, EDI, ECX
    rep movsb
    popl %edi
    pushl %edi
    movl %edx, %esi
    movl $_low_end, %ecx
    .byte 0x67
    rep movsb
    popl %edi
    popl %esi
    # The decoder's probabilities go where the protected-mode stack will be.
    leal _stack_bottom + 8(%edi), %ebx
    addl %cs:pz_src, %esi
    addl %cs:pz_dst, %edi
    movl %cs:pz_unpacked_len, %ecx
    call unpack
    popw %es
    popw %ds
    popal
    lretw

# unpack: decodes the packed stream (format: romfmt/src/pack/mod.rs) in unreal
# mode (DS = ES = 0 flat). ESI = stream, EDI = output, ECX = output length
# (never written past), EBX = scratch + 8, 4 * PZ_CONTEXTS bytes (-4: end
# of output, -8: last offset). Keeps EBP = range, EDX = code; ECX's upper
# half stays 0 between the string instructions. Clobbers general registers.
unpack:
    leal (%edi,%ecx), %eax
    movl %eax, -4(%ebx)
    movl $1, -8(%ebx)
    pushl %edi
    movl %ebx, %edi
    movl $PZ_CONTEXTS, %ecx
    xorl %eax, %eax
    movb $1024 >> 8, %ah            # probability 1/2
    .byte 0x67
    rep stosl
    popl %edi
    .byte 0x67
    lodsl                           # code: the first 4 bytes, big-endian
    bswapl %eax
    movl %eax, %edx
    orl $-1, %ebp                   # range
pz_after_literal:
    cmpl -4(%ebx), %edi
    jae pz_done
    movw $PZ_KIND, %cx
    call pz_bit
    jnc pz_literal
    movw $PZ_REP, %cx
    call pz_bit
    jnc pz_new
    movw $PZ_REPLEN, %cx
    call pz_num
    jmp pz_copy
pz_after_match:
    cmpl -4(%ebx), %edi
    jae pz_done
    movw $PZ_KIND + 1, %cx
    call pz_bit
    jnc pz_literal
pz_new:
    movw $PZ_OFF, %cx
    call pz_num
    movl %eax, -8(%ebx)
    movw $PZ_LEN, %cx
    call pz_num
    incl %eax
pz_copy:                            # EAX bytes from -8(%ebx) back
    movl -4(%ebx), %ecx
    subl %edi, %ecx
    cmpl %ecx, %eax
    ja 1f
    movl %eax, %ecx                 # ECX = min(length, room left)
1:  pushl %esi
    movl %edi, %esi
    subl -8(%ebx), %esi
    .byte 0x67
    rep movsb
    popl %esi
    jmp pz_after_match
pz_literal:
    movw $PZ_LIT + 1, %cx
1:  call pz_bit
    adcw %cx, %cx
    testb %ch, %ch
    jz 1b
    movb %cl, %al
    .byte 0x67
    stosb
    jmp pz_after_literal
pz_done:
    ret

# One number (interleaved Elias gamma), contexts from ECX: EAX = n.
pz_num:
    pushl %edi
    xorl %edi, %edi
    incl %edi
1:  btl $24, %edi                   # bound for a hostile stream
    jc 2f
    call pz_bit
    jnc 2f
    incw %cx
    call pz_bit
    adcl %edi, %edi
    incw %cx
    jmp 1b
2:  movl %edi, %eax
    popl %edi
    ret

# One bit with context ECX into CF; clobbers EAX. Branch-free after the
# normalisation (conditional moves): fewer translation blocks under TCG.
pz_bit:
    cmpl $0x1000000, %ebp
    jae 1f
    shll $8, %ebp
    shll $8, %edx
    .byte 0x67
    lodsb
    movb %al, %dl
1:  pushl %edi
    movl %ebp, %eax
    shrl $11, %eax
    imull (%ebx,%ecx,4), %eax       # bound = (range >> 11) * p
    subl %eax, %ebp
    movl %edx, %edi
    subl %eax, %edi                 # CF = 1: code < bound, the bit is 0
    cmovbl %eax, %ebp               # 0: range = bound;  1: range -= bound
    cmovael %edi, %edx              # 1: code -= bound
    sbbl %edi, %edi                 # -1 for a 0, 0 for a 1
    movl %edi, %eax
    andl $2048 - 31, %eax
    addl $31, %eax                  # target: 2048 for a 0, 31 for a 1
    subl (%ebx,%ecx,4), %eax
    sarl $5, %eax
    addl %eax, (%ebx,%ecx,4)        # p += (target - p) >> 5
    cmpl $1, %edi                   # CF = the bit
    popl %edi
    ret

    # Leave the assembler as we found it for the Rust code that follows.
    .text
    .code32
