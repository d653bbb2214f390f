#!/bin/bash
# selftest.sh [OUTDIR] -- rebuild the conformance disk, run it under plain SeaBIOS on virtio-blk and
# IDE, and check the logs against the committed references (exact match), then virtio vs IDE with
# mask.txt.  Ends with "conformance-selftest: N passed, M failed".  About 2 s of QEMU time.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/build/conformance}
mkdir -p "$OUT"
pass=0 fail=0
ok()  { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
"$HERE/build.sh" "$OUT/conf.img" || { bad build; echo "conformance-selftest: $pass passed, $((fail)) failed"; exit 1; }
for bus in virtio ide; do
    ref=$HERE/expected-virtio-blk.log; [ $bus = ide ] && ref=$HERE/expected-ide.log
    if "$HERE/run-seabios.sh" "$OUT/conf.img" $bus "$OUT/$bus.log"; then ok "run $bus"; else bad "run $bus"; fi
    if "$HERE/compare.sh" "$ref" "$OUT/$bus.log" /dev/null > "$OUT/$bus.cmp"; then ok "$bus matches $(basename "$ref")"
    else bad "$bus differs from $(basename "$ref"):"; grep -v '^conformance:' "$OUT/$bus.cmp" | head -20; fi
done
if "$HERE/compare.sh" "$OUT/virtio.log" "$OUT/ide.log" > "$OUT/cross.cmp"; then ok "virtio vs ide with mask.txt"
else bad "virtio vs ide with mask.txt:"; head -20 "$OUT/cross.cmp"; fi
echo "conformance-selftest: $pass passed, $fail failed"
[ $fail -eq 0 ]
