; conf13.asm -- INT 13h differential conformance test program (real mode, 386+)
;
; Boots from LBA 0 of the conformance disk (built by build.sh), loads the rest of itself
; (LBA 1 .. PROG_SECTORS-1) with INT 13h AH=02 relative to its own DL, then calls every
; INT 13h function for the boot drive with valid and invalid inputs, printing one line per call
; on COM1 (port 0x3f8, polled, no BIOS).  Ends with a SUMMARY line and `out 0xf4, 0x10`
; (QEMU isa-debug-exit: exit status 33).  Line format: see README.md.
;
; Build: nasm -f bin -o conf13.bin conf13.asm   (build.sh appends the data pattern)
;
; Disk layout (must match build.sh):
;   LBA 0 .. PROG_SECTORS-1   this program (LBA 0 = MBR with one partition entry)
;   LBA PROG_SECTORS .. end   pattern: sector n, byte 16*k = "LBA%08x/%03x\n" % (n, 16*k)
;   partition 1: LBA 2048 .. 16127 (type 0xDA), CHS end 15/15/63 -> QEMU guesses 16 cyl/16 heads/63 spt
;   LBA 16128 .. 16383: beyond the last full cylinder, reachable only with LBA calls
;   scratch (written and restored): CHS c14 h0 s1..4 (LBA 14112..14115), LBA 16376..16383

        cpu 386
        bits 16
        org 0x7c00

PROG_SECTORS    equ 32
TOTAL_SECTORS   equ 16384
HEADS           equ 16
SPT             equ 63
CYLS            equ 16
PART_START      equ 2048
PART_END        equ CYLS*HEADS*SPT - 1          ; 16127

DAP             equ 0x0600          ; 32-byte disk address packet (DS=0)
EDDBUF          equ 0x0700          ; AH=48 result buffer, 0x80 bytes checked
CDBUF           equ 0x0800          ; AH=4B specification packet
CRCTAB          equ 0x6000          ; 1 KiB CRC32 table
STACK_TOP       equ 0x7c00

BUF_LIN         equ 0x10000         ; 1000:0000, up to 129 sectors
FLAT_LIN        equ 0x20000         ; 64-bit flat buffer / 2000:0000, up to 256 sectors
XDMA_SEG        equ 0x1ff0          ; 1FF0:0000 = 0x1FF00: crosses the 0x20000 64 KiB boundary
WRAP_SEG        equ 0x3000          ; 3000:FF00: offset wraps past 0xFFFF after 256 bytes
WRAP_OFF        equ 0xff00
WSRC_SEG        equ 0x5000          ; write source buffer
WSRC_LIN        equ 0x50000

SCR_CHS_C       equ 14              ; CHS scratch: c14 h0 s1, 4 sectors
SCR_CHS_LBA     equ SCR_CHS_C*HEADS*SPT         ; 14112
SCR_LBA         equ TOTAL_SECTORS - 8           ; LBA scratch: last 8 sectors (16376)

FILLB           equ 0xcd            ; buffer fill byte before every call

%define CHSCX(c,s) ((((c) & 0xff) << 8) | (((c) >> 2) & 0xc0) | (s))

;============================================================================ sector 0 (MBR)
start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, STACK_TOP
        sti
        cld
        mov [boot_drive], dl
        mov byte [load_tries], 3
.chs:   mov ax, 0x0200 | (PROG_SECTORS - 1)
        mov bx, 0x7e00
        mov cx, 0x0002
        xor dh, dh
        mov dl, [boot_drive]
        int 0x13
        jnc .loaded
        xor ax, ax                          ; reset, retry (like FreeLoader)
        mov dl, [boot_drive]
        int 0x13
        dec byte [load_tries]
        jnz .chs
        ; CHS failed: try AH=42 with a 16-byte DAP
        mov byte [load_via], 'L'
        mov si, boot_dap
        mov ah, 0x42
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
boot_drive: db 0
load_tries: db 0
load_via:   db 'C'
msg_loadfail: db "CONF load-failed", 13, 10, 0

        times 0x1b8 - ($ - $$) db 0
        dd 0x464e4f43                       ; disk signature "CONF"
        dw 0
        ; partition 1: LBA 2048..16127, type 0xDA (non-FS data); CHS start 2/0/33, end 15/15/63
        db 0x00, 0, ((PART_START % SPT) + 1) | (((PART_START / (HEADS*SPT)) >> 2) & 0xc0), (PART_START / (HEADS*SPT)) & 0xff
        db 0xda, HEADS - 1, SPT | (((CYLS - 1) >> 2) & 0xc0), (CYLS - 1) & 0xff
        dd PART_START, PART_END - PART_START + 1
        times 0x1fe - ($ - $$) db 0
        dw 0xaa55

