; bench13.asm -- INT 13h read benchmark payload (real mode, Pentium+ for RDTSC, x87 for the arithmetic)
;
; Boots from LBA 0 of the benchmark disk (build.sh), loads the rest of itself (LBA 1..PROG_SECTORS-1)
; with AH=42 (fallback AH=02), then, on its boot drive DL:
;   1. calibrates the TSC against PIT channel 2 (3 windows of 50 ms, the shortest wins: host
;      preemption can only make a window longer),
;   2. reads the whole data area (LBA PROG_SECTORS .. TOTAL_SECTORS-1) sequentially with 127-sector
;      AH=42 calls into 1000:0000 (linear 0x10000, below 1 MiB),
;   3. does RAND_N random 1-sector AH=42 reads (LCG x = x*1103515245 + 12345, LBA from x >> 8),
;   4. calibrates again (3 more windows),
; and prints on COM1 (polled, no BIOS):
;   BENCHINFO srpboot-bench v1 dl=80 total=<sectors> data=<sectors> chunk=127 rand_n=<n> edd_sectors=<n|none>
;   BENCH seq_mib_s=<x.x> rand_reads_s=<x.x> bytes=<n> seq_ms=<x.x> rand_n=<n> rand_ms=<x.x> tsc_mhz=<x.x>
;         boot_ms=<x.x> errors=<n>                                    (one line)
; then `out 0xf4, 0x10` (QEMU isa-debug-exit: exit status 33).  A failed self-load exits with 0x11.
;
; Verification, so that a broken path cannot look fast: before every call the first and last
; 16-byte line of the destination range are poisoned; afterwards both must hold the pattern line of
; the expected LBA ("LBA%08x/%03x\n", as build.sh writes it).  Every 64th call the whole first
; sector is compared.  A failed call or a mismatch counts in errors= and the first 4 are described
; on a BENCHERR line (printed right away: an error run is not a timing run).  AH=48's sector count
; must match TOTAL_SECTORS when the call succeeds.
;
; boot_ms: the TSC at the first instruction of this MBR, converted with the calibrated rate.  Under
; QEMU TCG the guest TSC counts host TSC ticks from the moment the VM starts running, so this is
; "VM start -> first sector running" (POST + option ROMs + whatever the boot path needs).
;
; Build: nasm -f bin -DTOTAL_SECTORS=<n> [-DRAND_N=<n>] -o bench13.bin bench13.asm  (build.sh appends the pattern)

        cpu 686
        bits 16
        org 0x7c00

%ifndef TOTAL_SECTORS
%error "define TOTAL_SECTORS (build.sh does)"
%endif
%ifndef RAND_N
%define RAND_N 2048
%endif

PROG_SECTORS    equ 32
DATA_START      equ PROG_SECTORS
DATA_SECTORS    equ TOTAL_SECTORS - DATA_START
CHUNK           equ 127
BUF_SEG         equ 0x1000              ; 1000:0000 = linear 0x10000, 127 sectors end at 0x1FE00
STACK_TOP       equ 0x7c00
PIT_HZ          equ 1193182
CAL_LATCH       equ 59659               ; 50.0 ms of PIT channel 2
CAL_WINDOWS     equ 3
FULL_EVERY      equ 63                  ; mask: whole-sector compare when (call & 63) == 0
MAX_ERRORS      equ 32                  ; stop a phase after this many errors
LCG_SEED        equ 0x53525042          ; "BPRS"

;============================================================================ sector 0 (MBR)
start:
        mov cx, dx                      ; DL = boot drive (RDTSC clobbers EDX)
        rdtsc                           ; VM start -> first sector running
        cli
        xor bx, bx
        mov ds, bx
        mov es, bx
        mov ss, bx
        mov sp, STACK_TOP
        sti
        cld
        mov [tsc_boot], eax
        mov [tsc_boot + 4], edx
        mov [boot_drive], cl
        mov dl, cl
        mov si, boot_dap
        mov ah, 0x42
        int 0x13
        jnc .loaded
        mov ax, 0x0200 | (PROG_SECTORS - 1)   ; no EDD: CHS c0 h0 s2
        mov bx, 0x7e00
        mov cx, 0x0002
        xor dh, dh
        mov dl, [boot_drive]
        int 0x13
        jnc .loaded
        mov si, msg_loadfail
