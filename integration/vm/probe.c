// SPDX-License-Identifier: Apache-2.0
/*
 * linerate-vmprobe: one action a hardened container must not take, run
 * inside a container in the VM. Prints one line, `probe ACTION ok` or
 * `probe ACTION errno NAME`, and exits 0 when the action succeeded, 1 when
 * it failed with EPERM, 2 with another errno, 3 on bad arguments.
 *
 * Built static by scripts/vm-test.sh: the container's root has no libc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

static const char *action;

static int report(int rc)
{
	if (rc == 0) {
		printf("probe %s ok\n", action);
		return 0;
	}
	printf("probe %s errno %s\n", action, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	return errno == EPERM ? 1 : 2;
}

static int do_ptrace(void)
{
	pid_t child = fork();
	int rc, saved;

	if (child == 0) {
		pause();
		_exit(0);
	}
	rc = (int)ptrace(PTRACE_ATTACH, child, 0, 0);
	saved = errno;
	if (rc == 0)
		ptrace(PTRACE_DETACH, child, 0, 0);
	kill(child, SIGKILL);
	waitpid(child, 0, 0);
	errno = saved;
	return rc;
}

static int do_traceme(void)
{
	int fds[2], result = 0;
	pid_t child;

	if (pipe(fds))
		return -1;
	child = fork();
	if (child == 0) {
		int r = (int)ptrace(PTRACE_TRACEME, 0, 0, 0);
		int e = r == 0 ? 0 : errno;
		if (write(fds[1], &e, sizeof(e)) != sizeof(e))
			_exit(1);
		_exit(0);
	}
	if (read(fds[0], &result, sizeof(result)) != sizeof(result))
		result = EIO;
	waitpid(child, 0, 0);
	errno = result;
	return result ? -1 : 0;
}

static int do_bpf(void)
{
	union bpf_attr attr;
	long fd;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
	if (fd >= 0)
		close((int)fd);
	return fd < 0 ? -1 : 0;
}

static int do_socket(int family, int type, int protocol)
{
	int fd = socket(family, type, protocol);

	if (fd >= 0)
		close(fd);
	return fd < 0 ? -1 : 0;
}

static int do_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long rc;

	if (fd < 0)
		return -1;
	rc = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	/* Anything but EPERM means the kernel read the file: not refused. */
	if (rc != 0 && errno != EPERM) {
		printf("probe %s read (errno %s)\n", action, strerrorname_np(errno));
		exit(0);
	}
	return (int)rc;
}

static int do_open_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: linerate-vmprobe ACTION [ARG...]\n");
		return 3;
	}
	action = argv[1];
	setvbuf(stdout, 0, _IOLBF, 0);

	if (!strcmp(action, "mount"))
		return report(mount("none", argc > 2 ? argv[2] : "/mnt", "tmpfs", 0, 0));
	if (!strcmp(action, "open-write") && argc > 2)
		return report(do_open_write(argv[2]));
	if (!strcmp(action, "ptrace"))
		return report(do_ptrace());
	if (!strcmp(action, "traceme"))
		return report(do_traceme());
	if (!strcmp(action, "bpf"))
		return report(do_bpf());
	if (!strcmp(action, "packet"))
		return report(do_socket(AF_PACKET, SOCK_RAW, 0));
	if (!strcmp(action, "raw"))
		return report(do_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
	if (!strcmp(action, "module") && argc > 2)
		return report(do_module(argv[2]));
	if (!strcmp(action, "exec") && argc > 2) {
		execv(argv[2], argv + 2);
		return report(-1);
	}
	if (!strcmp(action, "sleep") && argc > 2) {
		sleep((unsigned)atoi(argv[2]));
		return report(0);
	}
	fprintf(stderr, "linerate-vmprobe: unknown action %s\n", action);
	return 3;
}