;============================================================================ main program
main:
        call uart_init
        call crc_init
        mov dword [out_crc], 0xffffffff
        mov byte [crc_on], 0
        ; INFO line: implementation-specific facts, excluded from the SUMMARY crc and from comparison
        mov si, s_info
        call puts
        mov al, [load_via]
        call putc
        mov si, s_ivt
        call puts
        mov ax, [0x13*4 + 2]
        call hex16
        mov al, ':'
        call putc
        mov ax, [0x13*4]
        call hex16
        mov si, s_bda13
        call puts
        mov ax, [0x413]
        call dec16
        mov si, s_ebda
        call puts
        mov ax, [0x40e]
        call hex16
        call crlf

        mov byte [crc_on], 1
        mov si, s_conf
        call puts
        mov al, [boot_drive]
        call hex8
        mov si, s_hdds
        call puts
        mov al, [0x475]
        call hex8
        mov si, s_conf2
        call puts
        call crlf

%ifdef SELFCHECK_ANOMALIES
        ; harness self-check (nasm -DSELFCHECK_ANOMALIES): wrap INT 13h with a deliberately bad handler
        ; that returns DF=1 and clobbers the upper half of EBX; every test line must then show !DF !HI=b.
        cli
        mov eax, [0x13*4]
        mov [bad_old13], eax
        mov word [0x13*4], bad13
        mov word [0x13*4+2], 0
        sti
%endif
%include "tests.inc"

        ; SUMMARY
        mov si, s_sum1
        call puts
        mov ax, [test_no]
        call dec16
        mov si, s_sum2
        call puts
        mov ax, [cf_count]
        call dec16
        mov si, s_sum3
        call puts
        mov ax, [anom_count]
        call dec16
        mov byte [crc_on], 0                ; crc covers everything before " crc="
        mov si, s_sum4
        call puts
        mov eax, [out_crc]
        not eax
        call hex32
        call crlf
        mov al, 0x10
        out 0xf4, al
.hang:  hlt
        jmp .hang

%ifdef SELFCHECK_ANOMALIES
bad_old13: dd 0
bad13:  pushf
        call far [cs:bad_old13]
        ror ebx, 16
        mov bx, 0x1111
        ror ebx, 16
        std
        retf 2
%endif

;============================================================================ test driver
; Inputs for the next call (t_defaults resets them):
in_ax:  dw 0
in_bx:  dw 0
in_cx:  dw 0
in_dx:  dw 0
in_si:  dw 0
in_di:  dw 0
in_es:  dw 0
in_ds:  dw 0
; Outputs of the last call
out_eax: dd 0
out_ebx: dd 0
out_ecx: dd 0
out_edx: dd 0
out_esi: dd 0
out_edi: dd 0
out_ebp: dd 0
out_es:  dw 0
out_ds:  dw 0
out_fs:  dw 0
out_gs:  dw 0
out_fl:  dw 0
out_sp:  dw 0
save_sp: dw 0
t_name:  dw 0
test_no: dw 0
cf_count: dw 0
anom_count: dw 0

HI_SENT equ 0x5a5a                          ; sentinel for the upper 16 bits of every 32-bit register
BP_SENT equ 0xb9b9
FS_SENT equ 0x0f5f
GS_SENT equ 0x06a6

t_defaults:
        mov word [in_ax], 0
        mov word [in_bx], 0xb0b0
        mov word [in_cx], 0xc0c0
        mov al, [boot_drive]
        xor ah, ah
        mov [in_dx], ax
        mov word [in_si], 0x5151
        mov word [in_di], 0xd1d1
        mov word [in_es], 0x0e5e
        mov word [in_ds], 0
        ret

