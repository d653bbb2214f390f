#!/bin/bash
# run-seabios.sh IMG {virtio|ide|none} LOG [MARKER]
#
# Boots IMG under plain SeaBIOS (no srpboot ROM) as a virtio-blk-pci or IDE disk, TCG only.
# COM1 goes to LOG, the SeaBIOS debug log (isa-debugcon 0x402) to LOG.seabios.
# The guest ends the run with `out 0xf4` (isa-debug-exit): QEMU status = (code<<1)|1, 33 for code 0x10.
# The disk is opened with -snapshot, so IMG is never modified.
#
# Prints "<kind-of-disk> rc=<qemu status> time=<seconds> marker=<found|MISSING>" and exits 0 only if
# QEMU exited with status 33 and (if given) MARKER appears in LOG.
#
# Environment: TIMEOUT (default 60 s), MEM (MiB, default 128: the Debian kernel of grub-linux does
#              not boot in 64 MiB), QEMU (default qemu-system-x86_64),
#              QEMU_EXTRA (extra arguments, word-split).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 IMG {virtio|ide|none} LOG [MARKER]" >&2; exit 2; }
IMG=$1 BUS=$2 LOG=$3 MARKER=${4:-}
case "$BUS" in
virtio) DRIVE=(-drive "file=$IMG,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0) ;;
ide)    DRIVE=(-drive "file=$IMG,format=raw,if=ide") ;;
none)   DRIVE=() ;;   # no SeaBIOS disk: QEMU_EXTRA supplies the srpboot ROM and whatever serves IMG
*) echo "bus must be virtio, ide or none" >&2; exit 2 ;;
esac
mkdir -p "$(dirname "$LOG")"
rm -f "$LOG" "$LOG.seabios"
start=$(date +%s.%N)
set +e
# shellcheck disable=SC2086
timeout "${TIMEOUT:-60}" "${QEMU:-qemu-system-x86_64}" -display none -m "${MEM:-128}" -no-reboot \
    -monitor none -net none -snapshot \
    -serial "file:$LOG" \
    -device isa-debug-exit,iobase=0xf4,iosize=4 \
    -chardev "file,id=dbg,path=$LOG.seabios" -device isa-debugcon,iobase=0x402,chardev=dbg \
    ${DRIVE[@]+"${DRIVE[@]}"} ${QEMU_EXTRA:-}
rc=$?
set -e
end=$(date +%s.%N)
t=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b-a}')
m=none
if [ -n "$MARKER" ]; then
    if grep -qa -- "$MARKER" "$LOG"; then m=found; else m=MISSING; fi
fi
echo "$BUS rc=$rc time=${t}s marker=$m"
[ $rc -eq 33 ] && [ "$m" != MISSING ]
