//! A classic BPF interpreter for any seccomp program, libseccomp's included,
//! and the kernel's test of which syscalls its seccomp cache can skip.
//!
//! linerate's own interpreter (`linerate_profiles::seccomp::interp`) runs
//! the opcodes linerate's compiler emits; libseccomp's output also uses
//! `jgt`, so the programs of both are counted here with one interpreter, and
//! a test checks that it counts linerate's programs exactly as linerate's
//! own does.

use std::fmt;

use linerate_profiles::seccomp::SockFilter;

/// `SECCOMP_RET_ALLOW`.
const RET_ALLOW: u32 = 0x7fff_0000;

/// One syscall as the filter sees it: `struct seccomp_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Data {
    pub(crate) nr: u32,
    pub(crate) arch: u32,
    pub(crate) args: [u64; 6],
}

impl Data {
    /// The 32-bit word at byte `off`, little-endian; `None` outside the struct.
    fn word(&self, off: u32) -> Option<u32> {
        #[allow(clippy::cast_possible_truncation, reason = "halves of 64-bit fields")]
        let w = match off {
            0 => self.nr,
            4 => self.arch,
            8 | 12 => 0,
            16..=60 if off.is_multiple_of(4) => {
                let a = self.args[usize::try_from((off - 16) / 8).ok()?];
                if off.is_multiple_of(8) {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            _ => return None,
        };
        Some(w)
    }
}

/// Why a program did not reach a `ret`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) pc: usize,
    pub(crate) what: &'static str,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at instruction {}", self.what, self.pc)
    }
}

impl std::error::Error for Fault {}

/// Runs `prog` on `d`: the value returned and the instructions executed.
pub(crate) fn run(prog: &[SockFilter], d: &Data) -> Result<(u32, usize), Fault> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    let mut steps = 0usize;
    let fault = |pc, what| Fault { pc, what };
    loop {
        let i = *prog.get(pc).ok_or(fault(pc, "ran past the end"))?;
        steps += 1;
        let k = i.k;
        let class = i.code & 0x07;
        let next = pc + 1;
        pc = match class {
            // BPF_LD, BPF_LDX
            0x00 | 0x01 => {
                let v = match i.code & 0xe0 {
                    0x00 => k,                                                          // BPF_IMM
                    0x20 => d.word(k).ok_or(fault(pc, "load outside seccomp_data"))?,   // BPF_ABS
                    0x60 => *mem.get(k as usize).ok_or(fault(pc, "bad scratch slot"))?, // BPF_MEM
                    0x80 => 64,                                                         // BPF_LEN
                    _ => return Err(fault(pc, "unsupported load")),
                };
                if class == 0x00 {
                    a = v
                } else {
                    x = v
                }
                next
            }
            // BPF_ST, BPF_STX
            0x02 | 0x03 => {
                let slot = mem
                    .get_mut(k as usize)
                    .ok_or(fault(pc, "bad scratch slot"))?;
                *slot = if class == 0x02 { a } else { x };
                next
            }
            // BPF_ALU
            0x04 => {
                let src = if i.code & 0x08 != 0 { x } else { k };
                a = match i.code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src).ok_or(fault(pc, "division by zero"))?,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src).ok_or(fault(pc, "division by zero"))?,
                    0xa0 => a ^ src,
                    _ => return Err(fault(pc, "unsupported alu op")),
                };
                next
            }
            // BPF_JMP
            0x05 if i.code & 0xf0 == 0x00 => {
                let off = usize::try_from(k).map_err(|_| fault(pc, "jump too far"))?;
                next + off
            }
            0x05 => {
                let src = if i.code & 0x08 != 0 { x } else { k };
                let taken = match i.code & 0xf0 {
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => return Err(fault(pc, "unsupported jump")),
                };
                next + usize::from(if taken { i.jt } else { i.jf })
            }
            // BPF_RET
            0x06 => return Ok((if i.code & 0x18 == 0x10 { a } else { k }, steps)),
            // BPF_MISC
            _ => {
                if i.code & 0xf8 == 0x80 {
                    a = x
                } else {
                    x = a
                }
                next
            }
        };
    }
}