; t_int13: load in_*, CF=1, int 13h, store out_*
t_int13:
        pushad
        push ds
        push es
        push fs
        push gs
        mov [save_sp], sp
        mov ax, FS_SENT
        mov fs, ax
        mov ax, GS_SENT
        mov gs, ax
        mov ax, [in_es]
        mov es, ax
        mov eax, HI_SENT << 16
        mov ebx, eax
        mov ecx, eax
        mov edx, eax
        mov esi, eax
        mov edi, eax
        mov ebp, (HI_SENT << 16) | BP_SENT
        mov ax, [in_ax]
        mov bx, [in_bx]
        mov cx, [in_cx]
        mov dx, [in_dx]
        mov si, [in_si]
        mov di, [in_di]
        push word [in_ds]
        pop ds
        stc                                 ; CF=1 on entry: a handler must clear it on success
        int 0x13
        pushf
        push ds
        push eax
        xor ax, ax
        mov ds, ax
        pop dword [out_eax]
        pop word [out_ds]
        pop word [out_fl]
        mov [out_ebx], ebx
        mov [out_ecx], ecx
        mov [out_edx], edx
        mov [out_esi], esi
        mov [out_edi], edi
        mov [out_ebp], ebp
        mov [out_es], es
        mov [out_fs], fs
        mov [out_gs], gs
        mov [out_sp], sp
        cld                                 ; a handler that returns DF=1 or IF=0 is reported, not inherited
        sti
        mov sp, [save_sp]
        pop gs
        pop fs
        pop es
        pop ds
        popad
        ret

; t_run: print "Tnnn name in ...", call, print "-> ..."
t_run:
        pushad
        inc word [test_no]
        mov al, 'T'
        call putc
        mov ax, [test_no]
        call dec3
        mov al, ' '
        call putc
        mov si, [t_name]
        call puts
        mov si, s_in_ax
        call puts
        mov ax, [in_ax]
        call hex16
        mov si, s_bx
        call puts
        mov ax, [in_bx]
        call hex16
        mov si, s_cx
        call puts
        mov ax, [in_cx]
        call hex16
        mov si, s_dx
        call puts
        mov ax, [in_dx]
        call hex16
        mov si, s_si
        call puts
        mov ax, [in_si]
        call hex16
        mov si, s_di
        call puts
        mov ax, [in_di]
        call hex16
        mov si, s_es
        call puts
        mov ax, [in_es]
        call hex16
        mov ax, [in_ds]
        test ax, ax
        jz .nods
        mov si, s_ds
        call puts
        call hex16
.nods:
        call t_int13

        mov si, s_out_ax
        call puts
        mov ax, [out_eax]
        call hex16
        mov si, s_bx
        call puts
        mov ax, [out_ebx]
        call hex16
        mov si, s_cx
        call puts
        mov ax, [out_ecx]
        call hex16
        mov si, s_dx
        call puts
        mov ax, [out_edx]
        call hex16
        mov si, s_si
        call puts
        mov ax, [out_esi]
        call hex16
        mov si, s_di
        call puts
        mov ax, [out_edi]
        call hex16
        mov si, s_es
        call puts
        mov ax, [out_es]
        call hex16
        mov si, s_cf
        call puts
        mov ax, [out_fl]
        and al, 1
        add [cf_count], al
        adc byte [cf_count+1], 0
        add al, '0'
        call putc
        mov si, s_st
        call puts
        mov al, [0x474]                     ; BDA 40:74 last HDD status
        call hex8
        ; anomalies: anything that must be preserved but was not
        xor bx, bx                          ; bl = anomaly seen
        mov ax, [out_ds]
        cmp ax, [in_ds]
        je .a1
        mov si, s_an_ds
        call anom16
.a1:    mov ax, [out_ebp]
        cmp ax, BP_SENT
        je .a2
        mov si, s_an_bp
        call anom16
.a2:    mov ax, [out_sp]
        cmp ax, [save_sp]
        je .a3
        mov si, s_an_sp
        call anom16
.a3:    mov ax, [out_fs]
        cmp ax, FS_SENT
        je .a4
        mov si, s_an_fs
        call anom16
.a4:    mov ax, [out_gs]
        cmp ax, GS_SENT
        je .a5
        mov si, s_an_gs
        call anom16
.a5:    mov ax, [out_fl]
        test ax, 0x0400                     ; DF must come back clear (it was clear on entry)
        jz .a6
        mov si, s_an_df
        call puts
        mov bl, 1
