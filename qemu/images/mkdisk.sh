#!/bin/bash
# mkdisk.sh KIND OUT.img -- build a deterministic test disk for srpboot.
#
# KIND:
#   syslinux    8 MiB: syslinux mbr.bin + FAT16 partition with SYSLINUX 6.04 (EDD).
#               cat.c32 prints SRPBOOT-SYSLINUX-OK, then exit.bs prints SRPBOOT-EXIT-BS dl=80 and does out 0xf4,0x10.
#   grub        8 MiB: GRUB 2 i386-pc boot.img + core.img (embedded config) + FAT16 partition.
#               Prints SRPBOOT-GRUB-OK, `ls`, reads the 1 MiB payload.bin (sha256sum and sha256sum -c
#               -> "/payload.bin: OK"), SRPBOOT-GRUB-DONE, then outb 0xf4 0x10.
#   grub-linux  32 MiB: GRUB 2 + Debian linux-image-amd64 (linux16/initrd16) + busybox initramfs that
#               loads edd.ko, prints `EDD <name>=<value>` lines, SRPBOOT-LINUX-OK, then exits QEMU.
#
# No root, no loop devices: sfdisk on a file, mkfs.fat on a partition image, mtools, dd.
# Needs (Debian packages; installed automatically with apt-get when run as root):
#   fdisk (sfdisk)  dosfstools (mkfs.fat)  mtools  nasm  syslinux  syslinux-common
#   grub-pc-bin  grub-common (grub-mkimage)  busybox-static  cpio  gzip  coreutils
#   and, for grub-linux, the package linux-image-amd64 (its dependency linux-image-<abi>-amd64) is
#   *downloaded* with `apt-get download` into the cache and unpacked there with dpkg-deb -x, never installed.
#
# Environment:
#   SRPBOOT_CACHE   download/unpack cache (default: <repo>/build/cache)
#   SRPBOOT_KERNEL_PKG  override the kernel binary package name (default: resolved from linux-image-amd64)
#   SOURCE_DATE_EPOCH   timestamp used for FAT entries and cpio (default: 1700000000)
#
# Output: OUT.img, plus a line "sha256 size kind path" on stdout (last line).
set -euo pipefail

usage() { echo "usage: $0 {syslinux|grub|grub-linux} OUT.img" >&2; exit 2; }
[ $# -eq 2 ] || usage
KIND=$1
OUT=$2
case "$KIND" in syslinux|grub|grub-linux) ;; *) usage ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${SRPBOOT_CACHE:-$ROOT/build/cache}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
export MTOOLS_SKIP_CHECK=1
export LC_ALL=C TZ=UTC

