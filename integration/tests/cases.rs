//! The cases of shared/cases/CASES.md that linerate can show today, each
//! through runc (F7-F9 belong to the hook and the VM harness).

use linerate_integration::checks;
use linerate_integration::{Engine, World};

const E: Engine = Engine::Runc;

/// F1, F2: ENOSYS for clone3, an unassigned number and a number newer than
/// the profile's table; threads start; clone with CLONE_NEWUSER and keyctl
/// stay EPERM.
#[test]
fn f1_f2_unknown_calls_get_enosys() {
    checks::sandbox_hides_unknown_calls(E);
}

#[test]
fn f3_foreign_abis_refused_at_minimal() {
    checks::foreign_abis_refused(E, "minimal");
}

#[test]
fn f3_foreign_abis_refused_at_sandbox() {
    checks::foreign_abis_refused(E, "sandbox");
}

#[test]
fn f4_sandbox_enforced_without_lib64() {
    checks::sandbox_enforced_without_lib64(E);
}

#[test]
fn f5_tmp_file_operations() {
    checks::sandbox_tmp_file_operations(E);
}

/// F6 a: hardened as root; refused until hardened is enforced.
#[test]
fn f6a_hardened_as_root() {
    checks::hardened_refused(E, 0);
}

/// F6 b: the capability drops for uid 1000 (hardened is refused, so
/// sandbox shows the ordering).
#[test]
fn f6b_sandbox_as_user() {
    checks::sandbox_as_user(E);
}

#[test]
fn f6c_profile_keeps_net_bind_service() {
    checks::profile_keeps_one_capability(E);
}

#[test]
fn f10_cwd_in_proc_self_fd_minimal() {
    checks::cwd_in_proc_self_fd(E, "minimal");
}

#[test]
fn f10_cwd_in_proc_self_fd_sandbox() {
    checks::cwd_in_proc_self_fd(E, "sandbox");
}

#[test]
fn f10_cwd_in_proc_self_fd_hardened() {
    checks::cwd_in_proc_self_fd(E, "hardened");
}

#[test]
fn f10_no_leaked_fds_minimal() {
    checks::no_leaked_fds(E, "minimal");
}

#[test]
fn f10_no_leaked_fds_sandbox() {
    checks::no_leaked_fds(E, "sandbox");
}

/// The line of `fooat2` in [`F11_PROFILE`].
const F11_LINE: usize = 7;

const F11_PROFILE: &str = "\
# F11: a typo among the allowed calls
extends = \"sandbox\"

[seccomp]
allow = [
    \"landlock_create_ruleset\",
    \"fooat2\",
]
";

/// Whether `text` points at line `line` (`line 7`, `:7:`, `:7,` ...).
fn names_line(text: &str, line: usize) -> bool {
    let lower = text.to_lowercase();
    let forms = [
        format!("line {line}"),
        format!("line: {line}"),
        format!("line={line}"),
    ];
    if forms.iter().any(|f| lower.contains(f.as_str())) {
        return true;
    }
    let colon = format!(":{line}");
    lower.match_indices(&colon).any(|(at, _)| {
        let next = lower[at + colon.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_digit())
    })
}

/// F11: compiling a profile that allows an unknown call fails, naming the
/// call and its line, and stores nothing. No root needed.
#[test]
fn f11_unknown_syscall_name_fails_compile() {
    let w = World::unprivileged();
    assert_eq!(
        F11_PROFILE.lines().nth(F11_LINE - 1).map(str::trim),
        Some("\"fooat2\",")
    );
    let run = w.compile("f11.toml", F11_PROFILE);
    assert!(!run.success(), "F11: the compile must fail\n{run}");
    assert!(
        run.stderr.contains("fooat2"),
        "F11: the error names the unknown call\n{run}"
    );
    assert!(
        names_line(&run.stderr, F11_LINE),
        "F11: the error names line {F11_LINE}\n{run}"
    );
    assert!(
        !run.stdout.contains("sha256:"),
        "F11: no digest for a failed compile\n{run}"
    );
}

/// F12: an allow-list without execve cannot start the command; the compile
/// fails naming execve. No root needed.
#[test]
fn f12_profile_without_execve_fails_compile() {
    let w = World::unprivileged();
    let profile = "[seccomp]\ndefault = \"EPERM\"\nallow = [\"read\", \"write\", \"exit_group\"]\n";
    let run = w.compile("f12.toml", profile);
    assert!(!run.success(), "F12: the compile must fail\n{run}");
    assert!(
        run.stderr.contains("execve"),
        "F12: the error names execve\n{run}"
    );
    assert!(
        !run.stdout.contains("sha256:"),
        "F12: no digest for a failed compile\n{run}"
    );
}

#[test]
fn names_line_forms() {
    assert!(names_line("error: unknown syscall `fooat2` at line 7", 7));
    assert!(names_line("f11.toml:7:5: unknown syscall fooat2", 7));
    assert!(!names_line("f11.toml:17:5: unknown syscall fooat2", 7));
    assert!(!names_line("unknown syscall fooat2", 7));
}