.a6:    test ax, 0x0200                     ; IF must come back set (it was set on entry)
        jnz .a7
        mov si, s_an_if
        call puts
        mov bl, 1
.a7:    ; upper halves: collect a letter per register
        mov di, out_eax + 2
        mov si, s_regletters
        mov cx, 7
        xor dx, dx                          ; dl = printed header?
.hl:    cmp word [di], HI_SENT
        je .hn
        test dl, dl
        jnz .hp
        push si
        mov si, s_an_hi
        call puts
        pop si
        inc dl
        inc bl
.hp:    mov al, [si]
        call putc
.hn:    add di, 4
        inc si
        loop .hl
        test bl, bl
        jz .done
        inc word [anom_count]
.done:  popad
        ret

anom16:                                     ; print SI label + AX, mark anomaly in BL
        call puts
        call hex16
        mov bl, 1
        ret

t_end:  jmp crlf

; ------------------------------------------------------------- buffer helpers (32-bit linear)
; fill_region: ESI linear, ECX bytes, AL value
fill_region:
        pushad
        push es
.chunk: jecxz .done
        mov edx, esi
        shr edx, 4
        mov es, dx
        mov di, si
        and di, 0x0f
        mov ebx, ecx
        cmp ebx, 0x8000
        jbe .n
        mov ebx, 0x8000
.n:     sub ecx, ebx
        add esi, ebx
        push cx
        mov cx, bx
        rep stosb
        pop cx
        jmp .chunk
.done:  pop es
        popad
        ret

; crc_region: ESI linear, ECX bytes -> EAX = CRC-32 (zlib)
crc_region:
        push ebx
        push ecx
        push edx
        push esi
        push edi
        push es
        mov edx, 0xffffffff
.chunk: jecxz .done
        mov eax, esi
        shr eax, 4
        mov es, ax
        mov di, si
        and di, 0x0f
        mov ebx, ecx
        cmp ebx, 0x8000
        jbe .n
        mov ebx, 0x8000
.n:     sub ecx, ebx
        add esi, ebx
.b:     movzx eax, byte [es:di]
        xor al, dl
        shr edx, 8
        xor edx, [CRCTAB + eax*4]
        inc di
        dec ebx
        jnz .b
        jmp .chunk
.done:  mov eax, edx
        not eax
        pop es
        pop edi
        pop esi
        pop edx
        pop ecx
        pop ebx
        ret

; make_line: EDX lba, AX byte offset in sector, BX -> 3-char tag; builds linebuf (16 bytes)
make_line:
        pushad
        push es
        push word 0
        pop es
        mov di, linebuf
        mov cx, 3
        mov si, bx
        rep movsb
        mov [tmp16], ax
        mov eax, edx
        mov cx, 8
.h8:    rol eax, 4
        push eax
        call nib
        stosb
        pop eax
        loop .h8
        mov al, '/'
        stosb
        mov ax, [tmp16]
        shl ax, 8                           ; (k*16) << 4: the 3 low nibbles move to the top
        mov cx, 3
.h3:    rol ax, 4
        push ax
        call nib
        stosb
        pop ax
        loop .h3
        mov al, 10
        stosb
        pop es
        popad
        ret

nib:    and al, 0x0f                        ; AL low nibble -> ASCII hex (lower case)
        add al, '0'
        cmp al, '9'
        jbe .r
        add al, 'a' - '9' - 1
.r:     ret

; gen_pattern: ESI linear, EDX first lba, ECX sectors, BX tag
gen_pattern:
        pushad
        push es
.sec:   jecxz .done
        xor ax, ax
.line:  call make_line
        push eax
        mov eax, esi
        shr eax, 4
        mov es, ax
        mov di, si
        and di, 0x0f
        pop eax
        push si
        push cx
        mov si, linebuf
        mov cx, 16
        rep movsb
        pop cx
        pop si
        add esi, 16
        inc ax
        cmp ax, 32
        jb .line
        inc edx
        dec ecx
        jmp .sec
.done:  pop es
        popad
        ret

; cmp_line: ESI linear -> ZF=1 if the 16 bytes there equal linebuf
cmp_line:
        pushad
        push es
        mov eax, esi
        shr eax, 4
        mov es, ax
        mov di, si
        and di, 0x0f
        mov si, linebuf
        mov cx, 16
        repe cmpsb
        pop es
        popad
        ret

