#!/usr/bin/env python3
"""Generate the syscall name/number tables under profiles/src/syscalls/.

The tables come from the kernel UAPI headers of the installed linux-libc-dev
package, so that the seccomp compiler and the kernel it targets agree on
every number:

- x86_64 and i386 from the x86 headers, which list plain numbers;
- aarch64 from asm-generic/unistd.h, run through the C preprocessor with the
  defines that arm64's uapi <asm/unistd.h> sets before including it.

Usage:
    scripts/gen-syscall-tables.py           write the three tables
    scripts/gen-syscall-tables.py --check   exit 1 if a table is out of date

Needs Python 3 (stdlib only), gcc and dpkg-query.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "profiles" / "src" / "syscalls"
SCRIPT = "scripts/gen-syscall-tables.py"
PACKAGE = "linux-libc-dev"

X86_64_HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
I386_HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_32.h")
GENERIC_HEADER = Path("/usr/include/asm-generic/unistd.h")
INCLUDE_ROOT = Path("/usr/include")

# What arch/arm64/include/uapi/asm/unistd.h (Linux 6.1) defines before it
# includes asm-generic/unistd.h, plus what arm64's asm/bitsperlong.h gives.
ARM64_DEFINES = [
    "__BITS_PER_LONG=64",
    "__ARCH_WANT_RENAMEAT",
    "__ARCH_WANT_NEW_STAT",
    "__ARCH_WANT_SET_GET_RLIMIT",
    "__ARCH_WANT_TIME32_SYSCALLS",
    "__ARCH_WANT_SYS_CLONE3",
    "__ARCH_WANT_MEMFD_SECRET",
]

# __NR_ macros that are not syscalls: a count and the start of a reserved range.
NOT_SYSCALLS = {"syscalls", "arch_specific_syscall"}

# The __NR3264_ names that must come out under their 64-bit name on aarch64,
# and the 32-bit names that must not appear there.
AARCH64_64BIT_NAMES = {
    "fcntl", "statfs", "fstatfs", "truncate", "ftruncate", "lseek",
    "sendfile", "newfstatat", "fstat", "mmap", "fadvise64",
}
AARCH64_32BIT_NAMES = {
    "fcntl64", "statfs64", "fstatfs64", "truncate64", "ftruncate64", "llseek",
    "sendfile64", "fstatat64", "fstat64", "mmap2", "fadvise64_64",
}

# Numbers checked against the kernel's syscall tables by hand.
KNOWN = {
    "x86_64": {
        "read": 0, "close": 3, "mmap": 9, "clone": 56, "execve": 59,
        "keyctl": 250, "openat": 257, "bpf": 321, "io_uring_setup": 425,
        "clone3": 435, "landlock_create_ruleset": 444,
    },
    "i386": {
        "restart_syscall": 0, "open": 5, "close": 6, "execve": 11,
        "socketcall": 102, "mmap2": 192, "openat": 295, "clone3": 435,
        "landlock_create_ruleset": 444,
    },
    "aarch64": {
        "openat": 56, "close": 57, "keyctl": 219, "clone": 220,
        "execve": 221, "mmap": 222, "bpf": 280, "io_uring_setup": 425,
        "clone3": 435, "landlock_create_ruleset": 444,
    },
}

PLAIN_DEFINE = re.compile(r"#define __NR_([a-z0-9_]+) ([0-9]+)")
ANY_DEFINE = re.compile(r"#define ([A-Za-z_][A-Za-z0-9_]*)(\(| |$)(.*)")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SYSCALL_NAME = re.compile(r"[a-z0-9_]+")


class GenError(Exception):
    """A header or a tool did not give what the tables need."""


def package_version():
    """The installed linux-libc-dev version, e.g. 6.1.158-1."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", PACKAGE],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if not out:
        raise GenError(f"{PACKAGE} is not installed")
    if not out.startswith("6.1."):
        raise GenError(f"{PACKAGE} is {out}, the arm64 defines here are those of 6.1")
    return out


def read_plain_header(path):
    """Names and numbers of a header that only holds `#define __NR_x N` lines."""
    table = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if "__NR_" not in line:
            continue
        match = PLAIN_DEFINE.fullmatch(line.strip())
        if not match:
            raise GenError(f"{path}:{lineno}: unexpected line {line!r}")
        name, number = match.group(1), int(match.group(2))
        if name in NOT_SYSCALLS:
            continue
        if name in table:
            raise GenError(f"{path}:{lineno}: __NR_{name} defined twice")
        table[name] = number
    return table


def preprocess_generic_header():
    """All object-like macros of asm-generic/unistd.h as arm64 sees it."""
    with tempfile.TemporaryDirectory() as stub_root:
        # asm-generic/unistd.h includes <asm/bitsperlong.h>; the host's copy
        # is x86's, so give it an empty one and set __BITS_PER_LONG above.
        (Path(stub_root) / "asm").mkdir()
        (Path(stub_root) / "asm" / "bitsperlong.h").write_text("/* stub */\n")
        command = [
            "gcc", "-E", "-dM", "-undef", "-nostdinc",
            "-I", stub_root, "-I", str(INCLUDE_ROOT),
            *[f"-D{define}" for define in ARM64_DEFINES],
            "-x", "c", "-",
        ]
        source = f"#include <{GENERIC_HEADER.relative_to(INCLUDE_ROOT)}>\n"
        out = subprocess.run(
            command, input=source, check=True, capture_output=True, text=True,
            env={**os.environ, "LC_ALL": "C"},
        ).stdout

    macros = {}
    for line in out.splitlines():
        match = ANY_DEFINE.fullmatch(line)
        if not match:
            raise GenError(f"gcc -dM gave an unexpected line {line!r}")
        name, after_name, body = match.groups()
        if after_name == "(":
            continue
        macros[name] = body.strip()
    return macros