/// Whether the kernel's seccomp cache proves `nr` of `arch` always allowed,
/// so that the filter never runs for it: the path from the start may load
/// only `nr` and `arch`, may use only the operations the kernel's emulator
/// knows, and must end in `ret ALLOW`. Mirrors `seccomp_is_const_allow`.
pub(crate) fn const_allow(prog: &[SockFilter], arch: u32, nr: u32) -> bool {
    let mut a = 0u32;
    let mut pc = 0usize;
    for _ in 0..prog.len() {
        let Some(i) = prog.get(pc) else { return false };
        let next = pc + 1;
        pc = match i.code {
            0x20 => {
                a = match i.k {
                    0 => nr,
                    4 => arch,
                    _ => return false,
                };
                next
            }
            0x06 => return i.k == RET_ALLOW,
            0x05 => next + i.k as usize,
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match i.code {
                    0x15 => a == i.k,
                    0x25 => a > i.k,
                    0x35 => a >= i.k,
                    _ => a & i.k != 0,
                };
                next + usize::from(if taken { i.jt } else { i.jf })
            }
            0x54 => {
                a &= i.k;
                next
            }
            _ => return false,
        };
    }
    false
}

/// Reads a program as `seccomp_export_bpf` writes it: `struct sock_filter`
/// in native byte order, 8 bytes each.
pub(crate) fn from_bytes(bytes: &[u8]) -> Vec<SockFilter> {
    bytes
        .chunks_exact(8)
        .map(|c| SockFilter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// The bytes of a program, as the kernel and `seccomp_export_bpf` lay it out.
pub(crate) fn to_bytes(prog: &[SockFilter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * 8);
    for i in prog {
        out.extend(i.code.to_ne_bytes());
        out.extend([i.jt, i.jf]);
        out.extend(i.k.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use linerate_profiles::compile::compile_level;
    use linerate_profiles::seccomp::interp;
    use linerate_profiles::syscalls::{Arch, AUDIT_ARCH_I386};

    use super::*;

    #[test]
    fn counts_linerate_programs_as_linerate_does() {
        for level in ["minimal", "sandbox", "hardened"] {
            let blob = compile_level(level).unwrap();
            let prog = blob.filter(Arch::X86_64).unwrap().instructions();
            assert_eq!(from_bytes(&to_bytes(&prog)), prog);
            let native = Arch::X86_64.audit_arch();
            for nr in 0..600 {
                for (arch, a1) in [
                    (native, 0u64),
                    (native, 0x5412),
                    (AUDIT_ARCH_I386, 0),
                    (native, 3),
                ] {
                    let args = [2, a1, 0, 0, 0, 0];
                    let mine = run(&prog, &Data { nr, arch, args }).unwrap();
                    let theirs =
                        interp::run(&prog, &interp::SeccompData::new(arch, nr, args)).unwrap();
                    assert_eq!(mine, theirs, "{level} nr {nr}");
                }
            }
        }
    }

    #[test]
    fn the_cache_test_sees_argument_loads() {
        let blob = compile_level("sandbox").unwrap();
        let prog = blob.filter(Arch::X86_64).unwrap().instructions();
        let native = Arch::X86_64.audit_arch();
        let nr = |n| Arch::X86_64.number(n).unwrap();
        assert!(const_allow(&prog, native, nr("getpid")));
        assert!(
            !const_allow(&prog, native, nr("clone")),
            "clone checks its flags"
        );
        assert!(!const_allow(&prog, native, nr("mount")), "mount is refused");
        assert!(!const_allow(&prog, AUDIT_ARCH_I386, 20));
    }

    #[test]
    fn runs_jgt_and_scratch_memory() {
        let prog = [
            SockFilter {
                code: 0x20,
                jt: 0,
                jf: 0,
                k: 0,
            },
            SockFilter {
                code: 0x02,
                jt: 0,
                jf: 0,
                k: 3,
            },
            SockFilter {
                code: 0x61,
                jt: 0,
                jf: 0,
                k: 3,
            },
            SockFilter {
                code: 0x25,
                jt: 1,
                jf: 0,
                k: 10,
            },
            SockFilter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: RET_ALLOW,
            },
            SockFilter {
                code: 0x87,
                jt: 0,
                jf: 0,
                k: 0,
            },
            SockFilter {
                code: 0x16,
                jt: 0,
                jf: 0,
                k: 0,
            },
        ];
        let d = |nr| Data {
            nr,
            arch: 0,
            args: [0; 6],
        };
        assert_eq!(run(&prog, &d(3)), Ok((RET_ALLOW, 5)));
        assert_eq!(run(&prog, &d(11)), Ok((11, 6)));
    }
}
