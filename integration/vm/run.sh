#!/bin/sh
# The hardened tests, run by /init inside the VM (busybox sh).
#
#   run.sh active    the kernel was booted with bpf in lsm=: BPF-LSM must enforce
#   run.sh refusal   booted without it: hardened containers must refuse to start
#   run.sh apparmor  booted with apparmor in lsm=: AppArmor labels are applied
#
# Containers run through linerate-runtime in front of runc. Bundles come from
# templates that scripts/vm-test.sh wrote with jq: base.json is runc's default
# spec; allcaps.json also grants every capability and mounts /proc/sys and
# /sys writable, so that BPF-LSM is the only thing between the container and
# the action (seccomp, Landlock and missing capabilities refuse first
# otherwise, and never reach the LSM hook).
#
# Each test prints `ok - NAME` or `not ok - NAME: why`; the last line is
# `SUITE: N passed, M failed`.

suite=${1:-active}
PASS=0
FAIL=0
W=/work
mkdir -p $W

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
nok() { FAIL=$((FAIL + 1)); echo "not ok - $1: $2"; }
check() { # NAME COMMAND...: passes when the command succeeds
    name=$1; shift
    if "$@" >$W/check.out 2>&1; then ok "$name"; else nok "$name" "$(tr '\n' ' ' <$W/check.out | cut -c1-300)"; fi
}

# mk BUNDLE TEMPLATE ANNOTATION VALUE ARGS: ARGS is the inside of a JSON array.
mk() {
    rm -rf "/b/$1"; mkdir -p "/b/$1"
    sed -e "s|\"@ARGS@\"|$5|" -e "s|@KEY@|$3|" -e "s|@VALUE@|$4|" "/templates/$2.json" >"/b/$1/config.json"
}

# run ID TEMPLATE KEY VALUE ARGS: runs a container to its end; its output
# in $W/ID.out and $W/ID.err, its exit code in $rc.
run() {
    mk "$1" "$2" "$3" "$4" "$5"
    echo "# t=$(cut -d' ' -f1 /proc/uptime) run $1"
    timeout 120 linerate-runtime run -b "/b/$1" "$1" >"$W/$1.out" 2>"$W/$1.err" </dev/null
    rc=$?
}

# audit_has ID HOOK [WORD]: the events since the last drain include a denial
# by HOOK in container ID (and WORD, when given).
audit_has() {
    timeout 30 linerate audit --json >>$W/audit.all 2>&1
    grep "\"container\":\"$1\"" $W/audit.all | grep "\"hook\":\"$2\"" | grep '"verdict":"deny"' | grep -q -- "${3:-.}"
}
audit_drain() { timeout 30 linerate audit --json >>$W/audit.log 2>&1; : >$W/audit.all; }

# kept: how many BPF-LSM entries exist now (a dry run sweeps nothing);
# when gc cannot tell, a value that equals nothing
# else, so that two failed counts never compare equal.
kept() {
    n=$(timeout 30 linerate gc --dry-run | sed -n 's/.*"entries":\([0-9]*\).*/\1/p')
    if [ -n "$n" ]; then echo "$n"; else echo "unknown-$$-$RANDOM"; fi
}

# probe_denied ID ACTION ARGS...: in a BPF-LSM-only container the action
# fails with EPERM, and the audit ring has the denial.
probe_denied() {
    id=$1; hook=$2; shift 2
    args=""
    for a in "$@"; do args="$args,\"$a\""; done
    audit_drain
    run "$id" allcaps io.linerate.profile lsm-only "\"/bin/probe\"$args"
    if [ "$rc" != 1 ]; then
        nok "lsm-only: $*: refused with EPERM" "exit $rc: $(cat $W/$id.out $W/$id.err | tr '\n' ' ')"
        return
    fi
    ok "lsm-only: $*: refused with EPERM"
    if audit_has "$id" "$hook"; then ok "lsm-only: $*: audit event ($hook, deny)"; else
        nok "lsm-only: $*: audit event ($hook, deny)" "$(tail -c 600 $W/audit.all)"; fi
}