.pr:    lodsb
        test al, al
        jz .die
        mov dx, 0x3f8
        out dx, al
        jmp .pr
.die:   mov al, 0x11
        out 0xf4, al
        hlt
        jmp .die
.loaded:
        jmp main

boot_dap:   db 0x10, 0, PROG_SECTORS - 1, 0
            dw 0x7e00, 0
            dd 1, 0
msg_loadfail: db "BENCHERR load-failed", 13, 10, 0
        align 8
tsc_boot:  dq 0                         ; in sector 0: the self-load overwrites the rest
boot_drive: db 0

        times 0x1b8 - ($ - $$) db 0
        dd 0x48434e42                   ; disk signature "BNCH"
        dw 0
        times 64 db 0                   ; no partitions: loaders are not involved
        dw 0xaa55

;============================================================================ main program
main:
        call uart_init
        fninit
        mov si, s_info
        call puts
        mov al, [boot_drive]
        call hex8
        mov si, s_total
        call puts
        mov eax, TOTAL_SECTORS
        call dec32
        mov si, s_data
        call puts
        mov eax, DATA_SECTORS
        call dec32
        mov si, s_chunk
        call puts
        mov eax, RAND_N
        call dec32
        mov si, s_edd
        call puts
        call edd_check
        call crlf

        call calibrate

        ; ---------------------------------------------------- sequential
        mov dword [cur_lba], DATA_START
        mov dword [left], DATA_SECTORS
        mov dword [calls], 0
        rdtsc
        mov [t0], eax
        mov [t0 + 4], edx
.seq:   mov eax, [left]
        test eax, eax
        jz .seq_done
        cmp eax, CHUNK
        jbe .n
        mov eax, CHUNK
.n:     mov [cnt], ax
        call read_check
        movzx eax, word [cnt]
        add [cur_lba], eax
        sub [left], eax
        inc dword [calls]
        cmp dword [errors], MAX_ERRORS
        jb .seq
.seq_done:
        rdtsc
        sub eax, [t0]
        sbb edx, [t0 + 4]
        mov [seq_tsc], eax
        mov [seq_tsc + 4], edx

        ; ---------------------------------------------------- random 1-sector
        mov dword [lcg], LCG_SEED
        mov dword [calls], 0
        mov word [cnt], 1
        rdtsc
        mov [t0], eax
        mov [t0 + 4], edx
.rnd:   cmp dword [calls], RAND_N
        jae .rnd_done
        mov eax, [lcg]
        imul eax, eax, 1103515245
        add eax, 12345
        mov [lcg], eax
        shr eax, 8
        xor edx, edx
        mov ecx, DATA_SECTORS
        div ecx
        add edx, DATA_START
        mov [cur_lba], edx
        call read_check
        inc dword [calls]
        cmp dword [errors], MAX_ERRORS
        jb .rnd
.rnd_done:
        rdtsc
        sub eax, [t0]
        sbb edx, [t0 + 4]
        mov [rnd_tsc], eax
        mov [rnd_tsc + 4], edx
        mov eax, [calls]
        mov [rnd_done], eax

        call calibrate
        call report
        mov al, 0x10
        out 0xf4, al
.hang:  hlt
        jmp .hang

