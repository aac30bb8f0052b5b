//! Seccomp: the actions a profile can ask for, classic BPF instructions, the
//! compiler from a policy to a filter, and an interpreter to check filters
//! without a kernel and to emulate the kernel's seccomp cache.

pub mod codegen;
pub mod interp;

use serde::{Deserialize, Serialize};

/// What the filter returns for a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Let the syscall run.
    Allow,
    /// Fail the syscall with this errno, without running it.
    Errno(u16),
    /// Kill the whole process.
    KillProcess,
    /// Let the syscall run and log it.
    Log,
}

/// `SECCOMP_RET_KILL_PROCESS`.
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_ERRNO`; the errno is in the low 16 bits.
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_LOG`.
pub const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
/// `SECCOMP_RET_ALLOW`.
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ACTION_FULL`: the mask of the action part of a return value.
pub const SECCOMP_RET_ACTION_FULL: u32 = 0xffff_0000;
/// `SECCOMP_RET_DATA`: the mask of the data part of a return value.
pub const SECCOMP_RET_DATA: u32 = 0x0000_ffff;

impl Action {
    /// The value the filter returns for this action.
    pub fn ret(self) -> u32 {
        match self {
            Action::Allow => SECCOMP_RET_ALLOW,
            Action::Errno(e) => SECCOMP_RET_ERRNO | u32::from(e),
            Action::KillProcess => SECCOMP_RET_KILL_PROCESS,
            Action::Log => SECCOMP_RET_LOG,
        }
    }

    /// The action a filter's return value stands for, if it is one of ours.
    pub fn from_ret(ret: u32) -> Option<Self> {
        match ret & SECCOMP_RET_ACTION_FULL {
            SECCOMP_RET_ALLOW => Some(Action::Allow),
            SECCOMP_RET_LOG => Some(Action::Log),
            SECCOMP_RET_KILL_PROCESS => Some(Action::KillProcess),
            SECCOMP_RET_ERRNO => u16::try_from(ret & SECCOMP_RET_DATA)
                .ok()
                .map(Action::Errno),
            _ => None,
        }
    }

    /// Parses `allow`, `log`, `kill` or an errno name such as `EPERM`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "allow" => Some(Action::Allow),
            "log" => Some(Action::Log),
            "kill" => Some(Action::KillProcess),
            _ => crate::errno::value(s).map(Action::Errno),
        }
    }
}

/// What the filter returns for a syscall of a foreign ABI (i386 through
/// `int 0x80`, x32, 32-bit ARM) or with a number past the x32 bit: refused
/// before any number comparison.
#[allow(clippy::cast_possible_truncation, reason = "EPERM is 1")]
pub const FOREIGN_ABI: Action = Action::Errno(libc::EPERM as u16);

/// A condition on one syscall argument. Arguments are compared on their low
/// 32 bits only: the kernel truncates 32-bit arguments (an `ioctl` request, a
/// socket family) itself, so bits above them must not let a call slip past.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cond {
    /// The argument equals the value.
    Eq(u32),
    /// The argument differs from the value.
    Ne(u32),
    /// The argument has any bit of the mask set.
    MaskAny(u32),
    /// The argument has no bit of the mask set.
    MaskNone(u32),
    /// The argument, masked with the first value, equals the second.
    MaskedEq(u32, u32),
    /// The argument is one of the values.
    In(Vec<u32>),
    /// The argument is none of the values.
    NotIn(Vec<u32>),
}

impl Cond {
    /// Whether the low 32 bits of `arg` meet the condition.
    pub fn holds(&self, arg: u64) -> bool {
        // Truncation is the point: see the type's documentation.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "compare the low 32 bits only"
        )]
        let a = arg as u32;
        match self {
            Cond::Eq(v) => a == *v,
            Cond::Ne(v) => a != *v,
            Cond::MaskAny(m) => a & m != 0,
            Cond::MaskNone(m) => a & m == 0,
            Cond::MaskedEq(m, v) => a & m == *v,
            Cond::In(vs) => vs.contains(&a),
            Cond::NotIn(vs) => !vs.contains(&a),
        }
    }
}

/// One rule of a syscall: when the condition on argument `arg` holds, the
/// syscall gets `action` instead of its base action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgRule {
    /// The argument's index, 0 to 5.
    pub arg: u8,
    /// The condition on it.
    pub cond: Cond,
    /// What the syscall gets when the condition holds.
    pub action: Action,
}

/// One classic BPF instruction, `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    /// The opcode.
    pub code: u16,
    /// Offset to jump to when the condition holds.
    pub jt: u8,
    /// Offset to jump to when it does not.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

