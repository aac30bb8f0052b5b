//! A classic BPF interpreter for seccomp filters, linerate's and
//! libseccomp's alike: it checks filters against their policy without a
//! kernel, counts the instructions a syscall costs, and emulates the test by
//! which the kernel's seccomp cache skips a filter.
//!
//! It runs the instructions either compiler emits: `ld [abs]`, ALU with a
//! constant, `ja`, `jeq`, `jgt`, `jge` and `jset` with a constant, and
//! `ret` with a constant. The other instructions the kernel accepts (scratch
//! memory, the index register, `neg`, `ld len`, `ret A`) stop it with an
//! unsupported-opcode error.

use super::{op, SockFilter, SECCOMP_RET_ALLOW};

/// `struct seccomp_data`, as the kernel fills it for a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeccompData {
    /// The syscall number.
    pub nr: u32,
    /// The `AUDIT_ARCH_*` value.
    pub arch: u32,
    /// The instruction pointer.
    pub instruction_pointer: u64,
    /// The six arguments.
    pub args: [u64; 6],
}

impl SeccompData {
    /// A syscall `nr` of `arch` with `args`.
    pub fn new(arch: u32, nr: u32, args: [u64; 6]) -> Self {
        Self {
            nr,
            arch,
            instruction_pointer: 0,
            args,
        }
    }

