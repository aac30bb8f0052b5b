/*
 * seccomp_bench: the libseccomp side of linerate's benchmarks, and the
 * syscall loops that must run in a process of their own.
 *
 *   seccomp_bench export RULES LAYOUT OUT      build RULES with libseccomp, write its BPF
 *   seccomp_bench build-load RULES LAYOUT N    N fresh children: time building and loading
 *   seccomp_bench attach BPF N                 N fresh children: time seccomp() on raw BPF
 *   seccomp_bench loop BPF|none SYSCALL ITERS  attach, then ns per getpid or ioctl call
 *
 * LAYOUT is `linear` (libseccomp's default, rules sorted by priority) or
 * `tree` (SCMP_FLTATR_CTL_OPTIMIZE = 2, a binary tree over syscall numbers).
 *
 * RULES is line based, written by the Rust side (bench/src/libseccomp.rs):
 *
 *   default ACTION
 *   badarch ACTION
 *   arch x86_64|x86|x32
 *   rule ACTION SYSCALL [ARG:OP:DATUM[:DATUM2]]...
 *
 * SYSCALL is a name, or `#N` for the native number N. *
 * ACTION is allow, log, kill, kill_process, trap or errno:N; OP is one of
 * eq ne lt le gt ge meq (meq takes the mask as DATUM and the value as DATUM2).
 * A syscall libseccomp does not know is skipped, as runc skips it.
 *
 * Every timed sample runs in a fresh child (filters stack and cannot be
 * removed) and prints one line of integers on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, int err)
{
	fprintf(stderr, "seccomp_bench: %s: %s\n", what, strerror(err));
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int parse_action(const char *s, uint32_t *out)
{
	if (!strcmp(s, "allow"))
		*out = SCMP_ACT_ALLOW;
	else if (!strcmp(s, "log"))
		*out = SCMP_ACT_LOG;
	else if (!strcmp(s, "kill"))
		*out = SCMP_ACT_KILL_THREAD;
	else if (!strcmp(s, "kill_process"))
		*out = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(s, "trap"))
		*out = SCMP_ACT_TRAP;
	else if (!strncmp(s, "errno:", 6))
		*out = SCMP_ACT_ERRNO((uint32_t)strtoul(s + 6, NULL, 0));
	else
		return -1;
	return 0;
}

static int parse_op(const char *s, enum scmp_compare *out)
{
	static const struct { const char *name; enum scmp_compare op; } ops[] = {
		{ "eq", SCMP_CMP_EQ }, { "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT },
		{ "le", SCMP_CMP_LE }, { "gt", SCMP_CMP_GT }, { "ge", SCMP_CMP_GE },
		{ "meq", SCMP_CMP_MASKED_EQ },
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!strcmp(s, ops[i].name)) {
			*out = ops[i].op;
			return 0;
		}
	}
	return -1;
}

static int parse_arch(const char *s, uint32_t *out)
{
	if (!strcmp(s, "x86_64"))
		*out = SCMP_ARCH_X86_64;
	else if (!strcmp(s, "x86"))
		*out = SCMP_ARCH_X86;
	else if (!strcmp(s, "x32"))
		*out = SCMP_ARCH_X32;
	else
		return -1;
	return 0;
}

/* The parsed rules file, kept in memory so that a timed child only builds. */
struct rules {
	char **lines;
	size_t count;
};

static struct rules read_rules(const char *path)
{
	struct rules r = { NULL, 0 };
	FILE *f = fopen(path, "r");
	if (!f)
		die(path, errno);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		r.lines = realloc(r.lines, (r.count + 1) * sizeof(char *));
		if (!r.lines)
			die("realloc", ENOMEM);
		r.lines[r.count++] = strdup(line);
	}
	free(line);
	fclose(f);
	return r;
}

static void bad_line(const char *line)
{
	fprintf(stderr, "seccomp_bench: bad rules line: %s\n", line);
	exit(2);
}