# probe_allowed ID TEMPLATE LEVEL ACTION ARGS...: the action succeeds
# (minimal's seccomp deny-list refuses bpf and module loads itself, so the
# minimal neighbour is checked on the rest).
probe_allowed() {
    id=$1; tmpl=$2; level=$3; shift 3
    args=""
    for a in "$@"; do args="$args,\"$a\""; done
    run "$id" "$tmpl" io.linerate.level "$level" "\"/bin/probe\"$args"
    if [ "$rc" = 0 ]; then ok "$level beside: $* allowed"; else
        nok "$level beside: $* allowed" "exit $rc: $(cat $W/$id.out $W/$id.err | tr '\n' ' ')"; fi
}

setup() {
    echo "lsm: $(cat /sys/kernel/security/lsm)"
    echo "kernel: $(uname -r)"
    linerate install --prefix / >$W/install.log 2>&1 || linerate install >$W/install.log 2>&1 ||
        { echo "linerate install failed: $(cat $W/install.log)"; }
    for p in lsm-only aa-confined aa-missing aa-optional; do
        linerate compile /tests/$p.toml >$W/compile.log 2>&1 || echo "compile $p failed: $(cat $W/compile.log)"
    done
    echo "apparmor enabled: $(cat /sys/module/apparmor/parameters/enabled 2>&1)"
    linerate doctor 2>/dev/null | grep -i landlock | head -3
}

