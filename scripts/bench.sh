#!/usr/bin/env bash
# Runs linerate's benchmarks side by side with libseccomp, runc and crun,
# writes bench/results/latest.json and regenerates BENCHMARKS.md and the
# charts under bench/results/.
#
#   scripts/bench.sh            full run (several minutes; what BENCHMARKS.md shows)
#   scripts/bench.sh --quick    few samples, under 3 minutes: proves the benchmark works (CI)
#
# Needs root (filters, Landlock, runc). Installs its Debian packages when
# they are missing. Builds in release into CARGO_TARGET_DIR (default target/).
set -euo pipefail

quick=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    *) echo "usage: scripts/bench.sh [--quick]" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need=()
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
[ -e /usr/share/containers/seccomp.json ] || need+=(golang-github-containers-common)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v runc >/dev/null || need+=(runc)
command -v crun >/dev/null || need+=(crun)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench.sh: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

profile=/usr/share/containers/seccomp.json
if [ ! -e "$profile" ]; then
  profile=$(dpkg -L containers-common golang-github-containers-common 2>/dev/null | grep '/seccomp\.json$' | head -n1 || true)
fi
[ -n "$profile" ] && [ -e "$profile" ] || { echo "bench.sh: Docker's seccomp.json not found" >&2; exit 1; }

target=${CARGO_TARGET_DIR:-$root/target}
bins=$target/x86_64-unknown-linux-gnu/release
work=$(mktemp -d /tmp/linerate-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

start=$(date +%s)
cargo build --release --locked -p linerate-shim -p linerate-bench >&2
# The hook is measured when it builds; the report says so when it does not.
if [ -e hooks/Cargo.toml ]; then
  cargo build --release --locked -p linerate-hook >&2 || echo "bench.sh: linerate-hook did not build; the hook is not measured" >&2
fi
gcc -O2 -Wall -Wextra -o "$work/seccomp_bench" bench/c/seccomp_bench.c -lseccomp
echo "bench.sh: built in $(( $(date +%s) - start )) s" >&2

"$bins/linerate-bench" run "${quick[@]}" \
  --helper "$work/seccomp_bench" \
  --bins "$bins" \
  --work "$work/run" \
  --profile "$profile" \
  --command-line "scripts/bench.sh${quick:+ --quick}" \
  --out bench/results/latest.json
"$bins/linerate-bench" report \
  --results bench/results/latest.json \
  --md BENCHMARKS.md \
  --svg-dir bench/results
echo "bench.sh: wrote bench/results/latest.json, BENCHMARKS.md and bench/results/*.svg in $(( $(date +%s) - start )) s" >&2
