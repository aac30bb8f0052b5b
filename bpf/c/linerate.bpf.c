// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * linerate's BPF-LSM programs: one program per hook, the same for every
 * profile. What a container may do is data in by_cgroup and by_mntns,
 * written by linerate-hook from the compiled profile; a task outside every
 * entry is never touched.
 *
 * A task's entry is found by the cgroup v2 id of its cgroup or one of its
 * ancestors first (hosts with the unified layout, where every container has
 * a cgroup of its own), then by the inode of its mount namespace (hybrid
 * hosts, where the v2 cgroup may be shared).
 */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "kernel.h"
#include "abi.h"

char LICENSE[] SEC("license") = "GPL";

#define FMODE_WRITE 0x2
#define PTRACE_MODE_ATTACH 0x02
#define AF_UNIX 1
#define AF_PACKET 17
#define SOCK_RAW 3
#define SOCK_TYPE_MASK 0xf

#define PROC_SUPER_MAGIC 0x9fa0
#define SYSFS_MAGIC 0x62656572
#define CGROUP_SUPER_MAGIC 0x27e0eb
#define CGROUP2_SUPER_MAGIC 0x63677270
#define DEBUGFS_MAGIC 0x64626720
#define SECURITYFS_MAGIC 0x73636673
#define TRACEFS_MAGIC 0x74726163
#define BPF_FS_MAGIC 0xcafe4a11

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct policy);
} by_cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct policy);
} by_mntns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} selftest SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* A path buffer per CPU: 256 bytes do not fit beside the rest on the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[OBJECT_LEN]);
} scratch SEC(".maps");

struct scope {
	struct policy *policy;
	__u64 key;
	__u32 kind;
};

static __always_inline void count(__u32 index)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &index);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* Deep enough for any runtime's layout (kubepods/burstable/pod/container). */
#define MAX_CGROUP_DEPTH 12 /* scope::MAX_CGROUP_DEPTH in Rust */

/* The calling task's entry, if it has one: its cgroup's or an ancestor's,
 * so that a child cgroup made inside the container stays in scope. */
static __always_inline int find_scope(struct scope *s)
{
	struct task_struct *task;
	__u64 key;

	for (int level = 1; level <= MAX_CGROUP_DEPTH; level++) {
		key = bpf_get_current_ancestor_cgroup_id(level);
		if (!key)
			break;
		s->policy = bpf_map_lookup_elem(&by_cgroup, &key);
		if (s->policy) {
			s->key = key;
			s->kind = SCOPE_CGROUP;
			return 1;
		}
	}

	task = bpf_get_current_task_btf();
	key = task->nsproxy->mnt_ns->ns.inum;
	if (!key)
		return 0;
	s->policy = bpf_map_lookup_elem(&by_mntns, &key);
	if (s->policy) {
		s->key = key;
		s->kind = SCOPE_MNTNS;
		return 1;
	}
	return 0;
}

/* The calling task's entry when its rules are in force and include `rule`. */
static __always_inline int enforced(struct scope *s, __u32 rule)
{
	if (!find_scope(s))
		return 0;
	if (!s->policy->armed)
		return 0;
	return (s->policy->rules & rule) != 0;
}

/* Sends an event; `object` may be NULL, `user` says whether it is a user
 * or a kernel string. */