active() {
    check "bpf is among the active LSMs" grep -q bpf /sys/kernel/security/lsm

    # The level itself, every layer on: the container starts, and what it
    # must not do fails (whichever layer refuses first).
    run h-true base io.linerate.level hardened '"/bin/true"'
    if [ "$rc" = 0 ]; then ok "hardened: a container starts"; else nok "hardened: a container starts" "exit $rc: $(cat $W/h-true.err)"; fi
    check "programs are pinned under /sys/fs/bpf/linerate" sh -c 'ls /sys/fs/bpf/linerate/v*/link_exec_check'
    # busybox copied as /tmp/true runs its `true` applet where exec is allowed.
    run h-tmp base io.linerate.level hardened '"/bin/sh","-c","cp /bin/busybox /tmp/true \&\& /tmp/true"'
    if [ "$rc" = 126 ]; then ok "hardened: exec from /tmp refused ($(cat $W/h-tmp.out $W/h-tmp.err | tr '\n' ' '))"; else
        nok "hardened: exec from /tmp refused" "exit $rc: $(cat $W/h-tmp.out $W/h-tmp.err | tr '\n' ' ')"; fi
    for action in "open-write /proc/sys/kernel/hostname" mount ptrace bpf packet raw; do
        # shellcheck disable=SC2086
        set -- $action
        a=""; for x in "$@"; do a="$a,\"$x\""; done
        run h-deny base io.linerate.level hardened "\"/bin/probe\"$a"
        case "$rc" in 1|2) ok "hardened: $action refused ($(cat $W/h-deny.out))" ;;
            *) nok "hardened: $action refused" "exit $rc: $(cat $W/h-deny.out $W/h-deny.err | tr '\n' ' ')" ;; esac
    done

    # BPF-LSM alone, as root with every capability: each rule and its event.
    audit_drain
    run l-sh allcaps io.linerate.profile lsm-only '"/bin/sh","-c","cp /bin/busybox /tmp/y; exec /bin/probe exec /tmp/y true"'
    if grep -q 'probe exec errno EPERM' $W/l-sh.out; then ok "lsm-only: exec from /tmp refused with EPERM"; else
        nok "lsm-only: exec from /tmp refused with EPERM" "exit $rc: $(cat $W/l-sh.out $W/l-sh.err | tr '\n' ' ')"; fi
    if audit_has l-sh exec exec_from_writable_dir; then ok "lsm-only: exec from /tmp: audit event with alert"; else
        nok "lsm-only: exec from /tmp: audit event with alert" "$(tail -c 600 $W/audit.all)"; fi
    if grep '"container":"l-sh"' $W/audit.all | grep '"hook":"exec"' | grep -q shell_spawned; then
        ok "lsm-only: a shell start is an alert"; else nok "lsm-only: a shell start is an alert" "$(tail -c 600 $W/audit.all)"; fi
    if grep '"container":"l-sh"' $W/audit.all | grep '"verdict":"allow"' | grep -q '"object":"/bin/busybox"'; then
        ok "lsm-only: every exec is an event"; else nok "lsm-only: every exec is an event" "$(tail -c 600 $W/audit.all)"; fi

    probe_denied l-sysctl file_open open-write /proc/sys/kernel/hostname
    probe_denied l-sysfs file_open open-write /sys/kernel/mm/transparent_hugepage/enabled
    probe_denied l-mount mount mount /mnt
    probe_denied l-ptrace ptrace ptrace
    probe_denied l-traceme ptrace_traceme traceme
    probe_denied l-bpf bpf bpf
    probe_denied l-packet socket_create packet
    probe_denied l-raw socket_create raw
    probe_denied l-module kernel_read_file module /bin/probe

    # A minimal container beside a running hardened one is untouched.
    mk l-bg allcaps io.linerate.profile lsm-only '"/bin/probe","sleep","30"'
    linerate-runtime run -d -b /b/l-bg l-bg >$W/l-bg.out 2>$W/l-bg.err </dev/null
    n=$(kept)
    if [ "$n" = 1 ]; then ok "one entry while one hardened container runs"; else nok "one entry while one hardened container runs" "kept=$n"; fi
    probe_allowed m-mount allcaps minimal mount /mnt
    probe_allowed m-packet allcaps minimal packet
    probe_allowed m-ptrace allcaps minimal ptrace
    run m-tmp allcaps io.linerate.level minimal '"/bin/sh","-c","cp /bin/busybox /tmp/true \&\& /tmp/true"'
    if [ "$rc" = 0 ]; then ok "minimal beside: exec from /tmp allowed"; else nok "minimal beside: exec from /tmp allowed" "exit $rc"; fi

    # A process that enters later through exec gets the same rules.
    linerate-runtime exec l-bg /bin/probe mount /mnt >$W/exec.out 2>&1
    if [ $? = 1 ]; then ok "exec into a hardened container: mount refused"; else nok "exec into a hardened container: mount refused" "$(cat $W/exec.out)"; fi

    # A child cgroup made under the container's stays in scope: the
    # container's shell, moved into it from outside, still cannot mount.
    mk l-nest allcaps io.linerate.profile lsm-only '"/bin/sh","-c","sleep 3; exec /bin/probe mount /mnt"'
    timeout 60 linerate-runtime run -d -b /b/l-nest l-nest >$W/l-nest.out 2>$W/l-nest.err </dev/null
    npid=$(runc state l-nest | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    cg=$(sed -n 's/^0:://p' /proc/$npid/cgroup)
    moved=no
    mkdir -p "/sys/fs/cgroup$cg/sub" && echo "$npid" >"/sys/fs/cgroup$cg/sub/cgroup.procs" && moved=yes
    sleep 4
    if [ "$moved" = yes ] && grep -q 'probe mount errno EPERM' $W/l-nest.out; then
        ok "a child cgroup of the container stays in scope"; else
        nok "a child cgroup of the container stays in scope" "moved=$moved $(cat $W/l-nest.out $W/l-nest.err | tr '\n' ' ') cgroup $cg"; fi
    timeout 30 linerate-runtime delete -f l-nest >/dev/null 2>&1

    # SIGKILL, then delete through the shim: the entry goes with the container.
    runc kill l-bg KILL; sleep 1
    linerate-runtime delete l-bg >$W/del.out 2>&1
    n=$(kept)
    if [ "$n" = 0 ]; then ok "SIGKILL and delete: no entry left"; else nok "SIGKILL and delete: no entry left" "kept=$n $(cat $W/del.out)"; fi
    linerate-runtime delete l-bg >/dev/null 2>&1
    n=$(kept)
    if [ "$n" = 0 ]; then ok "a second delete is harmless"; else nok "a second delete is harmless" "kept=$n"; fi

    # A poststart hook that fails: runc tears the container down; nothing stays.
    run l-fail failhook io.linerate.profile lsm-only '"/bin/probe","sleep","30"'
    n=$(kept)
    if [ "$rc" != 0 ] && [ "$n" = 0 ]; then ok "a failing poststart hook leaves no entry (exit $rc)"; else
        nok "a failing poststart hook leaves no entry" "exit $rc, $n entries: $(cat $W/l-fail.err | tr '\n' ' ')"; fi
    timeout 30 linerate-runtime delete -f l-fail >/dev/null 2>&1

    # A runtime killed with its container never runs poststop nor delete: gc sweeps.
    mk l-gc allcaps io.linerate.profile lsm-only '"/bin/probe","sleep","60"'
    linerate-runtime run -d -b /b/l-gc l-gc >$W/l-gc.out 2>$W/l-gc.err </dev/null
    pid=$(runc state l-gc | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    kill -9 "$pid"; sleep 1
    rm -rf /run/runc/l-gc
    n=$(kept)
    out=$(linerate gc)
    case "$n $out" in '1 '*'"removed":["l-gc"]'*'"kept":0'*) ok "gc sweeps the entry of a container whose runtime was killed" ;;
        *) nok "gc sweeps the entry of a container whose runtime was killed" "before: $n entries; gc: $out" ;; esac
    out=$(linerate gc)
    case "$out" in *'"entries":0,"removed":[]'*) ok "gc twice is harmless" ;; *) nok "gc twice is harmless" "$out" ;; esac

    # F8: the hook's stdin. The state lacks annotations; the bundle has them.
    mk f8 base io.linerate.level hardened '"/bin/true"'
    unshare -m sleep 60 &
    spid=$!
    sleep 1
    before=$(kept)
    printf '{"ociVersion":"1.0.2","id":"f8","pid":%s,"bundle":"/b/f8"' "$spid" | linerate-hook createRuntime 2>$W/f8.err
    r1=$?
    mid=$(kept)
    if [ "$r1" = 3 ] && [ "$mid" = "$before" ] && [ "$(wc -l <$W/f8.err)" = 1 ]; then ok "hook: truncated state refused, nothing written ($(cat $W/f8.err))"; else
        nok "hook: truncated state refused, nothing written" "exit $r1 kept $before->$mid $(cat $W/f8.err)"; fi
    linerate-hook createRuntime </dev/null 2>$W/f8.err
    r2=$?
    if [ "$r2" = 3 ] && [ "$(kept)" = "$before" ]; then ok "hook: stdin closed early refused, nothing written"; else
        nok "hook: stdin closed early refused, nothing written" "exit $r2 $(cat $W/f8.err)"; fi
    kill "$spid"; wait "$spid" 2>/dev/null
    for ann in '' ',"annotations":null'; do
        unshare -m sleep 60 &
        spid=$!
        sleep 1
        printf '{"ociVersion":"1.0.2","id":"f8","pid":%s,"bundle":"/b/f8"%s}' "$spid" "$ann" | linerate-hook createRuntime 2>$W/f8.err
        r3=$?
        if [ "$r3" = 0 ] && [ "$(kept)" = $((before + 1)) ]; then ok "hook: annotations${ann:- missing} read from the bundle"; else
            nok "hook: annotations${ann:- missing} read from the bundle" "exit $r3 $(cat $W/f8.err)"; fi
        # An entry whose processes still run belongs to a live container
        # (ids are unique only per runtime root): poststop keeps it.
        printf '{"ociVersion":"1.0.2","id":"f8","status":"stopped","bundle":"/b/f8"}' | linerate-hook poststop
        if [ "$(kept)" = $((before + 1)) ]; then ok "hook: poststop keeps the entry of a running namesake"; else nok "hook: poststop keeps the entry of a running namesake" "kept=$(kept)"; fi
        # Once they are gone, as at a real poststop, it removes it.
        kill "$spid"; wait "$spid" 2>/dev/null
        printf '{"ociVersion":"1.0.2","id":"f8","status":"stopped","bundle":"/b/f8"}' | linerate-hook poststop
        if [ "$(kept)" = "$before" ]; then ok "hook: poststop removes the entry"; else nok "hook: poststop removes the entry" "kept=$(kept)"; fi
    done

    # Create and remove cycles leave the maps as they were.
    cycles=${LINERATE_VM_CYCLES:-50}
    before=$(kept)
    i=0; bad=0
    while [ $i -lt "$cycles" ]; do
        run cyc base io.linerate.level hardened '"/bin/true"'
        [ "$rc" = 0 ] || bad=$((bad + 1))
        i=$((i + 1))
    done
    after=$(kept)
    if [ "$bad" = 0 ] && [ "$after" = "$before" ]; then ok "$cycles create/remove cycles leave the maps as they were"; else
        nok "$cycles create/remove cycles leave the maps as they were" "failed runs $bad, kept $before -> $after"; fi
    echo "audit sample:"; head -n 5 $W/audit.log
}