# ---------------------------------------------------------------- prerequisites
need_pkgs=()
need() { # need CMD-or-FILE PACKAGE
    if [[ $1 == /* ]]; then [ -e "$1" ] || need_pkgs+=("$2")
    else command -v "$1" >/dev/null 2>&1 || need_pkgs+=("$2"); fi
}
need sfdisk fdisk
need mkfs.fat dosfstools
need mcopy mtools
need nasm nasm
need dd coreutils
need sha256sum coreutils
case "$KIND" in
syslinux)
    need syslinux syslinux
    need /usr/lib/syslinux/mbr/mbr.bin syslinux-common
    need /usr/lib/syslinux/modules/bios/ldlinux.c32 syslinux-common ;;
grub|grub-linux)
    need grub-mkimage grub-common
    need /usr/lib/grub/i386-pc/boot.img grub-pc-bin ;;
esac
if [ "$KIND" = grub-linux ]; then
    need /bin/busybox busybox-static
    need cpio cpio
    need gzip gzip
    need dpkg-deb dpkg
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "mkdisk: installing ${need_pkgs[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2 ||
            { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2; }
    else
        echo "mkdisk: missing packages: ${need_pkgs[*]} (run as root or install them)" >&2
        exit 1
    fi
fi
if [ "$KIND" = grub-linux ] && ! grep -qx insmod <<<"$(/bin/busybox --list 2>/dev/null)"; then
    echo "mkdisk: /bin/busybox lacks insmod (need busybox-static)" >&2; exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mkdisk.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Fixed timestamps for every file we put on a FAT volume (mtools honours SOURCE_DATE_EPOCH
# for directories; -m keeps the file's mtime, which we pin).
pin() { touch -h -d "@$SOURCE_DATE_EPOCH" "$@"; }

PART_START=2048                         # LBA of partition 1 (1 MiB aligned)

# mkpart DISK_MIB LABEL_ID VOLID -> $WORK/disk.img (partition table), $WORK/part.img (empty FAT)
mkpart() {
    local disk_mib=$1 label_id=$2 volid=$3
    local total=$((disk_mib * 2048)) psize
    psize=$((total - PART_START))
    truncate -s 0 "$WORK/disk.img"
    truncate -s $((total * 512)) "$WORK/disk.img"
    # type 6 = FAT16 (>= 32 MiB variant; fine for any size), bootable.
    sfdisk --quiet --no-reread --no-tell-kernel "$WORK/disk.img" <<EOF
label: dos
label-id: $label_id
unit: sectors

start=$PART_START, size=$psize, type=6, bootable
EOF
    rm -f "$WORK/part.img"
    # -h: hidden sectors = partition start (needed by SYSLINUX/GRUB's FAT code and DOS);
    # -F 16 -s 1: FAT16 even on small partitions (FAT16 needs >= 4085 clusters).
    mkfs.fat --invariant -i "$volid" -n SRPBOOT -F 16 -s 1 -h $PART_START -S 512 \
        -C "$WORK/part.img" $((psize / 2)) >/dev/null
}

# finish: put part.img into disk.img at PART_START, move to OUT
finish() {
    dd if="$WORK/part.img" of="$WORK/disk.img" bs=512 seek=$PART_START conv=notrunc status=none
    mkdir -p "$(dirname "$OUT")"
    mv "$WORK/disk.img" "$OUT"
    local sum size
    sum=$(sha256sum "$OUT" | cut -d' ' -f1)
    size=$(stat -c %s "$OUT")
    echo "$sum $size $KIND $OUT"
}

# payload FILE KIB: deterministic LBA-tagged pattern, 16 bytes per line:
# "P<block:6 hex>.<line:2 hex> SRPB\n" for each of the 32 lines of each 512-byte block.
payload() {
    local out=$1 kib=$2
    : > "$out"
    local blocks=$((kib * 2)) b j
    {
        for ((b = 0; b < blocks; b++)); do
            for ((j = 0; j < 32; j++)); do printf 'P%06x.%02x SRPB\n' $b $j; done
        done
    } > "$out"
}

mcp() { # mcp SRC DEST (in part.img)
    pin "$1"
    mcopy -o -m -i "$WORK/part.img" "$1" "::$2"
}

# ---------------------------------------------------------------- grub helpers
GRUBDIR=/usr/lib/grub/i386-pc
# grub_install CFG MODULES... : build core.img with embedded config; boot.img -> LBA 0 (440 bytes,
# keeps the partition table), core.img -> LBA 1.. (the defaults in boot.img/diskboot.img point there).
grub_install() {
    local cfg=$1; shift
    grub-mkimage -O i386-pc -d "$GRUBDIR" -o "$WORK/core.img" -p '(hd0,msdos1)/boot/grub' \
        -c "$cfg" "$@"
    local sectors=$(( ($(stat -c %s "$WORK/core.img") + 511) / 512 ))
    if [ $sectors -ge $PART_START ]; then
        echo "mkdisk: core.img ($sectors sectors) does not fit before LBA $PART_START" >&2; exit 1
    fi
    dd if="$GRUBDIR/boot.img" of="$WORK/disk.img" bs=440 count=1 conv=notrunc status=none
    dd if="$WORK/core.img" of="$WORK/disk.img" bs=512 seek=1 conv=notrunc status=none
}

GRUB_BASE_MODS="biosdisk part_msdos fat serial terminal terminfo echo ls cat iorw halt sleep test"

# ---------------------------------------------------------------- kernel (grub-linux)
fetch_kernel() {
    local pkg=${SRPBOOT_KERNEL_PKG:-}
    if [ -z "$pkg" ]; then
        # linux-image-amd64 is a metapackage; its single dependency is the real kernel package.
        pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
        if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
            apt-get update >&2
            pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
        fi
        if [ -z "$pkg" ]; then
            # offline fallback: newest already-cached kernel package
            pkg=$(ls "$CACHE"/linux-image-*-amd64_*.deb 2>/dev/null | sort -V | tail -1 | xargs -r basename | cut -d_ -f1)
        fi
        [ -n "$pkg" ] || { echo "mkdisk: cannot resolve linux-image-amd64" >&2; exit 1; }
    fi
    local deb
    deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$deb" ]; then
        echo "mkdisk: downloading $pkg into $CACHE" >&2
        (cd "$CACHE" && apt-get download "$pkg" >&2)
        deb=$(ls "$CACHE/${pkg}"_*.deb | sort -V | tail -1)
    fi
    KDIR="$CACHE/$(basename "$deb" .deb)"
    if [ ! -e "$KDIR/.unpacked" ]; then
        rm -rf "$KDIR"
        mkdir -p "$KDIR"
        # only what we need: vmlinuz and edd.ko (keeps the cache small)
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$KDIR" --wildcards './boot/vmlinuz-*' './boot/config-*' \
            './lib/modules/*/kernel/drivers/firmware/edd.ko*' './lib/modules/*/modules.builtin'
        touch "$KDIR/.unpacked"
    fi
    VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -1)
    EDD_KO=$(ls "$KDIR"/lib/modules/*/kernel/drivers/firmware/edd.ko* | head -1)
    # edd.ko has no module dependencies (depends= is empty); check so a future kernel does not surprise us.
    local deps
    deps=$(tr '\0' '\n' < "$EDD_KO" | sed -n 's/^depends=//p' | head -1)
    if [ -n "$deps" ]; then
        echo "mkdisk: edd.ko now depends on '$deps'; teach mkdisk.sh to add them" >&2; exit 1
    fi
    echo "mkdisk: kernel $(basename "$VMLINUZ") from $(basename "$deb")" >&2
}

build_initrd() { # -> $WORK/initrd.gz
    local r=$WORK/initramfs
    rm -rf "$r"
    mkdir -p "$r"/{bin,sbin,proc,sys,dev,lib/modules,tmp}
    cp /bin/busybox "$r/bin/busybox"
    cp "$EDD_KO" "$r/lib/modules/edd.ko"
    cat > "$r/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec >/dev/console 2>&1
echo "SRPBOOT-LINUX-INIT $(uname -r)"
echo "CMDLINE $(cat /proc/cmdline)"
insmod /lib/modules/edd.ko && echo "EDD-MODULE loaded" || echo "EDD-MODULE insmod failed"
if [ -d /sys/firmware/edd ]; then
    for d in /sys/firmware/edd/int13_dev*; do
        [ -d "$d" ] || continue
        dev=${d##*/}
        echo "EDD-DEV $dev"
        for f in "$d"/*; do
            [ -f "$f" ] || continue
            n=${f##*/}
            if [ "$n" = raw_data ]; then
                v=$(od -An -tx1 -v "$f" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')
            else
                v=$(tr '\n\t' '| ' < "$f" | sed 's/|$//; s/  */ /g; s/ *| */|/g')
            fi
            if [ "$dev" = int13_dev80 ]; then echo "EDD $n=$v"; else echo "EDD $dev/$n=$v"; fi
        done
    done
    for f in /sys/firmware/edd/mbr_signature*; do [ -f "$f" ] && echo "EDD ${f##*/}=$(cat "$f")"; done
else
    echo "EDD none"
fi
echo SRPBOOT-LINUX-OK
sync
# Exit QEMU through isa-debug-exit (port 0xf4): status (0x10<<1)|1 = 33.  Fallback: ACPI poweroff.
printf '\020' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
EOF
    chmod 755 "$r/init" "$r/bin/busybox"
    find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    (cd "$r" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -n -9 > "$WORK/initrd.gz"
}

# ---------------------------------------------------------------- kinds
case "$KIND" in
syslinux)
    mkpart 8 0x53525031 53525031          # label-id "SRP1"
    nasm -f bin -o "$WORK/exit.bs" "$HERE/exit-bs.asm"
    # SYSLINUX 6.04 parses the whole config before it attaches its stdout to the serial port, so SAY
    # and DISPLAY text reaches only the VGA console (checked: with -nographic/sercon the SAY line shows,
    # on COM1 it does not).  The serial marker is therefore printed by cat.c32 (a COM32 module that
    # runs after parsing); when it returns to the boot: prompt the 0.1 s TIMEOUT fires ONTIMEOUT,
    # which boots exit.bs (prints SRPBOOT-EXIT-BS dl=80 and writes 0x10 to port 0xf4).
    printf 'SRPBOOT-SYSLINUX-OK\n' > "$WORK/marker.txt"
    cat > "$WORK/syslinux.cfg" <<'EOF'
SERIAL 0 115200
SAY SRPBOOT-SYSLINUX-OK (vga)
PROMPT 0
TIMEOUT 1
DEFAULT marker
ONTIMEOUT exit.bs
LABEL marker
  COM32 cat.c32
  APPEND marker.txt
LABEL exit
  KERNEL exit.bs
EOF
    for m in cat.c32 libcom32.c32 libutil.c32; do mcp /usr/lib/syslinux/modules/bios/$m /$m; done
    mcp "$WORK/marker.txt" /marker.txt
    mcp "$WORK/syslinux.cfg" /syslinux.cfg
    mcp "$WORK/exit.bs" /exit.bs
    # syslinux (mtools flavour) writes the boot sector and ldlinux.sys/ldlinux.c32 into the image file.
    syslinux --install "$WORK/part.img"
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$WORK/disk.img" bs=440 count=1 conv=notrunc status=none
    finish
    ;;
grub)
    mkpart 8 0x53525032 53525032          # "SRP2"
    payload "$WORK/payload.bin" 1024      # 1 MiB, read by GRUB through INT 13h
    mcp "$WORK/payload.bin" /payload.bin
    printf 'SRPBOOT grub test volume\n' > "$WORK/hello.txt"
    mcp "$WORK/hello.txt" /hello.txt
    PAYLOAD_SHA=$(sha256sum "$WORK/payload.bin" | cut -d' ' -f1)
    echo "payload.bin sha256 $PAYLOAD_SHA (GRUB prints it as \"<sha256>  /payload.bin\")" >&2
    printf '%s  /payload.bin\n' "$PAYLOAD_SHA" > "$WORK/payload.sha256"
    mcp "$WORK/payload.sha256" /payload.sha256
    cat > "$WORK/early.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
terminfo -g 200x50 serial_com0 dumb
echo SRPBOOT-GRUB-OK
ls
ls -l (hd0,msdos1)/
cat (hd0,msdos1)/hello.txt
set root=(hd0,msdos1)
sha256sum /payload.bin
sha256sum -c /payload.sha256
echo SRPBOOT-GRUB-DONE
outb 0xf4 0x10
halt
EOF
    grub_install "$WORK/early.cfg" $GRUB_BASE_MODS hashsum gcry_sha256
    finish
    ;;
grub-linux)
    fetch_kernel
    build_initrd
    mkpart 32 0x53525033 53525033         # "SRP3"
    mcp "$VMLINUZ" /vmlinuz
    mcp "$WORK/initrd.gz" /initrd.gz
    cat > "$WORK/early.cfg" <<'EOF'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
terminfo -g 200x50 serial_com0 dumb
echo SRPBOOT-GRUB-LINUX-LOADING
linux16 (hd0,msdos1)/vmlinuz console=ttyS0,115200 edd=on panic=-1
initrd16 (hd0,msdos1)/initrd.gz
echo SRPBOOT-GRUB-LINUX-BOOT
boot
echo SRPBOOT-GRUB-LINUX-FAILED
outb 0xf4 0x11
halt
EOF
    grub_install "$WORK/early.cfg" $GRUB_BASE_MODS linux16 boot
    finish
    ;;
esac
