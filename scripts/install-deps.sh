#!/usr/bin/env bash
# Installs the Debian packages linerate builds, runs and tests with.
# Harmless to run again. Needs root.
set -euo pipefail

packages=(
    runc crun busybox-static jq ca-certificates
    # the engines the tests drive
    podman containerd
    # BPF-LSM programs and the VM that tests them
    clang llvm libbpf-dev bpftool qemu-system-x86 cpio gcc libc6-dev binutils
    # benchmarks: libseccomp for the baselines, Docker's default profile
    libseccomp-dev golang-github-containers-common hyperfine
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