refusal() {
    if grep -q bpf /sys/kernel/security/lsm; then nok "bpf is not among the active LSMs" "$(cat /sys/kernel/security/lsm)"; else
        ok "bpf is not among the active LSMs"; fi
    run r-lsm base io.linerate.level hardened '"/bin/true"'
    if [ "$rc" = 125 ] && grep -q 'missing from the active LSMs' $W/r-lsm.err; then ok "hardened refused: $(cat $W/r-lsm.err)"; else
        nok "hardened refused, naming the LSM list" "exit $rc: $(cat $W/r-lsm.err)"; fi
    check "no program pinned after the refusal" sh -c '! ls /sys/fs/bpf/linerate/v*/link_exec_check 2>/dev/null'
    umount /sys/kernel/security
    run r-self base io.linerate.level hardened '"/bin/true"'
    if [ "$rc" = 125 ] && grep -q 'self-test' $W/r-self.err; then ok "without the LSM list, the self-test refuses: $(cat $W/r-self.err)"; else
        nok "without the LSM list, the self-test refuses" "exit $rc: $(cat $W/r-self.err)"; fi
    check "no program pinned after the self-test refusal" sh -c '! ls /sys/fs/bpf/linerate/v*/link_exec_check 2>/dev/null'
    mount -t securityfs securityfs /sys/kernel/security
    run r-aa base io.linerate.profile aa-confined '"/bin/true"'
    if [ "$rc" = 125 ] && grep -q 'does not run AppArmor' $W/r-aa.err; then ok "a required AppArmor label refused: $(cat $W/r-aa.err)"; else
        nok "a required AppArmor label refused" "exit $rc: $(cat $W/r-aa.err)"; fi
    run r-aa-opt base io.linerate.profile aa-optional '"/bin/true"'
    if [ "$rc" = 0 ]; then ok "an optional AppArmor label is left out"; else nok "an optional AppArmor label is left out" "exit $rc: $(cat $W/r-aa-opt.err)"; fi
    run r-sandbox base io.linerate.level sandbox '"/bin/true"'
    if [ "$rc" = 0 ]; then ok "sandbox still starts"; else nok "sandbox still starts" "exit $rc: $(cat $W/r-sandbox.err)"; fi
    mk r-hook base io.linerate.level hardened '"/bin/true"'
    printf '{"ociVersion":"1.0.2","id":"r-hook","pid":1,"bundle":"/b/r-hook"}' | linerate-hook createRuntime 2>$W/r-hook.err
    r=$?
    if [ "$r" = 5 ]; then ok "the hook refuses too (exit 5)"; else nok "the hook refuses too (exit 5)" "exit $r $(cat $W/r-hook.err)"; fi
}

