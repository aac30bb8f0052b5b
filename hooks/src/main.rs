//! linerate-hook: the OCI hook that gives a hardened container its BPF-LSM
//! entry and takes it away.
//!
//! ```text
//! linerate-hook createRuntime|prestart   < state    write the container's entry
//! linerate-hook poststop                 < state    remove it
//! linerate-hook precreate        < config.json > config.json   podman's spec rewrite
//! ```
//!
//! `precreate` is the shim's spec rewrite (`linerate_shim::precreate`) for
//! podman users who install only the hooks.d files.
//!
//! The runtime writes the OCI state on stdin. The hook reads all of it
//! (at most 1 MiB) before acting, takes annotations from the bundle's
//! `config.json` when the state has none naming linerate, and either writes
//! the whole entry or nothing. Containers whose profile does not ask for
//! BPF-LSM are left alone, so the hook may be installed for every container.
//! It never calls back into an engine.
//!
//! Exit codes (the runtime fails the container on any but 0), with one line
//! on stderr naming the container, the step and the cause:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done, or nothing to do |
//! | 2 | bad arguments |
//! | 3 | the state, the bundle's config or the config file is unreadable or malformed |
//! | 4 | the profile cannot be found, verified or turned into an entry |
//! | 5 | BPF-LSM is not active here, or its programs could not be loaded |
//! | 6 | the container's key could not be found, or a map write failed |

mod state;

use std::io::{Read, Write};

use linerate_bpf::{entries, loader, scope};
use linerate_profiles::store::Store;
use linerate_profiles::{Blob, Digest};
use linerate_shim::config::Config;
use linerate_shim::init::chain;
use linerate_shim::select;

use crate::state::State;

/// A failure: exit code, step and cause.
struct Failure {
    code: i32,
    container: Option<String>,
    step: &'static str,
    cause: String,
}

fn fail<'a, E: std::error::Error>(
    code: i32,
    container: Option<&'a str>,
    step: &'static str,
) -> impl FnOnce(E) -> Failure + 'a {
    move |e| Failure {
        code,
        container: container.map(str::to_owned),
        step,
        cause: chain(&e),
    }
}

/// The stage the runtime calls the hook for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Precreate,
    Create,
    Poststop,
}

fn stage(arg: Option<&str>) -> Option<Stage> {
    match arg? {
        "precreate" => Some(Stage::Precreate),
        "createRuntime" | "prestart" => Some(Stage::Create),
        "poststop" => Some(Stage::Poststop),
        _ => None,
    }
}

fn main() {
    let arg = std::env::args().nth(1);
    let result = match stage(arg.as_deref()) {
        Some(Stage::Precreate) => precreate(),
        Some(s) => run(s, std::io::stdin().lock()),
        None => Err(Failure {
            code: 2,
            container: None,
            step: "arguments",
            cause: "usage: linerate-hook createRuntime|prestart|poststop < state, or precreate < config.json"
                .to_owned(),
        }),
    };
    if let Err(Failure {
        code,
        container,
        step,
        cause,
    }) = result
    {
        let cause = cause.replace('\n', " ");
        let line = match container {
            Some(id) => format!("linerate-hook: container {id}: {step}: {cause}"),
            None => format!("linerate-hook: {step}: {cause}"),
        };
        eprintln!("{line}");
        log_to_kernel(&line);
        std::process::exit(code);
    }
}

/// Copies a refusal into the kernel log: podman shows a failing hook's exit
/// status but not its stderr, so without this the reason would be lost.
/// Best effort: a host without `/dev/kmsg` keeps the stderr line only.
fn log_to_kernel(line: &str) {
    use std::io::Write;
    if let Ok(mut kmsg) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        // <4>: KERN_WARNING.
        let _ = kmsg.write_all(format!("<4>{line}\n").as_bytes());
    }
}