impl SockFilter {
    /// Packs the instruction into one integer, the form the blob stores.
    pub fn pack(self) -> u64 {
        u64::from(self.code) << 48
            | u64::from(self.jt) << 40
            | u64::from(self.jf) << 32
            | u64::from(self.k)
    }

    /// Unpacks an instruction packed by [`SockFilter::pack`].
    pub fn unpack(v: u64) -> Self {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "fields are cut out by shifts"
        )]
        Self {
            code: (v >> 48) as u16,
            jt: (v >> 40) as u8,
            jf: (v >> 32) as u8,
            k: v as u32,
        }
    }
}

/// `BPF_MAXINSNS`: the kernel refuses longer filters.
pub const BPF_MAXINSNS: usize = 4096;

/// Opcodes of classic BPF, as `linux/filter.h` and `linux/bpf_common.h` name them.
pub mod op {
    /// `BPF_LD | BPF_W | BPF_ABS` (0x00 | 0x00 | 0x20): load a 32-bit word of `seccomp_data`.
    pub const LD_W_ABS: u16 = 0x20;
    /// `BPF_ALU | BPF_ADD | BPF_K`.
    pub const ALU_ADD_K: u16 = 0x04;
    /// `BPF_ALU | BPF_SUB | BPF_K`.
    pub const ALU_SUB_K: u16 = 0x04 | 0x10;
    /// `BPF_ALU | BPF_MUL | BPF_K`.
    pub const ALU_MUL_K: u16 = 0x04 | 0x20;
    /// `BPF_ALU | BPF_DIV | BPF_K`.
    pub const ALU_DIV_K: u16 = 0x04 | 0x30;
    /// `BPF_ALU | BPF_OR | BPF_K`.
    pub const ALU_OR_K: u16 = 0x04 | 0x40;
    /// `BPF_ALU | BPF_AND | BPF_K`.
    pub const ALU_AND_K: u16 = 0x04 | 0x50;
    /// `BPF_ALU | BPF_LSH | BPF_K`.
    pub const ALU_LSH_K: u16 = 0x04 | 0x60;
    /// `BPF_ALU | BPF_RSH | BPF_K`.
    pub const ALU_RSH_K: u16 = 0x04 | 0x70;
    /// `BPF_ALU | BPF_XOR | BPF_K`.
    pub const ALU_XOR_K: u16 = 0x04 | 0xa0;
    /// `BPF_JMP | BPF_JA`.
    pub const JMP_JA: u16 = 0x05;
    /// `BPF_JMP | BPF_JEQ | BPF_K`.
    pub const JMP_JEQ_K: u16 = 0x05 | 0x10;
    /// `BPF_JMP | BPF_JGT | BPF_K`.
    pub const JMP_JGT_K: u16 = 0x05 | 0x20;
    /// `BPF_JMP | BPF_JGE | BPF_K`.
    pub const JMP_JGE_K: u16 = 0x05 | 0x30;
    /// `BPF_JMP | BPF_JSET | BPF_K`.
    pub const JMP_JSET_K: u16 = 0x05 | 0x40;
    /// `BPF_RET | BPF_K`.
    pub const RET_K: u16 = 0x06;
}

/// Offsets in `struct seccomp_data`.
pub mod data {
    /// `nr`: the syscall number.
    pub const NR: u32 = 0;
    /// `arch`: the `AUDIT_ARCH_*` value.
    pub const ARCH: u32 = 4;

    /// The low 32 bits of argument `i` (little-endian architectures).
    pub fn arg_low(i: u8) -> u32 {
        16 + 8 * u32::from(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_return_values() {
        for a in [
            Action::Allow,
            Action::Errno(1),
            Action::Errno(38),
            Action::KillProcess,
            Action::Log,
        ] {
            assert_eq!(Action::from_ret(a.ret()), Some(a));
        }
    }

    #[test]
    fn conditions_look_at_the_low_32_bits_only() {
        assert!(Cond::Eq(0x5412).holds(0x1_0000_5412));
        assert!(Cond::In(vec![1, 2]).holds(0xffff_ffff_0000_0002));
        assert!(!Cond::MaskAny(0x1000_0000).holds(0x1000_0000_0000_0000));
    }

    #[test]
    fn instructions_pack_losslessly() {
        let i = SockFilter {
            code: op::JMP_JGE_K,
            jt: 200,
            jf: 7,
            k: 0xdead_beef,
        };
        assert_eq!(SockFilter::unpack(i.pack()), i);
    }
}
