//! A classic BPF interpreter for the instructions linerate's compiler emits,
//! to check filters against their policy without a kernel and to count the
//! instructions a syscall costs.

use super::{op, SockFilter};

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
}

/// Runs `prog` on `data`: the value it returns and how many instructions ran.
pub fn run(prog: &[SockFilter], data: &SeccompData) -> Result<(u32, usize), InterpError> {
    let mut acc = 0u32;
    let mut pc = 0usize;
    let mut steps = 0usize;
    loop {
        let insn = prog.get(pc).ok_or(InterpError::OutOfBounds { pc })?;
        steps += 1;
        let next = pc + 1;
        pc = match insn.code {
            op::LD_W_ABS => {
                acc = data
                    .word(insn.k)
                    .ok_or(InterpError::Load { offset: insn.k, pc })?;
                next
            }
            op::ALU_AND_K => {
                acc &= insn.k;
                next
            }
            op::JMP_JA => {
                next + usize::try_from(insn.k).map_err(|_| InterpError::OutOfBounds { pc })?
            }
            op::JMP_JEQ_K => branch(next, insn, acc == insn.k),
            op::JMP_JGE_K => branch(next, insn, acc >= insn.k),
            op::JMP_JSET_K => branch(next, insn, acc & insn.k != 0),
            op::RET_K => return Ok((insn.k, steps)),
            code => return Err(InterpError::Opcode { code, pc }),
        };
    }
}

fn branch(next: usize, insn: &SockFilter, taken: bool) -> usize {
    next + usize::from(if taken { insn.jt } else { insn.jf })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::{Action, SockFilter};

    #[test]
    fn runs_a_small_program() {
        let prog = [
            SockFilter {
                code: op::LD_W_ABS,
                jt: 0,
                jf: 0,
                k: 0,
            },
            SockFilter {
                code: op::JMP_JEQ_K,
                jt: 0,
                jf: 1,
                k: 39,
            },
            SockFilter {
                code: op::RET_K,
                jt: 0,
                jf: 0,
                k: Action::Allow.ret(),
            },
            SockFilter {
                code: op::RET_K,
                jt: 0,
                jf: 0,
                k: Action::Errno(1).ret(),
            },
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
        let prog = [SockFilter {
            code: op::JMP_JA,
            jt: 0,
            jf: 0,
            k: 5,
        }];
        assert_eq!(
            run(&prog, &SeccompData::new(0, 0, [0; 6])),
            Err(InterpError::OutOfBounds { pc: 6 })
        );
    }
}