; parse_lba0: ESI linear, BX tag -> CF=0, EDX = lba if the first line is "<tag>XXXXXXXX/000\n"
parse_lba0:
        pushad
        push es
        mov eax, esi
        shr eax, 4
        mov es, ax
        mov di, si
        and di, 0x0f
        mov si, bx
        mov cx, 3
        repe cmpsb
        jne .bad
        xor edx, edx
        mov cx, 8
.d:     mov al, [es:di]
        inc di
        sub al, '0'
        cmp al, 9
        jbe .ok
        sub al, 'a' - '0' - 10
        cmp al, 10
        jb .bad
        cmp al, 15
        ja .bad
.ok:    shl edx, 4
        or dl, al
        loop .d
        cmp dword [es:di], 0x3030302f       ; "/000"
        jne .bad
        cmp byte [es:di+4], 10
        jne .bad
        mov [tmp32], edx
        pop es
        popad
        mov edx, [tmp32]
        clc
        ret
.bad:   pop es
        popad
        stc
        ret

; count_pattern: ESI linear, EDX lba0, ECX max sectors, BX tag -> EAX = matching whole sectors
count_pattern:
        push ebx
        push ecx
        push edx
        push esi
        xor eax, eax
.sec:   jecxz .done
        push ax
        xor ax, ax
.line:  call make_line
        call cmp_line
        jne .stop
        add esi, 16
        inc ax
        cmp ax, 32
        jb .line
        pop ax
        inc eax
        inc edx
        dec ecx
        jmp .sec
.stop:  pop ax
.done:  pop esi
        pop edx
        pop ecx
        pop ebx
        ret

; buf_report: ESI linear, ECX sectors, BX tag.  Prints " buf=CRC32/len lba0=X pat=N"
buf_report:
        pushad
        push si
        mov si, s_buf
        call puts
        pop si
        push ecx
        shl ecx, 9
        call crc_region
        call hex32
        mov al, '/'
        call putc
        mov eax, ecx
        call hex32s
        pop ecx
        push si
        mov si, s_lba0
        call puts
        pop si
        call parse_lba0
        jc .none
        mov eax, edx
        call hex32
        push si
        mov si, s_pat
        call puts
        pop si
        call count_pattern
        call dec16
        jmp .out
.none:  mov si, s_none
        call puts
.out:   popad
        ret

; ------------------------------------------------------------- DAP / EDD helpers
; dap_prep: fill the 32-byte DAP area with 0xEE (so fields beyond the declared size are garbage)
dap_prep:
        pushad
        push es
        xor ax, ax
        mov es, ax
        mov di, DAP
        mov al, 0xee
        mov cx, 32
        rep stosb
        pop es
        popad
        ret

; print " dap.cnt=XXXX" (word at DAP+2 after the call)
dap_report:
        push si
        push ax
        mov si, s_dcnt
        call puts
        mov ax, [DAP + 2]
        call hex16
        pop ax
        pop si
        ret

; edd_prep: fill EDDBUF[0..0x80) with FILLB and store the caller's size word
edd_prep:
        pushad
        push es
        push ax
        xor ax, ax
        mov es, ax
        mov di, EDDBUF
        mov al, FILLB
        mov cx, 0x80
        rep stosb
        pop ax
        mov [EDDBUF], ax
        pop es
        popad
        ret

; edd_report: AX = size word the caller passed.  Main line: EDD 1.x fields + tail check.
; If CF=0 and size >= 0x1E, a second line "Tnnn.path ..." with DPTE and device path (bus-specific).
edd_report:
        pushad
        mov [tmp16], ax
        mov si, s_sz
        call puts
        mov ax, [EDDBUF]
        call hex16
        mov si, s_fl
        call puts
        mov ax, [EDDBUF + 2]
        call hex16
        mov si, s_cyl
        call puts
        mov eax, [EDDBUF + 4]
        call hex32
        mov si, s_hd
        call puts
        mov eax, [EDDBUF + 8]
        call hex32
        mov si, s_spt
        call puts
        mov eax, [EDDBUF + 12]
        call hex32
        mov si, s_sec
        call puts
        mov eax, [EDDBUF + 20]
        call hex32
        mov eax, [EDDBUF + 16]
        call hex32
        mov si, s_bps
        call puts
        mov ax, [EDDBUF + 24]
        call hex16
        ; the BIOS must not write past the caller's buffer size
        mov si, s_tail
        call puts
        mov bx, [tmp16]
