#!/bin/bash
# selftest.sh [OUTDIR] -- build the three test disks and boot each under plain SeaBIOS on virtio-blk
# and IDE, checking QEMU's exit status (33 = guest wrote 0x10 to port 0xf4) and the final marker.
# Ends with "images-selftest: N passed, M failed".  About 25 s (grub-linux boots a Debian kernel twice).
# KINDS="syslinux grub" limits the set.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/build/images}
mkdir -p "$OUT"
pass=0 fail=0
declare -A MARK=([syslinux]=SRPBOOT-EXIT-BS [grub]=SRPBOOT-GRUB-DONE [grub-linux]=SRPBOOT-LINUX-OK)
# further lines that must appear (|-separated)
declare -A ALSO=([syslinux]='SRPBOOT-SYSLINUX-OK|SRPBOOT-EXIT-BS dl=80'
                 [grub]='SRPBOOT-GRUB-OK|/payload.bin: OK'
                 [grub-linux]='SRPBOOT-GRUB-LINUX-BOOT|EDD-MODULE loaded|EDD mbr_signature=0x53525033|EDD sectors=65536')
for kind in ${KINDS:-syslinux grub grub-linux}; do
    if ! "$HERE/mkdisk.sh" "$kind" "$OUT/$kind.img"; then
        echo "FAIL build $kind"; fail=$((fail + 1)); continue
    fi
    for bus in virtio ide; do
        missing=
        if r=$("$HERE/run-seabios.sh" "$OUT/$kind.img" $bus "$OUT/$kind-$bus.log" "${MARK[$kind]}"); then
            IFS='|' read -r -a want <<<"${ALSO[$kind]}"
            for w in "${want[@]}"; do grep -qaF -- "$w" "$OUT/$kind-$bus.log" || missing="$missing [$w]"; done
        fi
        if [ -n "$r" ] && [ -z "$missing" ] && [[ $r == *rc=33*marker=found* ]]; then
            echo "PASS $kind $r"; pass=$((pass + 1))
        else
            echo "FAIL $kind $r${missing:+ missing:$missing} (log: $OUT/$kind-$bus.log)"; fail=$((fail + 1))
        fi
    done
done
echo "images-selftest: $pass passed, $fail failed"
[ $fail -eq 0 ]
