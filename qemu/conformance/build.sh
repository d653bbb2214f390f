#!/bin/bash
# build.sh OUT.img -- build the deterministic INT 13h conformance disk (8 MiB, 16384 sectors).
#
#   LBA 0..31       conf13.asm (LBA 0 = MBR with partition 1 = LBA 2048..16127, type 0xDA,
#                   CHS end 15/15/63 so QEMU/SeaBIOS derive 16 cylinders / 16 heads / 63 sectors)
#   LBA 32..16383   pattern: each 16-byte line k (0..31) of sector n is "LBA%08x/%03x\n" % (n, 16*k)
#
# Needs nasm and perl (perl-base is always present on Debian).  Prints "sha256 size path".
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUT.img" >&2; exit 2; }
OUT=$1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v nasm >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y nasm >&2; }
command -v perl >/dev/null || { echo "build.sh: perl missing" >&2; exit 1; }

PROG_SECTORS=32
TOTAL=16384
tmp=$(mktemp -d "${TMPDIR:-/tmp}/conf13.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

nasm -f bin -I "$HERE/" -I "$HERE/../lib/" -o "$tmp/conf13.bin" "$HERE/conf13.asm"
[ "$(stat -c %s "$tmp/conf13.bin")" -eq $((PROG_SECTORS * 512)) ] ||
    { echo "build.sh: conf13.bin is not $PROG_SECTORS sectors" >&2; exit 1; }
perl -e 'for my $n ('"$PROG_SECTORS"'..'"$((TOTAL - 1))"') { for my $k (0..31) { printf "LBA%08x/%03x\n", $n, 16*$k } }' \
    > "$tmp/pattern.bin"
mkdir -p "$(dirname "$OUT")"
cat "$tmp/conf13.bin" "$tmp/pattern.bin" > "$OUT.tmp"
[ "$(stat -c %s "$OUT.tmp")" -eq $((TOTAL * 512)) ] || { echo "build.sh: wrong image size" >&2; exit 1; }
mv "$OUT.tmp" "$OUT"
echo "$(sha256sum "$OUT" | cut -d' ' -f1) $(stat -c %s "$OUT") $OUT"