def resolve(name, macros, seen=()):
    """The number a macro expands to, following plain aliases."""
    if name in seen:
        raise GenError(f"{name} refers to itself")
    body = macros.get(name)
    if body is None:
        raise GenError(f"{name} is used but not defined")
    if body.isdigit():
        return int(body)
    if IDENTIFIER.fullmatch(body):
        return resolve(body, macros, (*seen, name))
    raise GenError(f"{name} expands to {body!r}, not a number")


def aarch64_table():
    """Names and numbers of aarch64, with the __NR3264_ names resolved."""
    macros = preprocess_generic_header()

    table = {}
    for macro in macros:
        if not macro.startswith("__NR_"):
            continue
        name = macro[len("__NR_"):]
        if name in NOT_SYSCALLS:
            continue
        table[name] = resolve(macro, macros)

    missing_3264 = sorted(
        macro for macro in macros
        if macro.startswith("__NR3264_") and resolve(macro, macros) not in table.values()
    )
    if missing_3264:
        raise GenError(f"no __NR_ name for {', '.join(missing_3264)}")

    count = resolve("__NR_syscalls", macros)
    beyond = sorted(name for name, number in table.items() if number >= count)
    if beyond:
        raise GenError(f"numbers at or above __NR_syscalls ({count}): {', '.join(beyond)}")

    wrong_width = sorted(AARCH64_32BIT_NAMES & table.keys())
    if wrong_width:
        raise GenError(f"32-bit names on aarch64: {', '.join(wrong_width)}")
    absent = sorted(AARCH64_64BIT_NAMES - table.keys())
    if absent:
        raise GenError(f"64-bit names missing on aarch64: {', '.join(absent)}")

    return table


def check_table(arch, table):
    """Refuse a table with a bad name, a shared number or a wrong known number."""
    for name in table:
        if not SYSCALL_NAME.fullmatch(name):
            raise GenError(f"{arch}: odd syscall name {name!r}")

    by_number = {}
    for name, number in table.items():
        if number in by_number:
            raise GenError(f"{arch}: {by_number[number]} and {name} share number {number}")
        by_number[number] = name

    for name, expected in KNOWN[arch].items():
        got = table.get(name)
        if got != expected:
            raise GenError(f"{arch}: {name} is {got}, expected {expected}")


def render(table, source_lines, version):
    """The Rust source of one table, formatted as rustfmt would."""
    lines = [
        f"// @generated by {SCRIPT}; do not edit.",
        "//",
        *[f"// {line}" if line else "//" for line in source_lines],
        f"// Package: {PACKAGE} {version}.",
        "",
        "/// Syscall names and numbers, sorted by number.",
        "pub(crate) const TABLE: &[(&str, u32)] = &[",
    ]
    for name, number in sorted(table.items(), key=lambda item: item[1]):
        lines.append(f'    ("{name}", {number}),')
    lines += [
        "];",
        "",
        "/// The package whose headers gave these numbers.",
        f'pub(crate) const VERSION: &str = "{PACKAGE} {version}";',
        "",
    ]
    return "\n".join(lines)


def generate():
    """File name, contents and syscall count of every table."""
    version = package_version()

    x86_64 = read_plain_header(X86_64_HEADER)
    i386 = read_plain_header(I386_HEADER)
    aarch64 = aarch64_table()

    check_table("x86_64", x86_64)
    check_table("i386", i386)
    check_table("aarch64", aarch64)

    arm64_defines = ", ".join(ARM64_DEFINES)
    aarch64_source = [
        f"Source: {GENERIC_HEADER}, through `gcc -E -dM` with the defines",
        "of arm64's uapi <asm/unistd.h> in Linux 6.1:",
        *textwrap.wrap(f"{arm64_defines}.", width=90),
        "The __NR3264_ numbers appear under their 64-bit names.",
    ]
    return {
        "x86_64.rs": (render(x86_64, [f"Source: {X86_64_HEADER}"], version), len(x86_64)),
        "i386.rs": (render(i386, [f"Source: {I386_HEADER}"], version), len(i386)),
        "aarch64.rs": (render(aarch64, aarch64_source, version), len(aarch64)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true",
        help="write nothing; exit 1 if a table differs from what would be written",
    )
    args = parser.parse_args()

    try:
        files = generate()
    except subprocess.CalledProcessError as err:
        print(f"gen-syscall-tables: {err}: {err.stderr.strip()}", file=sys.stderr)
        return 2
    except (GenError, OSError) as err:
        print(f"gen-syscall-tables: {err}", file=sys.stderr)
        return 2

    stale = []
    for file_name, (text, count) in files.items():
        path = OUT_DIR / file_name
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(path.relative_to(REPO)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)} ({count} syscalls)")

    if stale:
        print(f"gen-syscall-tables: out of date: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