static __always_inline void emit(struct scope *s, __u16 hook, __u16 verdict, __u32 alerts,
				 __s64 arg, const char *object)
{
	struct event *e;

	if (verdict == VERDICT_DENY)
		count(STAT_DENIED);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(STAT_DROPPED);
		return;
	}
	e->time_ns = bpf_ktime_get_boot_ns();
	e->scope = s->key;
	e->scope_kind = s->kind;
	e->arg = arg;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->hook = hook;
	e->verdict = verdict;
	e->alerts = alerts;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->container, sizeof(e->container), s->policy->container);
	e->object[0] = 0;
	if (object)
		bpf_probe_read_kernel_str(e->object, sizeof(e->object), object);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline char *path_buffer(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/* Whether `path` starts with the constant `prefix` (its terminating NUL
 * excluded). */
static __always_inline int starts_with(const char *path, const char *prefix, int len)
{
	for (int i = 0; i < len; i++)
		if (path[i] != prefix[i])
			return 0;
	return 1;
}

/* Whether `path` is `rule` or lies beneath it. */
static __always_inline int beneath(const char *path, const char *rule)
{
	for (int i = 0; i < RULE_LEN; i++) {
		char r = rule[i];
		char p = path[i & (OBJECT_LEN - 1)];

		if (r == 0)
			return i > 0 && (p == 0 || p == '/');
		if (r != p)
			return 0;
	}
	return 0;
}

/* Whether `path` is in the policy's exec allow-list. */
static __always_inline int exec_allowed(const struct policy *p, const char *path)
{
	__u32 n = p->n_exec;

	for (__u32 j = 0; j < EXEC_RULES; j++) {
		if (j >= n)
			break;
		if (beneath(path, p->exec[j]))
			return 1;
	}
	return 0;
}

static __always_inline int writable_dir(const char *path)
{
	return starts_with(path, "/tmp/", 5) || starts_with(path, "/var/tmp/", 9) ||
	       starts_with(path, "/dev/shm/", 9);
}

#define NAME_LEN 64

/* Whether the first `n` bytes of `name` end with `suffix` (`k` bytes); no
 * loop over `n`, so the verifier follows one path whatever the name. */
static __always_inline int ends_with(const char *name, long n, const char *suffix, int k)
{
	if (n < k)
		return 0;
	for (int i = 0; i < k; i++)
		if (name[(n - k + i) & (NAME_LEN - 1)] != suffix[i])
			return 0;
	return 1;
}

/* Whether the name the program was started by (bprm->filename, before
 * symlinks: /bin/sh, not /bin/busybox) is a shell's. */
static __always_inline int is_shell(const struct linux_binprm *bprm)
{
	char name[NAME_LEN];
	long n;

	n = bpf_probe_read_kernel_str(name, sizeof(name), bprm->filename) - 1;
	if (n <= 0 || n >= NAME_LEN)
		return 0;
	return ends_with(name, n, "/sh", 3) || ends_with(name, n, "/bash", 5) ||
	       ends_with(name, n, "/dash", 5) || ends_with(name, n, "/ash", 4) ||
	       ends_with(name, n, "/zsh", 4) || ends_with(name, n, "/ksh", 4);
}

SEC("lsm.s/bprm_check_security")
int BPF_PROG(exec_check, struct linux_binprm *bprm, int ret)
{
	struct scope s;
	char *path;
	long len;
	__u32 alerts = 0;
	int allowed;

	if (ret)
		return ret;
	if (!find_scope(&s))
		return 0;
	path = path_buffer();
	if (!path)
		return 0;

	if (!s.policy->armed) {
		/* The runtime's exec of the container's first process: from
		 * here on the container's own code runs. */
		s.policy->armed = 1;
		len = bpf_d_path(&bprm->file->f_path, path, OBJECT_LEN);
		if (len < 0)
			path[0] = 0;
		emit(&s, HOOK_ARMED, VERDICT_ALLOW, 0, 0, path);
		return 0;
	}

	len = bpf_d_path(&bprm->file->f_path, path, OBJECT_LEN);
	if (len < 0) {
		/* No path to judge: refuse rather than guess. */
		if (s.policy->rules & RULE_EXEC) {
			emit(&s, HOOK_EXEC, VERDICT_DENY, 0, len, 0);
			return -EPERM;
		}
		return 0;
	}

	allowed = !(s.policy->rules & RULE_EXEC) || exec_allowed(s.policy, path);
	if (writable_dir(path))
		alerts |= ALERT_EXEC_WRITABLE;
	if (is_shell(bprm))
		alerts |= ALERT_SHELL;
	if (!allowed || alerts || (s.policy->rules & RULE_AUDIT_EXEC))
		emit(&s, HOOK_EXEC, allowed ? VERDICT_ALLOW : VERDICT_DENY, alerts, 0, path);
	return allowed ? 0 : -EPERM;
}

static __always_inline int host_fs(unsigned long magic)
{
	return magic == SYSFS_MAGIC || magic == CGROUP_SUPER_MAGIC || magic == CGROUP2_SUPER_MAGIC ||
	       magic == DEBUGFS_MAGIC || magic == SECURITYFS_MAGIC || magic == TRACEFS_MAGIC ||
	       magic == BPF_FS_MAGIC;
}

SEC("lsm.s/file_open")
int BPF_PROG(open_check, struct file *file, int ret)
{
	struct scope s;
	unsigned long magic;
	char *path;
	long len;

	if (ret)
		return ret;
	if (!(file->f_mode & FMODE_WRITE))
		return 0;
	if (!find_scope(&s) || !s.policy->armed)
		return 0;
	path = path_buffer();
	if (!path)
		return 0;
	len = bpf_d_path(&file->f_path, path, OBJECT_LEN);
	if (len < 0)
		path[0] = 0;

	if (s.policy->rules & RULE_SYS_WRITE) {
		magic = file->f_inode->i_sb->s_magic;
		if (host_fs(magic) || starts_with(path, "/sys/", 5) ||
		    (magic == PROC_SUPER_MAGIC && starts_with(path, "/proc/sys/", 10))) {
			emit(&s, HOOK_FILE_OPEN, VERDICT_DENY, 0, (__s64)magic, path);
			return -EPERM;
		}
	}
	if (len > 0 && (s.policy->rules & RULE_EXEC) && exec_allowed(s.policy, path))
		emit(&s, HOOK_FILE_OPEN, VERDICT_ALLOW, ALERT_WRITE_BIN_DIR, 0, path);
	return 0;
}

SEC("lsm/sb_mount")
int BPF_PROG(mount_check, const char *dev_name, const struct path *path, const char *type,
	     unsigned long flags, void *data, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	if (!enforced(&s, RULE_MOUNT))
		return 0;
	emit(&s, HOOK_MOUNT, VERDICT_DENY, 0, (__s64)flags, type);
	return -EPERM;
}

SEC("lsm/move_mount")
int BPF_PROG(move_mount_check, const struct path *from, const struct path *to, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	if (!enforced(&s, RULE_MOUNT))
		return 0;
	emit(&s, HOOK_MOVE_MOUNT, VERDICT_DENY, 0, 0, 0);
	return -EPERM;
}

SEC("lsm/sb_umount")
int BPF_PROG(umount_check, struct vfsmount *mnt, int flags, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	if (!enforced(&s, RULE_MOUNT))
		return 0;
	emit(&s, HOOK_UMOUNT, VERDICT_DENY, 0, flags, 0);
	return -EPERM;
}

SEC("lsm/sb_pivotroot")
int BPF_PROG(pivotroot_check, const struct path *old_path, const struct path *new_path, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	if (!enforced(&s, RULE_MOUNT))
		return 0;
	emit(&s, HOOK_PIVOT_ROOT, VERDICT_DENY, 0, 0, 0);
	return -EPERM;
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(ptrace_check, struct task_struct *child, unsigned int mode, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	/* Reading /proc/<pid> files asks for PTRACE_MODE_READ: allowed. */
	if (!(mode & PTRACE_MODE_ATTACH))
		return 0;
	if (!enforced(&s, RULE_PTRACE))
		return 0;
	emit(&s, HOOK_PTRACE, VERDICT_DENY, 0, child->tgid, 0);
	return -EPERM;
}

SEC("lsm/ptrace_traceme")
int BPF_PROG(traceme_check, struct task_struct *parent, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	if (!enforced(&s, RULE_PTRACE))
		return 0;
	emit(&s, HOOK_TRACEME, VERDICT_DENY, 0, parent->tgid, 0);
	return -EPERM;
}

SEC("lsm/bpf")
int BPF_PROG(bpf_check, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	if (!enforced(&s, RULE_BPF))
		return 0;
	emit(&s, HOOK_BPF, VERDICT_DENY, 0, cmd, 0);
	return -EPERM;
}

SEC("lsm/kernel_module_request")
int BPF_PROG(module_request_check, char *kmod_name, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	if (!enforced(&s, RULE_MODULE))
		return 0;
	emit(&s, HOOK_MODULE_REQUEST, VERDICT_DENY, 0, 0, kmod_name);
	return -EPERM;
}

SEC("lsm/kernel_read_file")
int BPF_PROG(kernel_read_file_check, struct file *file, int id, int contents, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	if (!enforced(&s, RULE_MODULE))
		return 0;
	emit(&s, HOOK_KERNEL_READ, VERDICT_DENY, 0, id, 0);
	return -EPERM;
}

SEC("lsm/kernel_load_data")
int BPF_PROG(kernel_load_data_check, int id, int contents, int ret)
{
	struct scope s;

	if (ret)
		return ret;
	if (!enforced(&s, RULE_MODULE))
		return 0;
	emit(&s, HOOK_KERNEL_LOAD, VERDICT_DENY, 0, id, 0);
	return -EPERM;
}

SEC("lsm/socket_create")
int BPF_PROG(socket_check, int family, int type, int protocol, int kern, int ret)
{
	struct scope s;
	__u32 tgid;

	if (ret)
		return ret;
	if (kern)
		return 0;
	if (family == AF_UNIX && protocol == SELFTEST_PROTOCOL) {
		tgid = bpf_get_current_pid_tgid() >> 32;
		if (bpf_map_lookup_elem(&selftest, &tgid)) {
			count(STAT_SELFTEST);
			return -EPERM;
		}
		return 0;
	}
	if (family != AF_PACKET && (type & SOCK_TYPE_MASK) != SOCK_RAW)
		return 0;
	if (!enforced(&s, RULE_RAW_SOCKET))
		return 0;
	emit(&s, HOOK_SOCKET, VERDICT_DENY, 0, ((__s64)family << 16) | (type & SOCK_TYPE_MASK), 0);
	return -EPERM;
}