;============================================================================ I/O
; read_check: AH=42 [cnt] sectors from [cur_lba] into BUF_SEG:0, check the pattern, count errors.
; [calls] selects the occasional whole-sector compare.
read_check:
        pushad
        push es
        mov ax, BUF_SEG
        mov es, ax
        ; poison the first line and the last line of the destination range
        mov dword [es:0], 0xdeadbeef
        movzx ebx, word [cnt]
        shl ebx, 9
        mov dword [es:bx - 16], 0xdeadbeef
        mov byte [dap], 0x10
        mov byte [dap + 1], 0
        mov ax, [cnt]
        mov [dap + 2], ax
        mov word [dap + 4], 0
        mov word [dap + 6], BUF_SEG
        mov eax, [cur_lba]
        mov [dap + 8], eax
        mov dword [dap + 12], 0
        mov si, dap
        mov dl, [boot_drive]
        mov ah, 0x42
        int 0x13
        jnc .ok
        mov [err_ah], ah
        mov si, s_e_read
        call error
        jmp .out
.ok:    xor di, di                      ; first line of the first sector
        mov eax, [cur_lba]
        xor cx, cx
        call check_line
        jne .bad
        movzx edi, word [cnt]           ; last line of the last sector
        shl di, 9
        sub di, 16
        mov eax, [cur_lba]
        movzx ecx, word [cnt]
        lea eax, [eax + ecx - 1]
        mov cx, 0x1f0
        call check_line
        jne .bad
        test dword [calls], FULL_EVERY
        jnz .out
        xor di, di                      ; whole first sector
        xor cx, cx
.full:  mov eax, [cur_lba]
        call check_line
        jne .bad
        add di, 16
        add cx, 16
        cmp cx, 0x200
        jb .full
        jmp .out
.bad:   mov byte [err_ah], 0
        mov si, s_e_pat
        call error
.out:   pop es
        popad
        ret

; check_line: ZF=1 iff the 16 bytes at ES:DI are "LBA<EAX as %08x>/<CX as %03x>\n"
check_line:
        pushad
        mov bx, expline + 3
        mov dx, 8
.h:     rol eax, 4
        push ax
        and al, 0x0f
        call nib
        mov [bx], al
        pop ax
        inc bx
        dec dx
        jnz .h
        inc bx                          ; skip '/': the 3 offset digits
        mov ax, cx
        shr ax, 8
        call nib
        mov [bx], al
        mov ax, cx
        shr al, 4
        call nib
        mov [bx + 1], al
        mov ax, cx
        call nib
        mov [bx + 2], al
        mov si, expline
        mov cx, 16
        repe cmpsb
        popad
        ret

; error: count one; describe the first four on a BENCHERR line (SI = kind text)
error:
        pushad
        inc dword [errors]
        cmp dword [errors], 4
        ja .q
        push si
        mov si, s_err
        call puts
        pop si
        call puts
        mov si, s_e_lba
        call puts
        mov eax, [cur_lba]
        call dec32
        mov si, s_e_cnt
        call puts
        movzx eax, word [cnt]
        call dec32
        mov si, s_e_ah
        call puts
        mov al, [err_ah]
        call hex8
        call crlf
.q:     popad
        ret

; edd_check: print AH=48's sector count (or "none"); a mismatch with TOTAL_SECTORS is an error
edd_check:
        pushad
        mov ah, 0x41
        mov bx, 0x55aa
        mov dl, [boot_drive]
        int 0x13
        jc .none
        cmp bx, 0xaa55
        jne .none
        mov si, eddbuf
        mov word [si], 0x1a
        mov ah, 0x48
        mov dl, [boot_drive]
        int 0x13
        jc .none
        mov eax, [eddbuf + 0x10]
        mov edx, [eddbuf + 0x14]
        call dec32                      ; < 2^32 sectors here; the high dword is checked below
        test edx, edx
        jnz .bad
        cmp eax, TOTAL_SECTORS
        je .q
.bad:   mov si, s_e_mis
        call puts
        inc dword [errors]
        jmp .q
.none:  mov si, s_none
        call puts
.q:     popad
        ret

