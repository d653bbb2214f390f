; exit-bs.asm -- 512-byte "boot sector" payload that ends a QEMU test run.
;
; SYSLINUX loads it with `KERNEL exit.bs` (the .bs extension means "boot
; sector": loaded at 0000:7C00 and jumped to with DL = boot drive).
; It prints one marker line on COM1 (port I/O, no BIOS) naming DL, then writes
; EXIT_CODE to the isa-debug-exit port 0xf4, so QEMU exits with status
; (EXIT_CODE << 1) | 1 = 33.  If the device is absent it halts forever (the
; caller's `timeout` then fails the run).
;
; Build: nasm -f bin -o exit.bs exit-bs.asm

%ifndef EXIT_CODE
%define EXIT_CODE 0x10
%endif

        bits 16
        org 0x7c00

start:
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7c00
        cld
        mov [drive], dl
        mov si, msg
        call puts
        mov al, [drive]
        call puthex8
        mov si, crlf
        call puts
        mov al, EXIT_CODE
        out 0xf4, al
.hang:  hlt
        jmp .hang

; putc: AL -> COM1, polling LSR bit 5 (THR empty)
putc:
        push dx
        push ax
        mov dx, 0x3fd
.wait:  in al, dx
        test al, 0x20
        jz .wait
        pop ax
        mov dx, 0x3f8
        out dx, al
        pop dx
        ret

puts:                           ; DS:SI zero-terminated
        lodsb
        test al, al
        jz .done
        call putc
        jmp puts
.done:  ret

puthex8:                        ; AL as two hex digits
        push ax
        shr al, 4
        call .nib
        pop ax
.nib:   and al, 0x0f
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'a' - '9' - 1
.out:   jmp putc

msg:    db "SRPBOOT-EXIT-BS dl=", 0
crlf:   db 13, 10, 0
drive:  db 0

        times 510 - ($ - $$) db 0
        dw 0xaa55