/* Builds a filter context from the rules; the caller releases it. */
static scmp_filter_ctx build(const struct rules *r, int tree)
{
	uint32_t def = SCMP_ACT_KILL_THREAD;
	for (size_t i = 0; i < r->count; i++) {
		if (!strncmp(r->lines[i], "default ", 8) && parse_action(r->lines[i] + 8, &def))
			bad_line(r->lines[i]);
	}
	scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx)
		die("seccomp_init", EINVAL);
	/* no_new_privs is set by the caller, for us and for libseccomp alike. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (tree) {
		int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
		if (rc < 0)
			die("SCMP_FLTATR_CTL_OPTIMIZE", -rc);
	}

	int native_kept = 0;
	for (size_t i = 0; i < r->count; i++) {
		char *line = strdup(r->lines[i]);
		char *save = NULL;
		char *word = strtok_r(line, " ", &save);
		if (!strcmp(word, "default")) {
			/* read above */
		} else if (!strcmp(word, "badarch")) {
			uint32_t a;
			char *v = strtok_r(NULL, " ", &save);
			if (!v || parse_action(v, &a))
				bad_line(r->lines[i]);
			int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, a);
			if (rc < 0)
				die("SCMP_FLTATR_ACT_BADARCH", -rc);
		} else if (!strcmp(word, "arch")) {
			uint32_t a;
			char *v = strtok_r(NULL, " ", &save);
			if (!v || parse_arch(v, &a))
				bad_line(r->lines[i]);
			if (a == seccomp_arch_native()) {
				native_kept = 1;
			} else {
				int rc = seccomp_arch_add(ctx, a);
				if (rc < 0 && rc != -EEXIST)
					die("seccomp_arch_add", -rc);
			}
		} else if (!strcmp(word, "rule")) {
			uint32_t act;
			char *a = strtok_r(NULL, " ", &save);
			char *name = strtok_r(NULL, " ", &save);
			if (!a || !name || parse_action(a, &act))
				bad_line(r->lines[i]);
			int nr = name[0] == '#' ? (int)strtol(name + 1, NULL, 10)
						: seccomp_syscall_resolve_name(name);
			if (nr == __NR_SCMP_ERROR) {
				free(line);
				continue;
			}
			struct scmp_arg_cmp cmp[6];
			unsigned int ncmp = 0;
			char *c;
			while ((c = strtok_r(NULL, " ", &save))) {
				char *save2 = NULL;
				char *idx = strtok_r(c, ":", &save2);
				char *op = strtok_r(NULL, ":", &save2);
				char *d1 = strtok_r(NULL, ":", &save2);
				char *d2 = strtok_r(NULL, ":", &save2);
				if (!idx || !op || !d1 || ncmp == 6 || parse_op(op, &cmp[ncmp].op))
					bad_line(r->lines[i]);
				cmp[ncmp].arg = (unsigned int)strtoul(idx, NULL, 0);
				cmp[ncmp].datum_a = strtoull(d1, NULL, 0);
				cmp[ncmp].datum_b = d2 ? strtoull(d2, NULL, 0) : 0;
				ncmp++;
			}
			int rc = seccomp_rule_add_array(ctx, act, nr, ncmp, cmp);
			/* A rule whose action is the default one is refused as redundant. */
			if (rc < 0 && rc != -EACCES) {
				fprintf(stderr, "seccomp_bench: seccomp_rule_add %s: %s\n", r->lines[i], strerror(-rc));
				exit(2);
			}
		} else {
			bad_line(r->lines[i]);
		}
		free(line);
	}
	if (!native_kept) {
		int rc = seccomp_arch_remove(ctx, seccomp_arch_native());
		if (rc < 0)
			die("seccomp_arch_remove", -rc);
	}
	return ctx;
}

static int layout(const char *s)
{
	if (!strcmp(s, "linear"))
		return 0;
	if (!strcmp(s, "tree"))
		return 1;
	fprintf(stderr, "seccomp_bench: layout is linear or tree, not %s\n", s);
	exit(2);
}

static void set_nnp(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die("prctl(PR_SET_NO_NEW_PRIVS)", errno);
}

/* Runs `child` in a fresh process `n` times, one after the other. */
static void samples(unsigned long n, void (*child)(void *), void *arg)
{
	fflush(stdout);
	for (unsigned long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork", errno);
		if (pid == 0) {
			child(arg);
			fflush(stdout);
			_exit(0);
		}
		int status;
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid", errno);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "seccomp_bench: a sample failed (status %#x)\n", status);
			exit(2);
		}
	}
}

