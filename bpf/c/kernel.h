/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * The few kernel types linerate's programs read, written by hand.
 *
 * Each struct names only the fields the programs touch. With
 * preserve_access_index clang records every field access as a CO-RE
 * relocation, and the loader (aya) resolves it against the running kernel's
 * BTF (/sys/kernel/btf/vmlinux), so field offsets here never matter and one
 * object runs on every kernel with BTF. A generated vmlinux.h would be some
 * 100,000 lines that differ per kernel build; these dozen structs are stable
 * across the kernels linerate supports (5.15 and later) and reviewable.
 */
#ifndef LINERATE_KERNEL_H
#define LINERATE_KERNEL_H

#include <linux/types.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct qstr {
	const unsigned char *name;
};

struct super_block {
	unsigned long s_magic;
};

struct inode {
	struct super_block *i_sb;
};

struct vfsmount;
struct dentry;

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_mode;
};

struct linux_binprm {
	struct file *file;
	const char *filename;
};

struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct nsproxy {
	struct mnt_namespace *mnt_ns;
};

struct task_struct {
	int pid;
	int tgid;
	struct nsproxy *nsproxy;
};

#pragma clang attribute pop

#endif
