#!/usr/bin/env bash
# The README's second command: every test, real containers included. Tests
# that need root or a runtime fail here rather than skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "test: run as root: the container tests start real runc and crun" >&2
    exit 1
fi

scripts/install-deps.sh
cargo build --workspace --bins
export LINERATE_REQUIRE_PRIVILEGED=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?

# The hardened level's tests need a kernel with BPF-LSM: they boot one in QEMU.
scripts/vm-test.sh --no-build 2>&1 | tee -a "$log" || status=$?

# One closing line over every test binary and the VM: cargo prints one per
# binary, and the last of them is often a doc-test run with nothing in it.
awk '/^vm: [0-9]+ passed, [0-9]+ failed/ { p += $2; f += $4 }
     /^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/) f += $i
            if ($(i+1) ~ /^ignored/) s += $i
        }
     }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