# AppArmor labels: the profile linerate-test is loaded with apparmor_parser
# from Debian's apparmor package; a container naming it runs confined by it,
# one naming a profile nobody loaded is refused.
apparmor_suite() {
    check "apparmor is among the active LSMs" grep -q apparmor /sys/kernel/security/lsm
    if apparmor_parser -r -K /tests/linerate-test.apparmor >$W/aa.log 2>&1 &&
        grep -qx 'linerate-test (enforce)' /sys/kernel/security/apparmor/profiles; then
        ok "apparmor_parser loads linerate-test"; else nok "apparmor_parser loads linerate-test" "$(tr '\n' ' ' <$W/aa.log)"; fi
    d=$(linerate doctor 2>/dev/null | grep -E '^(AppArmor|SELinux)' | tr '\n' ';')
    case "$d" in *"AppArmor "*"running, "*"SELinux "*"not running"*) ok "doctor: $d" ;; *) nok "doctor names AppArmor and SELinux" "$d" ;; esac

    # cat's error goes through a file in /tmp (sandbox may write there):
    # mk's sed would take `&` or `|` in the command for its own.
    cmd='"/bin/sh","-c","cat /proc/self/attr/current; cat /etc/passwd 2>/tmp/e; cat /tmp/e"'
    run aa-conf base io.linerate.profile aa-confined "$cmd"
    if [ "$rc" = 0 ] && grep -qx 'linerate-test (enforce)' $W/aa-conf.out; then ok "a container runs under its AppArmor profile"; else
        nok "a container runs under its AppArmor profile" "exit $rc: $(cat $W/aa-conf.out $W/aa-conf.err | tr '\n' ' ')"; fi
    if grep -q 'Permission denied' $W/aa-conf.out; then ok "the AppArmor profile denies: $(grep denied $W/aa-conf.out)"; else
        nok "the AppArmor profile denies" "$(cat $W/aa-conf.out | tr '\n' ' ')"; fi
    run aa-plain base io.linerate.level sandbox "$cmd"
    if grep -q '^root:' $W/aa-plain.out && ! grep -q linerate-test $W/aa-plain.out; then ok "sandbox without a label is not confined: $(head -n 1 $W/aa-plain.out)"; else
        nok "sandbox without a label is not confined" "exit $rc: $(cat $W/aa-plain.out $W/aa-plain.err | tr '\n' ' ')"; fi
    run aa-opt base io.linerate.profile aa-optional '"/bin/cat","/proc/self/attr/current"'
    if grep -qx 'linerate-test (enforce)' $W/aa-opt.out; then ok "an optional label is set where AppArmor runs"; else
        nok "an optional label is set where AppArmor runs" "exit $rc: $(cat $W/aa-opt.out $W/aa-opt.err | tr '\n' ' ')"; fi

    run aa-miss base io.linerate.profile aa-missing '"/bin/true"'
    if [ "$rc" = 125 ] && grep -q 'linerate-nowhere` is not loaded' $W/aa-miss.err; then ok "a profile naming an unloaded AppArmor profile is refused: $(cat $W/aa-miss.err)"; else
        nok "a profile naming an unloaded AppArmor profile is refused" "exit $rc: $(cat $W/aa-miss.err)"; fi

    # exec into the container: the same label; another one is refused.
    mk aa-bg base io.linerate.profile aa-confined '"/bin/sleep","60"'
    linerate-runtime run -d -b /b/aa-bg aa-bg >$W/aa-bg.out 2>$W/aa-bg.err </dev/null
    linerate-runtime exec aa-bg /bin/cat /proc/self/attr/current >$W/aa-exec.out 2>&1
    if grep -qx 'linerate-test (enforce)' $W/aa-exec.out; then ok "exec into the container runs under its profile"; else
        nok "exec into the container runs under its profile" "$(cat $W/aa-bg.err $W/aa-exec.out | tr '\n' ' ')"; fi
    linerate-runtime exec --apparmor unconfined aa-bg /bin/true >$W/aa-exec2.out 2>&1
    r=$?
    if [ "$r" = 125 ] && grep -q 'the profile.s label is linerate-test' $W/aa-exec2.out; then ok "exec --apparmor unconfined is refused"; else
        nok "exec --apparmor unconfined is refused" "exit $r: $(cat $W/aa-exec2.out)"; fi
    runc kill aa-bg KILL; sleep 1
    timeout 30 linerate-runtime delete -f aa-bg >/dev/null 2>&1
}

setup
case "$suite" in
    active) active ;;
    refusal) refusal ;;
    apparmor) apparmor_suite ;;
    *) nok "suite" "unknown suite '$suite'" ;;
esac
echo "$suite: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
