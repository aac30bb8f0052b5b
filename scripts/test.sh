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
cargo test --workspace --no-fail-fast
