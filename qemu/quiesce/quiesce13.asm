; quiesce13.asm -- boot sector that checks the ROM's NIC quiesce heuristic
; from the loader's side of INT 13h (real mode, 386+, one sector).
;
; The ROM resets its NIC and turns PCI bus mastering off after every
; successful write (iPXE's heuristic: Windows writes a flag as its last
; INT 13h action), and brings it back on the next call. This program finds
; the NIC through the drive's own AH=48 device path (PCI bus/slot/function),
; then prints one line per step on COM1:
;   QUIESCE <step> bme=<0|1> status=<hex|-->
; status is the virtio device status byte through the legacy I/O BAR 0
; (-- when BAR 0 is memory, as on e1000). Steps: boot, after-write,
; after-read; plus "QUIESCE write cf=<0|1>", "QUIESCE read cf=<0|1>" and
; "QUIESCE readback ok|bad". Ends with `out 0xf4, 0x10` (isa-debug-exit).
;
; Three sectors: the boot sector loads the rest (LBA 1-2) with AH=02. The
; write goes to LBA 8.
;
; Build: nasm -f bin -I qemu/lib/ -o quiesce13.bin quiesce13.asm

        cpu 386
        bits 16
        org 0x7c00

DRIVE   equ 0x04f0                  ; boot drive (not in the sectors we load)
DAP     equ 0x0500
EDD     equ 0x0600
WBUF    equ 0x1000
RBUF    equ 0x2000
LBA     equ 8

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7c00
        sti
        cld
        mov [DRIVE], dl
        mov ax, 0x0202                  ; the rest of us: LBA 1-2 -> 0:7E00
        mov cx, 0x0002
        xor dh, dh
        mov bx, 0x7e00
        int 0x13
        jc $
        jmp part2

        times 510 - ($ - $$) db 0
        dw 0xaa55

part2:
        call uart_init

        ; The drive's device path: AH=48 with a 0x42-byte buffer.
        mov word [EDD], 0x42
        mov ah, 0x48
        mov dl, [DRIVE]
        mov si, EDD
        int 0x13
        jc fail
        cmp dword [EDD + 0x24], 'PCI '
        jne fail
        movzx eax, byte [EDD + 0x30]    ; bus
        shl eax, 5
        or al, [EDD + 0x31]             ; slot
        shl eax, 3
        or al, [EDD + 0x32]             ; function
        shl eax, 8
        or eax, 0x80000000
        mov [pciaddr], eax

        mov si, s_boot
        call report

        ; Write a pattern to LBA 1.
        mov di, WBUF
        mov cx, 512
        mov al, 0x5a
.fill:  stosb
        add al, 7
        loop .fill
        mov word [DAP + 4], WBUF
        mov ax, 0x4300
        call disk
        mov si, s_write
        call print_cf
        mov si, s_after_write
        call report

        ; Read it back.
        mov word [DAP + 4], RBUF
        mov ax, 0x4200
        call disk
        mov si, s_read
        call print_cf
        mov si, WBUF
        mov di, RBUF
        mov cx, 512
        repe cmpsb
        mov si, s_ok
        je .same
        mov si, s_bad
.same:  call puts
        mov si, s_after_read
        call report
        jmp done

fail:   mov si, s_fail
        call puts
done:   mov al, 0x10
        out 0xf4, al
        hlt
        jmp done

; AX = function (AL = 0); the DAP points at [DAP+4]:0, LBA 1, one sector.
; Returns CF.
disk:
        mov byte [DAP], 16
        mov byte [DAP + 1], 0
        mov word [DAP + 2], 1
        mov word [DAP + 6], 0
        mov dword [DAP + 8], LBA
        mov dword [DAP + 12], 0
        mov dl, [DRIVE]
        mov si, DAP
        int 0x13
        ret

; SI = "QUIESCE <what> cf=" text; CF from the last call.
print_cf:
        pushf
        call puts
        popf
        mov al, '0'
        adc al, 0
        call putc
        jmp crlf

; SI = step name: "QUIESCE <step> bme=B status=SS".
report:
        push si
        mov si, s_prefix
        call puts
        pop si
        call puts
        mov si, s_bme
        call puts
        mov al, 0x04                    ; command register
        call pci_read
        shr ax, 2
        and al, 1
        add al, '0'
        call putc
        mov si, s_status
        call puts
        mov al, 0x10                    ; BAR 0
        call pci_read
        test al, 1
        jz .mem
        and ax, 0xfffc
        mov dx, ax
        add dx, 0x12                    ; legacy virtio: device status
        in al, dx
        call puthex
        jmp crlf
.mem:   mov al, '-'
        call putc
        call putc
        jmp crlf

; AL = config offset; returns EAX = dword.
pci_read:
        movzx eax, al
        or eax, [pciaddr]
        mov dx, 0xcf8
        out dx, eax
        mov dx, 0xcfc
        in eax, dx
        ret

puthex:
        push ax
        shr al, 4
        call .nib
        pop ax
.nib:   and al, 0x0f
        add al, '0'
        cmp al, '9'
        jbe putc
        add al, 'a' - '0' - 10
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

puts:
        lodsb
        test al, al
        jz .end
        call putc
        jmp puts
.end:   ret

crlf:
        mov al, 13
        call putc
        mov al, 10
        jmp putc

%include "uart.inc"

s_prefix:       db "QUIESCE ", 0
s_boot:         db "boot", 0
s_after_write:  db "after-write", 0
s_after_read:   db "after-read", 0
s_bme:          db " bme=", 0
s_status:       db " status=", 0
s_write:        db "QUIESCE write cf=", 0
s_read:         db "QUIESCE read cf=", 0
s_ok:           db "QUIESCE readback ok", 13, 10, 0
s_bad:          db "QUIESCE readback bad", 13, 10, 0
s_fail:         db "QUIESCE no PCI device path from AH=48", 13, 10, 0
        align 4
pciaddr:        dd 0

        times 1536 - ($ - $$) db 0
