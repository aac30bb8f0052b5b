#!/usr/bin/env bash
# The hardened (BPF-LSM) tests, in a QEMU VM booting Debian's cloud kernel.
#
#   scripts/vm-test.sh [--no-build]
#
# Boots three times: with `bpf` in lsm= (the active suite: denials, audit
# events, a minimal neighbour, cleanup, gc, the hook's stdin, create/remove
# cycles), without it (the refusal suite, case F7, and a required AppArmor
# label refused), and with `apparmor,bpf` (the apparmor suite: a profile
# loaded with Debian's apparmor_parser, containers confined by it). Prints the tests of both and
# a last line `vm: N passed, M failed`; exits non-zero if any failed or a
# boot gave no summary.
#
# Needs root, qemu-system-x86, cpio, busybox-static, runc, jq, gcc, clang and
# apt-get with Debian's lists (for the kernel and the apparmor package,
# fetched once with `apt-get download` and kept in $LINERATE_VM_CACHE, default
# /var/cache/linerate-vm). The binaries come from
# $CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/debug, built here unless
# --no-build, or from $LINERATE_BIN_DIR.
#
# TCG only: KVM guests hang on this project's machines. LINERATE_VM_CYCLES
# (default 50) sets the create/remove cycles; LINERATE_VM_TIMEOUT (default
# 900 s) bounds each boot; LINERATE_VM_SUITES (default "active refusal apparmor")
# picks the boots. The console of each boot is kept in
# $LINERATE_VM_CACHE/last-<suite>.log.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${LINERATE_VM_CACHE:-/var/cache/linerate-vm}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${LINERATE_BIN_DIR:-$TARGET/x86_64-unknown-linux-gnu/debug}
TIMEOUT=${LINERATE_VM_TIMEOUT:-900}
CYCLES=${LINERATE_VM_CYCLES:-50}
BUILD=1
[ "${1:-}" = --no-build ] && BUILD=0