.t:     cmp bx, 0x80
        jae .tok
        cmp byte [EDDBUF + bx], FILLB
        jne .tmod
        inc bx
        jmp .t
.tmod:  mov si, s_mod
        call puts
        mov al, bl
        call hex8
        inc word [anom_count]
        jmp .path
.tok:   mov si, s_ok
        call puts
.path:  test byte [out_fl], 1
        jnz .done
        cmp word [tmp16], 0x1e
        jb .done
        call crlf
        mov al, 'T'
        call putc
        mov ax, [test_no]
        call dec3
        mov si, s_path
        call puts
        mov ax, [EDDBUF + 0x1c]
        call hex16
        mov al, ':'
        call putc
        mov ax, [EDDBUF + 0x1a]
        call hex16
        mov cx, [tmp16]
        cmp cx, 0x4a
        jbe .c
        mov cx, 0x4a
.c:     cmp cx, 0x22
        jb .done
        mov si, s_key
        call puts
        mov ax, [EDDBUF + 0x1e]
        call hex16
        mov si, s_len
        call puts
        mov al, [EDDBUF + 0x20]
        call hex8
        cmp cx, 0x30
        jb .raw
        mov si, s_bus
        call puts
        mov si, EDDBUF + 0x24
        push cx
        mov cx, 4
        call putsafe
        mov si, s_if
        call puts
        mov si, EDDBUF + 0x28
        mov cx, 8
        call putsafe
        pop cx
        ; checksum over key .. key+len-1 (if it fits in what the caller gave)
        movzx bx, byte [EDDBUF + 0x20]
        add bx, 0x1e
        cmp bx, cx
        ja .raw
        mov si, s_csum
        call puts
        push cx
        movzx cx, byte [EDDBUF + 0x20]
        mov si, EDDBUF + 0x1e
        xor al, al
        jcxz .s1
.s:     add al, [si]
        inc si
        loop .s
.s1:    pop cx
.sd:    test al, al
        jnz .sbad
        mov si, s_ok
        call puts
        jmp .raw
.sbad:  mov si, s_bad
        call puts
        call hex8
.raw:   mov si, s_raw
        call puts
        mov si, EDDBUF + 0x1a
        sub cx, 0x1a
        call hexbytes
.done:  popad
        ret

; putsafe: CX chars at DS:SI, printable ASCII as is, others as '.'
putsafe:
        pushad
.l:     lodsb
        cmp al, 0x20
        jb .dot
        cmp al, 0x7e
        jbe .p
.dot:   mov al, '.'
.p:     call putc
        loop .l
        popad
        ret

; hexbytes: CX bytes at DS:SI as hex, no separators
hexbytes:
        pushad
        jcxz .d
.l:     lodsb
        call hex8
        loop .l
.d:     popad
        ret

; cd_prep: CDBUF[0..0x20) = FILLB, byte 0 = 0x13 (packet size)
cd_prep:
        pushad
        push es
        xor ax, ax
        mov es, ax
        mov di, CDBUF
        mov al, FILLB
        mov cx, 0x20
        rep stosb
        mov byte [CDBUF], 0x13
        pop es
        popad
        ret

cd_report:                                  ; " pkt=<hex of 0x14 bytes>"
        pushad
        mov si, s_pkt
        call puts
        mov si, CDBUF
        mov cx, 0x14
        call hexbytes
        popad
        ret

; ------------------------------------------------------------- output
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
        cmp byte [crc_on], 0
        je .n
        push eax
        push ebx
        movzx ebx, al
        mov eax, [out_crc]
        xor bl, al
        shr eax, 8
        xor eax, [CRCTAB + ebx*4]
        mov [out_crc], eax
        pop ebx
        pop eax
.n:     pop cx
        pop dx
        ret

puts:                                       ; DS:SI, zero-terminated
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

hex16:  push ax
        xchg al, ah
        call hex8
        xchg al, ah
        call hex8
        pop ax
        ret

