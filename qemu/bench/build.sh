#!/bin/bash
# build.sh OUT.img [MIB [RAND_N]] -- build the deterministic INT 13h benchmark disk (default 64 MiB, 2048 random reads).
#
#   LBA 0..31       bench13.asm (LBA 0 = MBR, disk signature "BNCH", no partitions)
#   LBA 32..end     data area; each 16-byte line k (0..31) of sector n is "LBA%08x/%03x\n" % (n, 16*k)
#                   (the same pattern as the conformance disk, so hexdumps read the same)
#
# The payload has the size and the random-read count assembled in.  Needs nasm and perl (perl-base is
# always present on Debian).  Prints "sha256 size path".
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 3 ] || { echo "usage: $0 OUT.img [MIB [RAND_N]]" >&2; exit 2; }
OUT=$1 MIB=${2:-64} RAND_N=${3:-2048}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v nasm >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y nasm >&2; }
command -v perl >/dev/null || { echo "build.sh: perl missing" >&2; exit 1; }
[[ $MIB =~ ^[0-9]+$ ]] && [ "$MIB" -ge 1 ] && [ "$MIB" -le 1024 ] || { echo "build.sh: MIB must be 1..1024" >&2; exit 2; }
[[ $RAND_N =~ ^[0-9]+$ ]] || { echo "build.sh: RAND_N must be a number" >&2; exit 2; }

PROG_SECTORS=32
TOTAL=$((MIB * 2048))
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench13.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

nasm -f bin -I "$HERE/../lib/" -DTOTAL_SECTORS="$TOTAL" -DRAND_N="$RAND_N" -o "$tmp/bench13.bin" "$HERE/bench13.asm"
[ "$(stat -c %s "$tmp/bench13.bin")" -eq $((PROG_SECTORS * 512)) ] ||
    { echo "build.sh: bench13.bin is not $PROG_SECTORS sectors" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
{
    cat "$tmp/bench13.bin"
    # One sprintf per sector: the template has the 32 line offsets and a %s for each LBA.
    perl -e 'my $t = join("", map { sprintf("LBA%%1\$s/%03x\n", 16 * $_) } 0..31);
             for my $n ('"$PROG_SECTORS"'..'"$((TOTAL - 1))"') { printf $t, sprintf("%08x", $n) }'
} > "$OUT.tmp"
[ "$(stat -c %s "$OUT.tmp")" -eq $((TOTAL * 512)) ] || { echo "build.sh: wrong image size" >&2; exit 1; }
mv "$OUT.tmp" "$OUT"
echo "$(sha256sum "$OUT" | cut -d' ' -f1) $(stat -c %s "$OUT") $OUT"