struct build_arg {
	struct rules *rules;
	int tree;
};

static void build_load_child(void *p)
{
	struct build_arg *a = p;
	set_nnp();
	uint64_t t0 = now_ns();
	scmp_filter_ctx ctx = build(a->rules, a->tree);
	uint64_t t1 = now_ns();
	int rc = seccomp_load(ctx);
	uint64_t t2 = now_ns();
	if (rc < 0)
		die("seccomp_load", -rc);
	printf("%" PRIu64 " %" PRIu64 "\n", t1 - t0, t2 - t1);
	seccomp_release(ctx);
}

struct prog {
	struct sock_filter *insns;
	unsigned short len;
};

static struct prog read_bpf(const char *path)
{
	struct prog p = { NULL, 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path, errno);
	struct stat st;
	if (fstat(fd, &st))
		die(path, errno);
	size_t n = (size_t)st.st_size / sizeof(struct sock_filter);
	if (n == 0 || n > BPF_MAXINSNS || (size_t)st.st_size % sizeof(struct sock_filter)) {
		fprintf(stderr, "seccomp_bench: %s is not a BPF program\n", path);
		exit(2);
	}
	p.insns = malloc((size_t)st.st_size);
	if (!p.insns || read(fd, p.insns, (size_t)st.st_size) != st.st_size)
		die(path, errno);
	close(fd);
	p.len = (unsigned short)n;
	return p;
}

static long attach(const struct prog *p)
{
	struct sock_fprog fprog = { .len = p->len, .filter = p->insns };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}

static void attach_child(void *p)
{
	set_nnp();
	uint64_t t0 = now_ns();
	long rc = attach(p);
	uint64_t t1 = now_ns();
	if (rc)
		die("seccomp(SECCOMP_SET_MODE_FILTER)", errno);
	printf("%" PRIu64 "\n", t1 - t0);
}

static void loop(const char *bpf, const char *which, unsigned long iters)
{
	int is_ioctl = !strcmp(which, "ioctl");
	if (!is_ioctl && strcmp(which, "getpid")) {
		fprintf(stderr, "seccomp_bench: loop getpid or ioctl, not %s\n", which);
		exit(2);
	}
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("/dev/null", errno);
	if (strcmp(bpf, "none")) {
		struct prog p = read_bpf(bpf);
		set_nnp();
		if (attach(&p))
			die("seccomp(SECCOMP_SET_MODE_FILTER)", errno);
	}
	struct termios t;
	unsigned long warm = iters / 10 + 1;
	uint64_t t0 = 0;
	for (unsigned long i = 0; i < warm + iters; i++) {
		if (i == warm)
			t0 = now_ns();
		if (is_ioctl)
			syscall(SYS_ioctl, fd, TCGETS, &t);
		else
			syscall(SYS_getpid);
	}
	uint64_t t1 = now_ns();
	printf("%.2f\n", (double)(t1 - t0) / (double)iters);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: seccomp_bench export RULES linear|tree OUT\n"
		"       seccomp_bench build-load RULES linear|tree N\n"
		"       seccomp_bench attach BPF N\n"
		"       seccomp_bench loop BPF|none getpid|ioctl ITERS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	if (!strcmp(cmd, "export") && argc == 5) {
		struct rules r = read_rules(argv[2]);
		scmp_filter_ctx ctx = build(&r, layout(argv[3]));
		int fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die(argv[4], errno);
		int rc = seccomp_export_bpf(ctx, fd);
		if (rc < 0)
			die("seccomp_export_bpf", -rc);
		close(fd);
		seccomp_release(ctx);
	} else if (!strcmp(cmd, "build-load") && argc == 5) {
		struct rules r = read_rules(argv[2]);
		struct build_arg a = { &r, layout(argv[3]) };
		samples(strtoul(argv[4], NULL, 0), build_load_child, &a);
	} else if (!strcmp(cmd, "attach") && argc == 4) {
		struct prog p = read_bpf(argv[2]);
		samples(strtoul(argv[3], NULL, 0), attach_child, &p);
	} else if (!strcmp(cmd, "loop") && argc == 5) {
		loop(argv[2], argv[3], strtoul(argv[4], NULL, 0));
	} else {
		usage();
	}
	return 0;
}