hex32:  push eax
        ror eax, 16
        call hex16
        ror eax, 16
        call hex16
        pop eax
        ret

hex32s:                                     ; EAX as short hex (no leading zeros)
        pushad
        mov cx, 8
        xor bl, bl
.l:     rol eax, 4
        push eax
        and al, 0x0f
        jnz .p
        test bl, bl
        jnz .p
        cmp cx, 1
        jne .s
.p:     mov bl, 1
        call nib
        call putc
.s:     pop eax
        loop .l
        popad
        ret

dec16:                                      ; AX unsigned decimal
        pushad
        xor cx, cx
        mov bx, 10
.d:     xor dx, dx
        div bx
        push dx
        inc cx
        test ax, ax
        jnz .d
.p:     pop ax
        add al, '0'
        call putc
        loop .p
        popad
        ret

dec3:                                       ; AX as exactly 3 decimal digits
        pushad
        mov bx, 10
        mov cx, 3
.d:     xor dx, dx
        div bx
        push dx
        loop .d
        mov cx, 3
.p:     pop ax
        add al, '0'
        call putc
        loop .p
        popad
        ret

crc_init:
        pushad
        xor ebx, ebx
.i:     mov eax, ebx
        mov cx, 8
.b:     shr eax, 1
        jnc .z
        xor eax, 0xedb88320
.z:     loop .b
        mov [CRCTAB + ebx*4], eax
        inc bx
        cmp bx, 256
        jb .i
        popad
        ret

;============================================================================ data
crc_on:     db 0
out_crc:    dd 0
tmp16:      dw 0
tmp32:      dd 0
linebuf:    times 16 db 0
tagLBA:     db "LBA"
tagWRT:     db "WRT"

s_info:     db "INFO load=", 0
s_ivt:      db " int13=", 0
s_bda13:    db " basemem=", 0
s_ebda:     db " ebda=", 0
s_conf:     db "CONF srpboot-int13-conformance v1 dl=", 0
s_hdds:     db " hdds=", 0
s_conf2:    db " disk=16384 geom=16/16/63 prog=32 part=2048-16127", 0
s_in_ax:    db " in AX=", 0
s_out_ax:   db " -> AX=", 0
s_bx:       db " BX=", 0
s_cx:       db " CX=", 0
s_dx:       db " DX=", 0
s_si:       db " SI=", 0
s_di:       db " DI=", 0
s_es:       db " ES=", 0
s_cf:       db " CF=", 0
s_ds:       db " DS=", 0
s_st:       db " st=", 0
s_an_ds:    db " !DS=", 0
s_an_bp:    db " !BP=", 0
s_an_sp:    db " !SP=", 0
s_an_fs:    db " !FS=", 0
s_an_gs:    db " !GS=", 0
s_an_hi:    db " !HI=", 0
s_an_df:    db " !DF", 0
s_an_if:    db " !IF=0", 0
s_regletters: db "abcdSDB"             ; eax ebx ecx edx esi edi ebp
s_buf:      db " buf=", 0
s_lba0:     db " lba0=", 0
s_pat:      db " pat=", 0
s_none:     db "none", 0
s_dcnt:     db " dap.cnt=", 0
s_sz:       db " sz=", 0
s_fl:       db " fl=", 0
s_cyl:      db " cyl=", 0
s_hd:       db " hd=", 0
s_spt:      db " spt=", 0
s_sec:      db " sec=", 0
s_bps:      db " bps=", 0
s_tail:     db " tail=", 0
s_mod:      db "MOD@", 0
s_ok:       db "ok", 0
s_bad:      db "BAD:", 0
s_path:     db ".path dpte=", 0
s_key:      db " key=", 0
s_len:      db " len=", 0
s_bus:      db " bus=", 0
s_if:       db " if=", 0
s_csum:     db " csum=", 0
s_raw:      db " raw=", 0
s_wrap:     db " wrap=", 0
s_pkt:      db " pkt=", 0
s_sum1:     db "SUMMARY tests=", 0
s_sum2:     db " cf1=", 0
s_sum3:     db " anomalies=", 0
s_sum4:     db " crc=", 0

prog_end:
%if prog_end - $$ > PROG_SECTORS * 512
%error "program does not fit in PROG_SECTORS"
%endif
        times PROG_SECTORS * 512 - ($ - $$) db 0
