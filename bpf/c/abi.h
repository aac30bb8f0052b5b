/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * What the programs share with user space: the per-container policy, the
 * audit event and their constants. bpf/src/abi.rs mirrors every line, and
 * both sides assert the same sizes.
 */
#ifndef LINERATE_ABI_H
#define LINERATE_ABI_H

#include <linux/types.h>

/* Rules, as bits of policy.rules. */
#define RULE_EXEC       (1u << 0) /* exec only from policy.exec */
#define RULE_SYS_WRITE  (1u << 1) /* no open for write under /proc/sys or /sys */
#define RULE_MOUNT      (1u << 2) /* no mount, umount, move_mount, pivot_root */
#define RULE_PTRACE     (1u << 3) /* no ptrace attach, no PTRACE_TRACEME */
#define RULE_BPF        (1u << 4) /* no bpf() */
#define RULE_MODULE     (1u << 5) /* no module request or load, no kernel file read */
#define RULE_RAW_SOCKET (1u << 6) /* no SOCK_RAW, no AF_PACKET */
#define RULE_AUDIT_EXEC (1u << 7) /* every exec is an event */

#define EXEC_RULES 16 /* paths in the exec allow-list */
#define RULE_LEN   64 /* bytes of one path, NUL included */
#define ID_LEN     64 /* bytes of the container id kept for events */
#define OBJECT_LEN 256 /* bytes of an event's object (a path, a name) */

/* One container's policy, the value of by_cgroup and by_mntns. */
struct policy {
	__u32 rules;
	/* Set by the programs at the first exec in the container's scope:
	 * before it, only the runtime's own setup runs there (its mounts,
	 * its sysctl writes), which the rules must not break. */
	__u32 armed;
	__u32 n_exec;
	__u32 reserved;
	/* FNV-1a of the whole container id, which container[] may cut. */
	__u64 id_hash;
	char container[ID_LEN];
	/* Absolute paths without a trailing slash: a file, or a folder whose
	 * whole tree may be executed. */
	char exec[EXEC_RULES][RULE_LEN];
};

/* Hooks, as event.hook. */
#define HOOK_EXEC          1
#define HOOK_FILE_OPEN     2
#define HOOK_MOUNT         3
#define HOOK_MOVE_MOUNT    4
#define HOOK_UMOUNT        5
#define HOOK_PIVOT_ROOT    6
#define HOOK_PTRACE        7
#define HOOK_TRACEME       8
#define HOOK_BPF           9
#define HOOK_MODULE_REQUEST 10
#define HOOK_KERNEL_READ   11
#define HOOK_KERNEL_LOAD   12
#define HOOK_SOCKET        13
#define HOOK_ARMED         14

/* Verdicts. */
#define VERDICT_ALLOW 0
#define VERDICT_DENY  1

/* Alerts, as bits of event.alerts. */
#define ALERT_SHELL         (1u << 0) /* a shell started */
#define ALERT_WRITE_BIN_DIR (1u << 1) /* a file opened for write in an exec folder */
#define ALERT_EXEC_WRITABLE (1u << 2) /* an exec from /tmp, /var/tmp or /dev/shm */

/* One audit event in the ring buffer. */
struct event {
	__u64 time_ns;   /* CLOCK_BOOTTIME */
	__u64 scope;     /* the key of the container's entry */
	__s64 arg;       /* the hook's number: a pid, a bpf command, a family */
	__u32 pid;       /* the thread group, as the host sees it */
	__u16 hook;
	__u16 verdict;
	__u32 alerts;
	__u32 scope_kind; /* 1 cgroup id, 2 mount namespace */
	char comm[16];
	char container[ID_LEN];
	char object[OBJECT_LEN];
};

_Static_assert(sizeof(struct policy) == 1112, "bpf/src/abi.rs expects 1112 bytes");
_Static_assert(sizeof(struct event) == 376, "bpf/src/abi.rs expects 376 bytes");

#define SCOPE_CGROUP 1
#define SCOPE_MNTNS  2

/* The protocol number of the live self-test's socket(AF_UNIX, SOCK_DGRAM,
 * SELFTEST_PROTOCOL): no family has it, so the call can only fail; a tgid
 * listed in the selftest map gets EPERM from the program instead of
 * EPROTONOSUPPORT from the kernel, which proves the programs run. */
#define SELFTEST_PROTOCOL 0x4c52

/* Indexes in the stats array. */
#define STAT_DROPPED  0 /* events lost to a full ring buffer */
#define STAT_SELFTEST 1 /* self-test denials */
#define STAT_DENIED   2 /* denials, all containers */
#define STATS         4

#endif