;============================================================================ timing
; calibrate: CAL_WINDOWS windows of CAL_LATCH PIT ticks on channel 2 (mode 0, gate on, speaker
; off); [cal_min] = the fewest TSC ticks any window took.  Interrupts off during a window.
calibrate:
        pushad
        mov cx, CAL_WINDOWS
.w:     cli
        in al, 0x61
        and al, 0xfc
        or al, 0x01
        out 0x61, al
        mov al, 0xb0                    ; channel 2, lo/hi, mode 0, binary
        out 0x43, al
        mov al, CAL_LATCH & 0xff
        out 0x42, al
        mov al, CAL_LATCH >> 8
        out 0x42, al
        rdtsc
        mov esi, eax
        mov edi, edx
.p:     in al, 0x61
        test al, 0x20
        jz .p
        rdtsc
        sti
        sub eax, esi
        sbb edx, edi
        cmp edx, [cal_min + 4]
        ja .next
        jb .take
        cmp eax, [cal_min]
        jae .next
.take:  mov [cal_min], eax
        mov [cal_min + 4], edx
.next:  loop .w
        popad
        ret

; report: the BENCH line, computed with the x87 (doubles)
report:
        pushad
        ; tsc_hz = cal_min * PIT_HZ / CAL_LATCH
        fild qword [cal_min]
        fimul dword [c_pit_hz]
        fidiv dword [c_cal_latch]
        fstp qword [tsc_hz]
        mov si, s_seq
        call puts
        ; seq_mib_s = bytes * tsc_hz / seq_tsc / 2^20
        mov eax, DATA_SECTORS
        mov edx, 512
        mul edx
        mov [bytes], eax
        mov [bytes + 4], edx
        fild qword [bytes]
        fmul qword [tsc_hz]
        fild qword [seq_tsc]
        fdivp st1, st0
        fidiv dword [c_mib]
        mov cl, 1
        call putfix
        ; rand_reads_s = rnd_done * tsc_hz / rnd_tsc
        mov si, s_rand
        call puts
        fild dword [rnd_done]
        fmul qword [tsc_hz]
        fild qword [rnd_tsc]
        fdivp st1, st0
        mov cl, 1
        call putfix
        mov si, s_bytes
        call puts
        fild qword [bytes]
        mov cl, 0
        call putfix
        mov si, s_seqms
        call puts
        fild qword [seq_tsc]
        call tsc_ms
        mov si, s_randn
        call puts
        mov eax, [rnd_done]
        call dec32
        mov si, s_randms
        call puts
        fild qword [rnd_tsc]
        call tsc_ms
        mov si, s_mhz
        call puts
        fld qword [tsc_hz]
        fidiv dword [c_million]
        mov cl, 1
        call putfix
        mov si, s_boot
        call puts
        fild qword [tsc_boot]
        call tsc_ms
        mov si, s_errors
        call puts
        mov eax, [errors]
        call dec32
        call crlf
        popad
        ret

; tsc_ms: print ST0 (TSC ticks, popped) as milliseconds with one decimal
tsc_ms:
        fimul dword [c_thousand]
        fdiv qword [tsc_hz]
        mov cl, 1
        call putfix
        ret

; putfix: print ST0 (popped, >= 0, < 10^17) with CL decimals
putfix:
        pushad
        movzx cx, cl
        mov bx, cx
        dec bx                          ; the point goes before digit position bx (-1: none)
.sc:    jcxz .r
        fimul dword [c_ten]
        dec cx
        jmp .sc
.r:     fbstp [bcd]                     ; rounds to an integer (round-to-nearest after fninit)
        ; 18 digits, most significant first: byte 8 high nibble .. byte 0 low nibble
        mov si, 17                      ; digit index from the most significant
        xor dx, dx                      ; dx = 1 once a digit was printed
.d:     mov ax, si                      ; digit at position si (0 = least significant)
        shr ax, 1
        mov di, ax
        mov al, [bcd + di]
        test si, 1
        jz .lo
        shr al, 4
