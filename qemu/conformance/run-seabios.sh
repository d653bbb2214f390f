#!/bin/bash
# run-seabios.sh IMG {virtio|ide|none} LOG -- run the conformance disk under plain SeaBIOS (TCG).
#
# LOG gets only the conformance lines (CONF/Tnnn/SUMMARY, CR stripped); the raw COM1 output is kept
# in LOG.raw and SeaBIOS's debug log (isa-debugcon 0x402) in LOG.seabios.
# The disk is opened with -snapshot: the program writes to its scratch sectors (and restores them),
# but IMG itself is never modified.  Exit status 0 iff QEMU exited with 33 (out 0xf4,0x10) and a
# SUMMARY line was printed.
# Environment: TIMEOUT (default 60), MEM (default 64), QEMU (default qemu-system-x86_64), QEMU_EXTRA (word-split).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 IMG {virtio|ide|none} LOG" >&2; exit 2; }
IMG=$1 BUS=$2 LOG=$3
case "$BUS" in
virtio) DRIVE=(-drive "file=$IMG,if=none,id=d0,format=raw" -device virtio-blk-pci,drive=d0) ;;
ide)    DRIVE=(-drive "file=$IMG,format=raw,if=ide") ;;
none)   DRIVE=() ;;   # no SeaBIOS disk: QEMU_EXTRA supplies the srpboot ROM and whatever serves IMG
*) echo "bus must be virtio, ide or none" >&2; exit 2 ;;
esac
mkdir -p "$(dirname "$LOG")"
rm -f "$LOG" "$LOG.raw" "$LOG.seabios"
set +e
# shellcheck disable=SC2086
timeout "${TIMEOUT:-60}" "${QEMU:-qemu-system-x86_64}" -display none -m "${MEM:-64}" -no-reboot \
    -monitor none -net none -snapshot \
    -serial "file:$LOG.raw" \
    -device isa-debug-exit,iobase=0xf4,iosize=4 \
    -chardev "file,id=dbg,path=$LOG.seabios" -device isa-debugcon,iobase=0x402,chardev=dbg \
    ${DRIVE[@]+"${DRIVE[@]}"} ${QEMU_EXTRA:-}
rc=$?
set -e
tr -d '\r' < "$LOG.raw" | grep -aE '^(CONF|T[0-9]{3}|SUMMARY)' > "$LOG" || true
echo "$BUS rc=$rc lines=$(wc -l < "$LOG") $(grep -a '^SUMMARY' "$LOG" || echo 'SUMMARY missing')"
[ $rc -eq 33 ] && grep -qa '^SUMMARY' "$LOG"