    /// The 32-bit word at byte `offset`, as `BPF_LD | BPF_W | BPF_ABS` reads it
    /// on a little-endian machine.
    fn word(&self, offset: u32) -> Option<u32> {
        #[allow(clippy::cast_possible_truncation, reason = "halves of 64-bit fields")]
        let w = match offset {
            0 => self.nr,
            4 => self.arch,
            8 => self.instruction_pointer as u32,
            12 => (self.instruction_pointer >> 32) as u32,
            16..=60 if offset.is_multiple_of(4) => {
                let i = usize::try_from((offset - 16) / 8).ok()?;
                let a = self.args[i];
                if offset.is_multiple_of(8) {
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

/// Why a program could not run to a `ret`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterpError {
    /// The program ran off its end or jumped past it.
    #[error("jump past the end of the program at instruction {pc}")]
    OutOfBounds {
        /// The instruction that jumped.
        pc: usize,
    },
    /// An opcode the interpreter does not know.
    #[error("unsupported opcode {code:#06x} at instruction {pc}")]
    Opcode {
        /// The opcode.
        code: u16,
        /// Where.
        pc: usize,
    },
    /// A load outside `seccomp_data`.
    #[error("load at offset {offset} outside seccomp_data at instruction {pc}")]
    Load {
        /// The offset.
        offset: u32,
        /// Where.
        pc: usize,
    },
    /// A constant the kernel refuses when the filter is attached: a division
    /// by zero or a shift by 32 or more.
    #[error("constant {k} of opcode {code:#06x} at instruction {pc} is refused by the kernel")]
    Constant {
        /// The opcode.
        code: u16,
        /// The constant.
        k: u32,
        /// Where.
        pc: usize,
    },
}

/// What a program may read.
#[derive(Clone, Copy)]
enum Input<'a> {
    /// A whole syscall.
    Syscall(&'a SeccompData),
    /// Only the number and the architecture, with only the operations the
    /// kernel's cache emulator knows: anything else means "not constant".
    NrArch {
        /// The syscall number.
        nr: u32,
        /// The `AUDIT_ARCH_*` value.
        arch: u32,
    },
}

impl Input<'_> {
    fn word(self, offset: u32) -> Option<u32> {
        match self {
            Input::Syscall(d) => d.word(offset),
            Input::NrArch { nr, arch } => match offset {
                0 => Some(nr),
                4 => Some(arch),
                _ => None,
            },
        }
    }
}

/// Runs `prog` on `data`: the value it returns and how many instructions ran.
pub fn run(prog: &[SockFilter], data: &SeccompData) -> Result<(u32, usize), InterpError> {
    exec(prog, Input::Syscall(data))
}

/// Whether `prog` returns `SECCOMP_RET_ALLOW` for syscall `nr` of `arch`
/// whatever its arguments, as the kernel decides it when a filter is
/// attached (`seccomp_cache_prepare`, through `seccomp_is_const_allow`): the
/// path from the start may load only `nr` and `arch`, may use only `ja`,
/// `jeq`, `jgt`, `jge`, `jset` and `and` with constants, and must end in
/// `ret ALLOW`. The kernel then allows the call without running the filter.
///
/// The kernel asks this only for numbers below its syscall count, of its
/// native architecture and of its compat one (i386 on x86_64); its own
/// bypass of the uprobe syscalls, which no filter decides, is not emulated.
pub fn const_allow(prog: &[SockFilter], arch: u32, nr: u32) -> bool {
    exec(prog, Input::NrArch { nr, arch }).is_ok_and(|(ret, _)| ret == SECCOMP_RET_ALLOW)
}

/// The opcodes the kernel's cache emulator follows; any other makes the
/// result not constant.
const CACHE_EMULATED: [u16; 8] = [
    op::LD_W_ABS,
    op::ALU_AND_K,
    op::JMP_JA,
    op::JMP_JEQ_K,
    op::JMP_JGT_K,
    op::JMP_JGE_K,
    op::JMP_JSET_K,
    op::RET_K,
];

fn exec(prog: &[SockFilter], input: Input<'_>) -> Result<(u32, usize), InterpError> {
    let mut acc = 0u32;
    let mut pc = 0usize;
    let mut steps = 0usize;
    loop {
        let insn = prog.get(pc).ok_or(InterpError::OutOfBounds { pc })?;
        steps += 1;
        let next = pc + 1;
        let SockFilter { code, jt, jf, k } = *insn;
        if matches!(input, Input::NrArch { .. }) && !CACHE_EMULATED.contains(&code) {
            return Err(InterpError::Opcode { code, pc });
        }
        pc = match code {
            op::LD_W_ABS => {
                acc = input.word(k).ok_or(InterpError::Load { offset: k, pc })?;
                next
            }
            op::ALU_AND_K => {
                acc &= k;
                next
            }
            op::ALU_ADD_K => {
                acc = acc.wrapping_add(k);
                next
            }
            op::ALU_SUB_K => {
                acc = acc.wrapping_sub(k);
                next
            }
            op::ALU_MUL_K => {
                acc = acc.wrapping_mul(k);
                next
            }
            op::ALU_DIV_K => {
                acc = acc
                    .checked_div(k)
                    .ok_or(InterpError::Constant { code, k, pc })?;
                next
            }
            op::ALU_OR_K => {
                acc |= k;
                next
            }
            op::ALU_XOR_K => {
                acc ^= k;
                next
            }
            op::ALU_LSH_K => {
                acc = acc
                    .checked_shl(k)
                    .ok_or(InterpError::Constant { code, k, pc })?;
                next
            }
            op::ALU_RSH_K => {
                acc = acc
                    .checked_shr(k)
                    .ok_or(InterpError::Constant { code, k, pc })?;
                next
            }
            op::JMP_JA => next + usize::try_from(k).map_err(|_| InterpError::OutOfBounds { pc })?,
            op::JMP_JEQ_K => branch(next, jt, jf, acc == k),
            op::JMP_JGT_K => branch(next, jt, jf, acc > k),
            op::JMP_JGE_K => branch(next, jt, jf, acc >= k),
            op::JMP_JSET_K => branch(next, jt, jf, acc & k != 0),
            op::RET_K => return Ok((k, steps)),
            _ => return Err(InterpError::Opcode { code, pc }),
        };
    }
}

fn branch(next: usize, jt: u8, jf: u8, taken: bool) -> usize {
    next + usize::from(if taken { jt } else { jf })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::{data, Action, SockFilter};

    fn stmt(code: u16, k: u32) -> SockFilter {
        SockFilter {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
        SockFilter { code, jt, jf, k }
    }

    #[test]
    fn runs_a_small_program() {
        let prog = [
            stmt(op::LD_W_ABS, data::NR),
            jump(op::JMP_JEQ_K, 39, 0, 1),
            stmt(op::RET_K, Action::Allow.ret()),
            stmt(op::RET_K, Action::Errno(1).ret()),
        ];
        assert_eq!(
            run(&prog, &SeccompData::new(0, 39, [0; 6])),
            Ok((Action::Allow.ret(), 3))
        );
        assert_eq!(
            run(&prog, &SeccompData::new(0, 40, [0; 6])).unwrap().0,
            Action::Errno(1).ret()
        );
    }

    #[test]
    fn reads_argument_halves_little_endian() {
        let d = SeccompData::new(
            0,
            0,
            [0x1111_2222_3333_4444, 0, 0, 0, 0, 0x5555_6666_7777_8888],
        );
        assert_eq!(d.word(16), Some(0x3333_4444));
        assert_eq!(d.word(20), Some(0x1111_2222));
        assert_eq!(d.word(56), Some(0x7777_8888));
        assert_eq!(d.word(64), None);
        assert_eq!(d.word(17), None);
    }

    #[test]
    fn refuses_running_off_the_end() {
        let prog = [stmt(op::JMP_JA, 5)];
        assert_eq!(
            run(&prog, &SeccompData::new(0, 0, [0; 6])),
            Err(InterpError::OutOfBounds { pc: 6 })
        );
    }

    #[test]
    fn runs_alu_constants_and_jgt() {
        // ((nr + 3) * 4 - 2) | 1, ^ 0x10, << 2, >> 1, / 3, & 0xff, then > 40?
        let prog = [
            stmt(op::LD_W_ABS, data::NR),
            stmt(op::ALU_ADD_K, 3),
            stmt(op::ALU_MUL_K, 4),
            stmt(op::ALU_SUB_K, 2),
            stmt(op::ALU_OR_K, 1),
            stmt(op::ALU_XOR_K, 0x10),
            stmt(op::ALU_LSH_K, 2),
            stmt(op::ALU_RSH_K, 1),
            stmt(op::ALU_DIV_K, 3),
            stmt(op::ALU_AND_K, 0xff),
            jump(op::JMP_JGT_K, 40, 1, 0),
            stmt(op::RET_K, 1),
            stmt(op::RET_K, 2),
        ];
        // nr 2: 5, 20, 18, 19, 3, 12, 6, 2, 2: not above 40.
        assert_eq!(run(&prog, &SeccompData::new(0, 2, [0; 6])), Ok((1, 12)));
        // nr 10: 13, 52, 50, 51, 35, 140, 70, 23, 23: not above 40.
        assert_eq!(run(&prog, &SeccompData::new(0, 10, [0; 6])).unwrap().0, 1);
        // nr 20: 23, 92, 90, 91, 75, 300, 150, 50, 50: above 40.
        assert_eq!(run(&prog, &SeccompData::new(0, 20, [0; 6])), Ok((2, 12)));
        assert_eq!(
            run(&prog, &SeccompData::new(0, u32::MAX, [0; 6]))
                .unwrap()
                .0,
            1,
            "arithmetic wraps"
        );
    }

    #[test]
    fn refuses_constants_the_kernel_refuses() {
        for (code, k) in [(op::ALU_DIV_K, 0), (op::ALU_LSH_K, 32), (op::ALU_RSH_K, 40)] {
            let prog = [stmt(code, k), stmt(op::RET_K, 0)];
            assert_eq!(
                run(&prog, &SeccompData::new(0, 0, [0; 6])),
                Err(InterpError::Constant { code, k, pc: 0 })
            );
        }
    }

    #[test]
    fn const_allow_follows_only_number_and_architecture() {
        let allow = Action::Allow.ret();
        let prog = [
            stmt(op::LD_W_ABS, data::ARCH),
            jump(op::JMP_JEQ_K, 7, 1, 0),
            stmt(op::RET_K, Action::Errno(1).ret()),
            stmt(op::LD_W_ABS, data::NR),
            stmt(op::ALU_AND_K, 0xff),
            jump(op::JMP_JGT_K, 10, 2, 0),
            jump(op::JMP_JSET_K, 1, 0, 3),
            stmt(op::JMP_JA, 1),
            jump(op::JMP_JGE_K, 20, 0, 4),
            stmt(op::RET_K, allow),
            stmt(op::LD_W_ABS, data::arg_low(0)),
            jump(op::JMP_JEQ_K, 0, 0, 1),
            stmt(op::RET_K, allow),
            stmt(op::RET_K, Action::Log.ret()),
        ];
        // Odd numbers up to 10 (and 0x101, masked to 1) are allowed outright.
        for nr in [1, 3, 9, 0x101] {
            assert!(const_allow(&prog, 7, nr), "nr {nr}");
        }
        // Even numbers up to 10 load an argument, even where it is allowed.
        assert_eq!(
            run(&prog, &SeccompData::new(7, 2, [0; 6])).unwrap().0,
            allow
        );
        assert!(!const_allow(&prog, 7, 2));
        // 11 to 19 log, 20 and above are allowed; another architecture is refused.
        assert!(!const_allow(&prog, 7, 11));
        assert!(const_allow(&prog, 7, 20));
        assert!(!const_allow(&prog, 8, 1));
    }

    #[test]
    fn const_allow_knows_only_what_the_kernel_emulates() {
        let allow = Action::Allow.ret();
        // `nr + 1 == 2` always allows nr 1, but the kernel's emulator knows no `add`.
        let prog = [
            stmt(op::LD_W_ABS, data::NR),
            stmt(op::ALU_ADD_K, 1),
            jump(op::JMP_JEQ_K, 2, 0, 1),
            stmt(op::RET_K, allow),
            stmt(op::RET_K, 0),
        ];
        assert_eq!(
            run(&prog, &SeccompData::new(0, 1, [0; 6])).unwrap().0,
            allow
        );
        assert!(!const_allow(&prog, 0, 1));
        // `ret ALLOW` with data bits is not the constant the kernel compares with.
        assert!(!const_allow(&[stmt(op::RET_K, allow | 1)], 0, 0));
        assert!(const_allow(&[stmt(op::RET_K, allow)], 0, 0));
        assert!(
            !const_allow(&[stmt(op::JMP_JA, 0)], 0, 0),
            "runs off the end"
        );
        assert!(!const_allow(&[], 0, 0));
    }
}