/// podman's precreate: the spec on stdin, the rewritten spec on stdout.
fn precreate() -> Result<(), Failure> {
    use linerate_shim::precreate::PrecreateError;

    let config = Config::load().map_err(fail(3, None, "config"))?;
    let init = match &config.init {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(fail(4, None, "init"))?
            .with_file_name("linerate-init"),
    };
    let spec = linerate_shim::precreate::precreate(std::io::stdin().lock(), &config, init)
        .map_err(|e| {
            let code = match e {
                PrecreateError::Read(_) | PrecreateError::TooLarge | PrecreateError::Json(_) => 3,
                _ => 4,
            };
            fail(code, None, "precreate")(e)
        })?;
    let mut out = std::io::stdout().lock();
    out.write_all(&spec)
        .and_then(|()| out.flush())
        .map_err(fail(3, None, "precreate"))
}

fn run(stage: Stage, input: impl Read) -> Result<(), Failure> {
    let state = state::read_state(input).map_err(fail(3, None, "state"))?;
    let id = Some(state.id.as_str());
    match stage {
        Stage::Create => create(&state),
        // Nothing to remove (a container that was never hardened, or a
        // second cleanup) is success.
        Stage::Poststop => entries::remove_container(&state.id)
            .map(drop)
            .map_err(fail(6, id, "poststop")),
        Stage::Precreate => unreachable!("precreate reads a spec, not a state"),
    }
}

fn create(state: &State) -> Result<(), Failure> {
    let id = Some(state.id.as_str());
    let annotations = state::annotations(state).map_err(fail(3, id, "annotations"))?;
    let config = Config::load().map_err(fail(3, id, "config"))?;
    let store = Store::locate(config.store.as_deref());

    let blob =
        profile(&store, &annotations, &config.default_level).map_err(|(step, cause)| Failure {
            code: 4,
            container: id.map(str::to_owned),
            step,
            cause,
        })?;
    if !blob.bpf_lsm {
        return Ok(());
    }

    // Everything that can fail before the one write happens first.
    let policy = entries::policy_for(&blob, &state.id).map_err(fail(4, id, "profile"))?;
    let pid = state.pid.ok_or_else(|| Failure {
        code: 3,
        container: id.map(str::to_owned),
        step: "state",
        cause: "the state has no pid: call the hook at createRuntime or prestart".to_owned(),
    })?;
    let mode = scope::Mode::from_env().map_err(fail(6, id, "scope"))?;
    let pinned = loader::ensure_active().map_err(fail(5, id, "bpf-lsm"))?;
    let key = scope::of_pid(pid, mode).map_err(fail(6, id, "scope"))?;
    entries::install(&pinned, key, &policy).map_err(fail(6, id, "bpf-lsm"))
}

/// The container's blob: the digest the shim wrote, else the level or
/// profile the annotations ask for.
fn profile(
    store: &Store,
    annotations: &std::collections::BTreeMap<String, String>,
    default_level: &str,
) -> Result<Blob, (&'static str, String)> {
    let digest: Digest = match annotations.get(select::DIGEST) {
        Some(d) => d
            .parse()
            .map_err(|e| ("profile", format!("{}: {}", select::DIGEST, chain(&e))))?,
        None => {
            let request =
                select::request(annotations, default_level).map_err(|e| ("level", chain(&e)))?;
            let reference = match &request {
                select::Request::Level(r) | select::Request::Profile(r) => r.clone(),
            };
            store
                .resolve(&reference)
                .map_err(|e| ("profile", format!("profile `{reference}`: {}", chain(&e))))?
        }
    };
    store
        .get(&digest)
        .map_err(|e| ("profile", format!("{digest}: {}", chain(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_the_oci_names() {
        assert_eq!(stage(Some("createRuntime")), Some(Stage::Create));
        assert_eq!(stage(Some("prestart")), Some(Stage::Create));
        assert_eq!(stage(Some("poststop")), Some(Stage::Poststop));
        assert_eq!(stage(Some("precreate")), Some(Stage::Precreate));
        assert_eq!(stage(Some("createruntime")), None);
        assert_eq!(stage(None), None);
    }
}
