#!/usr/bin/env bash
# Runs one cargo-fuzz target for a bounded time, then prints libFuzzer's
# final stats (execs, coverage). Exit status is non-zero if it found a crash;
# the reproducer is then in fuzz/artifacts/TARGET/.
#
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags]
#
# New corpus entries go to fuzz/corpus/TARGET (not committed); the committed
# seeds in fuzz/seeds/TARGET are read but never modified.
set -euo pipefail

usage="usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags]"
target=${1:?$usage}
seconds=${2:?$usage}
shift 2
[[ $seconds =~ ^[0-9]+$ ]] || { echo "run.sh: SECONDS must be a whole number: $seconds" >&2; exit 2; }

cd "$(dirname "$0")"
# cargo-fuzz finds its binaries under fuzz/target; a global target dir
# would send the build elsewhere.
unset CARGO_TARGET_DIR
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "run.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
  exit 2
fi
# (list into a variable: `cargo fuzz list | grep -q` breaks the pipe under pipefail)
targets=$(cargo fuzz list)
if ! grep -qx "$target" <<<"$targets"; then
  echo "run.sh: no fuzz target '$target'; targets: $(tr '\n' ' ' <<<"$targets")" >&2
  exit 2
fi

corpus="corpus/$target"
seeds="seeds/$target"
mkdir -p "$corpus" "$seeds"

# Real third-party ROMs make good starting points, but their bytes are not
# ours to commit: take the heads of the ones installed on this machine into
# the (uncommitted) corpus instead.
if [[ $target == romfmt_verify ]]; then
  for rom in /usr/lib/ipxe/qemu/efi-virtio.rom /usr/lib/ipxe/qemu/pxe-e1000.rom /usr/share/seabios/vgabios-stdvga.bin; do
    [[ -f $rom ]] && head -c 8192 "$rom" > "$corpus/system-$(basename "$rom").head"
  done
fi

# Build first, so the time budget is spent fuzzing, not compiling.
cargo fuzz build --release "$target"
exec cargo fuzz run --release "$target" "$corpus" "$seeds" -- \
  -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -max_len=8192 "$@"
