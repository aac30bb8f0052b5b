#!/usr/bin/env bash
# The README's first command: install what linerate needs, build it, install
# it under /usr/local, compile the levels into the store, and start a busybox
# container through runc at level `sandbox` that shows what it is allowed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: run as root (containers, /usr/local and /var/lib/linerate)" >&2
    exit 1
fi

scripts/install-deps.sh
cargo build --release --workspace --bins
bin=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release
install -m 0755 "$bin/linerate" "$bin/linerate-runtime" "$bin/linerate-init" "$bin/linerate-hook" /usr/local/bin/
linerate install

work=$(mktemp -d /tmp/linerate-demo.XXXXXX)
trap 'runc --root "$work/runc" delete -f demo >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/busybox-bundle.sh "$work/bundle"
cd "$work/bundle"
jq '.annotations = {"io.linerate.level": "sandbox"}
    | .process.args = ["sh", "-c", "grep -E \"^(Cap|NoNewPrivs|Seccomp)\" /proc/self/status; if (echo x > /etc/linerate-demo) 2>/dev/null; then echo \"write to /etc: allowed\"; else echo \"write to /etc: refused\"; fi; echo ok > /tmp/demo && echo \"write to /tmp: allowed\""]' \
    config.json > config.json.new && mv config.json.new config.json

echo
echo "== a busybox container through linerate-runtime (runc) at level sandbox =="
linerate-runtime --root "$work/runc" run demo