.lo:    and al, 0x0f
        cmp si, bx
        jne .np
        test dx, dx
        jnz .dot
        push ax                         ; "0" before the point
        mov al, '0'
        call putc
        pop ax
.dot:   push ax
        mov al, '.'
        call putc
        pop ax
        mov dx, 1
.np:    test dx, dx
        jnz .pr
        test al, al
        jnz .pr
        test si, si                     ; always print the last digit
        jnz .nx
.pr:    add al, '0'
        call putc
        mov dx, 1
.nx:    dec si
        jns .d
        popad
        ret

;============================================================================ output
%include "uart.inc"

putc:
        push dx
        push cx
        push ax
        mov dx, 0x3fd
        mov cx, 0xffff
.w:     in al, dx
        test al, 0x20
        loopz .w
        pop ax
        mov dx, 0x3f8
        out dx, al
        pop cx
        pop dx
        ret

puts:                                   ; DS:SI, zero-terminated
        push si
        push ax
.l:     lodsb
        test al, al
        jz .d
        call putc
        jmp .l
.d:     pop ax
        pop si
        ret

crlf:   push ax
        mov al, 13
        call putc
        mov al, 10
        call putc
        pop ax
        ret

nib:    and al, 0x0f                    ; AL low nibble -> lowercase hex digit
        add al, '0'
        cmp al, '9'
        jbe .d
        add al, 'a' - '9' - 1
.d:     ret

hex8:   push ax
        push ax
        shr al, 4
        call nib
        call putc
        pop ax
        call nib
        call putc
        pop ax
        ret

dec32:                                  ; EAX unsigned decimal
        pushad
        xor cx, cx
        mov ebx, 10
.d:     xor edx, edx
        div ebx
        push dx
        inc cx
        test eax, eax
        jnz .d
.p:     pop ax
        add al, '0'
        call putc
        loop .p
        popad
        ret

;============================================================================ data
s_info:   db "BENCHINFO srpboot-bench v1 dl=", 0
s_total:  db " total=", 0
s_data:   db " data=", 0
s_chunk:  db " chunk=127 rand_n=", 0
s_edd:    db " edd_sectors=", 0
s_none:   db "none", 0
s_seq:    db "BENCH seq_mib_s=", 0
s_rand:   db " rand_reads_s=", 0
s_bytes:  db " bytes=", 0
s_seqms:  db " seq_ms=", 0
s_randn:  db " rand_n=", 0
s_randms: db " rand_ms=", 0
s_mhz:    db " tsc_mhz=", 0
s_boot:   db " boot_ms=", 0
s_errors: db " errors=", 0
s_err:    db "BENCHERR ", 0
s_e_read: db "read-failed", 0
s_e_pat:  db "pattern-mismatch", 0
s_e_mis:  db " edd_mismatch=1", 0
s_e_lba:  db " lba=", 0
s_e_cnt:  db " count=", 0
s_e_ah:   db " ah=", 0

expline:  db "LBA00000000/000", 10
c_pit_hz:    dd PIT_HZ
c_cal_latch: dd CAL_LATCH
c_mib:       dd 1048576
c_million:   dd 1000000
c_thousand:  dd 1000
c_ten:       dd 10

        align 8
cal_min:   dq 0xffffffffffffffff
tsc_hz:    dq 0
seq_tsc:   dq 0
rnd_tsc:   dq 0
bytes:     dq 0
t0:        dq 0
bcd:       times 10 db 0
           align 4
cur_lba:   dd 0
left:      dd 0
calls:     dd 0
errors:    dd 0
lcg:       dd 0
rnd_done:  dd 0
cnt:       dw 0
err_ah:    db 0
dap:       times 16 db 0
eddbuf:    times 0x1e db 0

        times PROG_SECTORS * 512 - ($ - $$) db 0