die() { echo "vm-test: $*" >&2; echo "vm: 0 passed, 1 failed"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (apt-get install $2)"; }
need qemu-system-x86_64 qemu-system-x86
need cpio cpio
need busybox busybox-static
need runc runc
need jq jq
need cc gcc
need strip binutils
need dpkg-deb dpkg
need apt-get apt

W=$(mktemp -d /tmp/linerate-vm.XXXXXX)
trap 'rm -rf "$W"' EXIT

# The kernel: Debian's cloud image, which has BPF-LSM and Landlock built in.
kernel() {
    if ! ls "$CACHE"/k/boot/vmlinuz-* >/dev/null 2>&1; then
        mkdir -p "$CACHE"
        local pkg
        pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
        if [ -z "$pkg" ]; then
            apt-get update -q >/dev/null
            pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
        fi
        [ -n "$pkg" ] || die "apt knows no linux-image-cloud-amd64"
        (cd "$CACHE" && apt-get download "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
        rm -rf "$CACHE/k"
        dpkg-deb -x "$CACHE/${pkg}"_*.deb "$CACHE/k"
    fi
    ls "$CACHE"/k/boot/vmlinuz-* | head -n 1
}

# apparmor_parser from Debian's apparmor package (it needs only libc).
apparmor_parser() {
    if [ ! -x "$CACHE/aa/x/sbin/apparmor_parser" ]; then
        mkdir -p "$CACHE/aa"
        (cd "$CACHE/aa" && apt-get download apparmor >/dev/null 2>&1) || die "apt-get download apparmor failed"
        rm -rf "$CACHE/aa/x"
        dpkg-deb -x "$CACHE"/aa/apparmor_*.deb "$CACHE/aa/x"
    fi
    echo "$CACHE/aa/x/sbin/apparmor_parser"
}

# Copies a dynamically linked program and its libraries into $R.
with_libs() {
    local prog=$1 dest=$2
    mkdir -p "$R$(dirname "$dest")"
    cp -L "$prog" "$R$dest"
    ldd "$prog" | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}' | while read -r lib; do
        cp -L --parents "$lib" "$R/"
    done
}

initramfs() {
    R=$W/root
    mkdir -p "$R"/{bin,linerate,tests,templates,rootfs/bin,etc,root}
    cp "$ROOT/integration/vm/init" "$R/init"
    cp "$ROOT/integration/vm/run.sh" "$ROOT"/integration/vm/*.toml \
        "$ROOT/integration/vm/linerate-test.apparmor" "$R/tests/"
    chmod +x "$R/init"

    local bb
    bb=$(command -v busybox)
    if ldd "$bb" >/dev/null 2>&1; then die "$bb is not static (apt-get install busybox-static)"; fi
    cp "$bb" "$R/bin/busybox"

    for b in linerate linerate-runtime linerate-init linerate-hook; do
        [ -x "$BIN/$b" ] || die "$BIN/$b is missing: build the workspace first"
        strip -o "$R/linerate/$b" "$BIN/$b"
    done
    with_libs "$(command -v runc)" /usr/sbin/runc
    ln -s ../usr/sbin/runc "$R/bin/runc"
    with_libs "$(apparmor_parser)" /sbin/apparmor_parser

    cc -static -O2 -Wall -o "$W/probe" "$ROOT/integration/vm/probe.c" || die "building the probe failed"

    # The containers' root: busybox and the probe, nothing else.
    cp "$bb" "$R/rootfs/bin/busybox"
    for a in $("$bb" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/rootfs/bin/$a"; done
    cp "$W/probe" "$R/rootfs/bin/probe"
    mkdir -p "$R"/rootfs/{proc,sys,dev,tmp,mnt,etc,root}
    echo "root:x:0:0:root:/root:/bin/sh" >"$R/rootfs/etc/passwd"

    # Bundle templates from runc's default spec; run.sh fills in @ARGS@, @KEY@, @VALUE@.
    (cd "$W" && runc spec)
    local caps
    caps=$(jq -nc '["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER",
        "CAP_FSETID","CAP_KILL","CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST","CAP_NET_ADMIN","CAP_NET_RAW","CAP_IPC_LOCK",
        "CAP_IPC_OWNER","CAP_SYS_MODULE","CAP_SYS_RAWIO","CAP_SYS_CHROOT","CAP_SYS_PTRACE",
        "CAP_SYS_PACCT","CAP_SYS_ADMIN","CAP_SYS_BOOT","CAP_SYS_NICE","CAP_SYS_RESOURCE",
        "CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_MKNOD","CAP_LEASE","CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL","CAP_SETFCAP","CAP_MAC_OVERRIDE","CAP_MAC_ADMIN","CAP_SYSLOG",
        "CAP_WAKE_ALARM","CAP_BLOCK_SUSPEND","CAP_AUDIT_READ","CAP_PERFMON","CAP_BPF",
        "CAP_CHECKPOINT_RESTORE"]')
    jq -c '.process.terminal = false | .process.args = ["@ARGS@"] | .hostname = "c"
        | .root = {"path": "/rootfs", "readonly": false}
        | .annotations = {"@KEY@": "@VALUE@"}' "$W/config.json" >"$R/templates/base.json"
    jq -c --argjson caps "$caps" '.process.capabilities = {bounding: $caps, effective: $caps,
            permitted: $caps, inheritable: $caps, ambient: $caps}
        | .linux.readonlyPaths = [.linux.readonlyPaths[] | select(. != "/proc/sys")]
        | .mounts = [.mounts[] | if .destination == "/sys" then .options = ["nosuid", "noexec", "nodev"] else . end]' \
        "$R/templates/base.json" >"$R/templates/allcaps.json"
    jq -c '.hooks.poststart = [{"path": "/bin/false"}]' "$R/templates/allcaps.json" >"$R/templates/failhook.json"

    (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$W/initrd.gz"
}

# boot SUITE LSM: one VM run; its console in $W/SUITE.log.
boot() {
    local suite=$1 lsm=$2
    echo "== boot: lsm=$lsm ($suite suite)"
    timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2G -nographic -no-reboot \
        -kernel "$KERNEL" -initrd "$W/initrd.gz" \
        -append "console=ttyS0 quiet panic=-1 rdinit=/init lsm=$lsm linerate.suite=$suite LINERATE_VM_CYCLES=$CYCLES" \
        </dev/null 2>&1 | tr -d '\r' | tee "$W/$suite.log" | grep -E '^(ok|not ok) - |^(lsm|kernel|audit sample):|^\{|ABI|^linerate-vm:|panic|Kernel' || true
}

if [ "$BUILD" = 1 ]; then
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --workspace --bins --quiet) || die "cargo build failed"
fi
KERNEL=$(kernel)
initramfs
start=$(date +%s)

passed=0
failed=0
for suite in ${LINERATE_VM_SUITES:-active refusal apparmor}; do
    case "$suite" in
        active) set -- active landlock,lockdown,yama,bpf ;;
        refusal) set -- refusal landlock,lockdown,yama ;;
        apparmor) set -- apparmor landlock,lockdown,yama,apparmor,bpf ;;
        *) die "unknown suite $suite (active, refusal, apparmor)" ;;
    esac
    boot "$1" "$2"
    cp "$W/$1.log" "$CACHE/last-$1.log"
    line=$(grep -E "^$1: [0-9]+ passed, [0-9]+ failed" "$W/$1.log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        echo "boot $1: no summary line; last console lines:"
        tail -n 30 "$W/$1.log"
        failed=$((failed + 1))
        continue
    fi
    echo "$line"
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
    f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
    passed=$((passed + p))
    failed=$((failed + f))
done

echo "vm tests took $(( $(date +%s) - start )) s"
echo "vm: $passed passed, $failed failed"
[ "$failed" = 0 ]
