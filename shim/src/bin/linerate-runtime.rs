//! linerate-runtime: a drop-in for runc. `create` and `run` rewrite the
//! bundle's `config.json` for the container's level, `exec` puts
//! linerate-init in front of the new process, and every other command goes
//! to the real runtime unchanged.
//!
//! Exit codes: the real runtime's own, once it runs; 125 when linerate
//! refused or failed before it could run it, with one line on stderr that
//! names the container, the step and the cause.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use linerate_profiles::store::Store;
use linerate_shim::config::Config;
use linerate_shim::init::chain;
use linerate_shim::runtime::{self, Invocation};
use linerate_shim::{lsm_label, select, spec};
use serde_json::Value;

/// The exit code of a refusal by linerate itself.
const REFUSED: i32 = 125;

/// A failure: the step it happened in and why.
struct Failure {
    container: Option<String>,
    step: &'static str,
    cause: String,
}

fn fail<'a, E: std::error::Error>(
    container: Option<&'a str>,
    step: &'static str,
) -> impl FnOnce(E) -> Failure + 'a {
    move |e| Failure {
        container: container.map(str::to_owned),
        step,
        cause: chain(&e),
    }
}

fn failure(container: Option<&str>, step: &'static str, cause: impl Into<String>) -> Failure {
    Failure {
        container: container.map(str::to_owned),
        step,
        cause: cause.into(),
    }
}

fn main() {
    linerate_shim::logging::init();
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(OsString::into_string)
        .collect()
    {
        Ok(a) => a,
        Err(_) => {
            eprintln!("linerate-runtime: arguments: an argument is not UTF-8");
            std::process::exit(REFUSED);
        }
    };
    let Failure {
        container,
        step,
        cause,
    } = match run(&args) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    match container {
        Some(id) => eprintln!("linerate-runtime: container {id}: {step}: {cause}"),
        None => eprintln!("linerate-runtime: {step}: {cause}"),
    }
    std::process::exit(REFUSED);
}

enum Never {}

fn run(args: &[String]) -> Result<Never, Failure> {
    let inv = runtime::split(args);
    // Name the container in every error once the command line says which.
    let id = match inv.command.as_deref() {
        Some("create" | "run") => runtime::create(&inv.rest).ok().map(|c| c.id),
        Some("exec") => runtime::exec(&inv.rest).ok().map(|e| e.id),
        _ => None,
    };
    let config = Config::load().map_err(fail(id.as_deref(), "config"))?;
    let real = find_runtime(&config.runtime).map_err(|c| failure(id.as_deref(), "runtime", c))?;

    match inv.command.as_deref() {
        Some("create" | "run") => create(&config, &real, &inv, args),
        Some("exec") => exec(&config, &real, &inv),
        Some("delete") => {
            std::process::exit(linerate_shim::hardened::run_delete(&real, args, &inv.rest))
        }
        _ => Err(exec_runtime(&real, args, None)),
    }
}

/// Finds the real runtime: a path, or a name on `PATH` that is not this
/// program (linerate-runtime may itself be installed as `runc`).
fn find_runtime(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().and_then(|p| p.canonicalize()).ok();
    let candidates: Vec<PathBuf> = if name.contains('/') {
        vec![PathBuf::from(name)]
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        });
        std::env::split_paths(&path).map(|d| d.join(name)).collect()
    };
    for c in candidates {
        let Ok(meta) = c.metadata() else { continue };
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            continue;
        }
        if me.is_some() && c.canonicalize().ok() == me {
            continue;
        }
        return Ok(c);
    }
    Err(format!(
        "the real runtime `{name}` was not found (set runtime in the config or LINERATE_RUNTIME)"
    ))
}

/// Replaces this process with the real runtime; returns only on failure.
fn exec_runtime(real: &Path, args: &[String], container: Option<&str>) -> Failure {
    let err = Command::new(real).args(args).exec();
    failure(
        container,
        "runtime",
        format!("exec {}: {err}", real.display()),
    )
}

fn create(
    config: &Config,
    real: &Path,
    inv: &Invocation,
    args: &[String],
) -> Result<Never, Failure> {
    let c = runtime::create(&inv.rest).map_err(fail(None, "arguments"))?;
    let id = Some(c.id.as_str());

    let path = match &c.config {
        Some(p) => Path::new(&c.bundle).join(p),
        None => Path::new(&c.bundle).join("config.json"),
    };
    let original = std::fs::read(&path)
        .map_err(|e| failure(id, "spec", format!("reading {}: {e}", path.display())))?;
    let mut doc: Value = serde_json::from_slice(&original)
        .map_err(|e| failure(id, "spec", format!("{} is not JSON: {e}", path.display())))?;

    let request = select::request(&spec::annotations(&doc), &config.default_level)
        .map_err(fail(id, "level"))?;
    let store = Store::locate(config.store.as_deref());
    let (digest, blob) = select::resolve(&store, &request).map_err(fail(id, "profile"))?;

    let labels =
        lsm_label::decide(blob.labels.as_ref(), Path::new("/")).map_err(fail(id, "labels"))?;
    if !labels.skipped.is_empty() {
        tracing::info!(container_id = %c.id, skipped = ?labels.skipped,
            "labels of LSMs this host does not run left out (not required)");
    }
    if let Some(mode) = labels.apparmor_mode.as_deref().filter(|m| *m != "enforce") {
        tracing::info!(container_id = %c.id, mode,
            "the AppArmor profile is loaded but does not enforce");
    }

    let init = init_path(config).map_err(|c| failure(id, "init", c))?;
    let blob_file = store.blob_path(&digest);
    let rewrite = spec::Rewrite {
        container: &c.id,
        digest: &digest,
        blob: &blob,
        init: &init,
        blob_file: &blob_file,
        verbose: config.verbose,
        labels: labels.labels,
    };
    spec::rewrite(&mut doc, &rewrite).map_err(fail(id, "spec"))?;
    if blob.bpf_lsm {
        let hook = linerate_shim::hardened::hook_path().map_err(|c| failure(id, "hook", c))?;
        linerate_shim::hardened::add_hooks(&mut doc, &blob, &hook)
            .map_err(|c| failure(id, "spec", c))?;
    }
    write_spec(&path, &doc)
        .map_err(|e| failure(id, "spec", format!("writing {}: {e}", path.display())))?;

    tracing::info!(container_id = %c.id, %digest, profile = ?blob.name, "spec rewritten");
    let err = exec_runtime(real, args, id);
    // The runtime never ran: leave the bundle as the engine wrote it.
    let _ = std::fs::write(&path, &original);
    Err(err)
}

/// linerate-init on the host: the config's, else the one beside this program.
fn init_path(config: &Config) -> Result<PathBuf, String> {
    let p = match &config.init {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| format!("locating linerate-runtime: {e}"))?
            .with_file_name("linerate-init"),
    };
    let p = p
        .canonicalize()
        .map_err(|e| format!("linerate-init at {}: {e}", p.display()))?;
    Ok(p)
}

/// Writes the spec beside the old one and renames it over, keeping its mode.
fn write_spec(path: &Path, doc: &Value) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(doc).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("json.linerate-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, path)
}

fn exec(config: &Config, real: &Path, inv: &Invocation) -> Result<Never, Failure> {
    let e = runtime::exec(&inv.rest).map_err(fail(None, "arguments"))?;
    let id = Some(e.id.as_str());

    let (state_annotations, container_spec) =
        container_spec(real, &inv.globals, &e.id).map_err(|c| failure(id, "state", c))?;
    // The runtime's state keeps the annotations the container was created
    // with; the bundle's config.json could have been replaced since.
    let annotations = state_annotations.unwrap_or_else(|| spec::annotations(&container_spec));
    let mut args: Vec<String> = inv.globals.clone();
    args.push("exec".to_owned());

    let Some(digest) = annotations.get(select::DIGEST) else {
        // Not a linerate container: nothing to add.
        args.extend(inv.rest.iter().cloned());
        return Err(exec_runtime(real, &args, id));
    };
    let digest: linerate_profiles::Digest = digest.parse().map_err(fail(id, "state"))?;
    let prefix = init_prefix(&container_spec)
        .ok_or_else(|| failure(id, "state", "config.json does not start linerate-init"))?;

    let store = Store::locate(config.store.as_deref());
    let blob = store.get(&digest).map_err(fail(id, "profile"))?;
    if let Some(keep) = blob.capabilities {
        for cap in &e.caps {
            let bit = cap
                .parse::<caps::Capability>()
                .map(|c| c.bitmask())
                .unwrap_or(u64::MAX);
            if keep & bit != bit {
                return Err(failure(
                    id,
                    "exec",
                    format!("--cap {cap}: the profile does not keep it"),
                ));
            }
        }
    }

    // The exec'd process keeps the container's labels: runc's --apparmor
    // and --process-label may not name others.
    let labels = lsm_label::decide(blob.labels.as_ref(), Path::new("/"))
        .map_err(fail(id, "labels"))?
        .labels;
    for (flag, label) in [
        ("--apparmor", labels.apparmor),
        ("--process-label", labels.selinux),
    ] {
        let Some(want) = label else { continue };
        for asked in option_values(&e.options, flag) {
            if asked != want {
                return Err(failure(
                    id,
                    "exec",
                    format!("{flag} {asked}: the profile's label is {want}"),
                ));
            }
        }
    }

    args.extend(e.options.iter().cloned());
    let Some(process_file) = &e.process else {
        if e.command.is_empty() {
            return Err(failure(id, "exec", "no command"));
        }
        tracing::info!(container_id = %e.id, %digest, "exec through linerate-init");
        args.push(e.id.clone());
        args.extend(prefix);
        args.extend(e.command.iter().cloned());
        return Err(exec_runtime(real, &args, id));
    };

    // --process FILE: rewrite a copy of the file, run the runtime on it, then remove it.
    let text = std::fs::read(process_file)
        .map_err(|err| failure(id, "exec", format!("reading {process_file}: {err}")))?;
    let mut process: Value = serde_json::from_slice(&text)
        .map_err(|err| failure(id, "exec", format!("{process_file} is not JSON: {err}")))?;
    let init = init_path(config).map_err(|c| failure(id, "init", c))?;
    let blob_file = store.blob_path(&digest);
    let rewrite = spec::Rewrite {
        container: &e.id,
        digest: &digest,
        blob: &blob,
        init: &init,
        blob_file: &blob_file,
        verbose: config.verbose,
        labels,
    };
    let obj = process
        .as_object_mut()
        .ok_or_else(|| failure(id, "exec", "the process file is not an object"))?;
    spec::wrap_process(obj, &rewrite).map_err(fail(id, "exec"))?;

    let dir = Path::new("/run/linerate/exec");
    std::fs::create_dir_all(dir)
        .map_err(|err| failure(id, "exec", format!("creating {}: {err}", dir.display())))?;
    let tmp = dir.join(format!(
        "{}-{}.json",
        e.id.replace('/', "_"),
        std::process::id()
    ));
    std::fs::write(&tmp, serde_json::to_vec(&process).expect("serializes"))
        .map_err(|err| failure(id, "exec", format!("writing {}: {err}", tmp.display())))?;
    args.extend([
        "--process".to_owned(),
        tmp.display().to_string(),
        e.id.clone(),
    ]);
    let status = Command::new(real).args(&args).status();
    let _ = std::fs::remove_file(&tmp);
    match status {
        Ok(s) => std::process::exit(s.code().unwrap_or(REFUSED)),
        Err(err) => Err(failure(
            id,
            "runtime",
            format!("running {}: {err}", real.display()),
        )),
    }
}

/// Every value of `flag` among exec options, which `runtime::exec` keeps
/// as separate `flag value` pairs.
fn option_values<'a>(options: &'a [String], flag: &'a str) -> impl Iterator<Item = &'a str> {
    options
        .windows(2)
        .filter(move |w| w[0] == flag)
        .map(|w| w[1].as_str())
}

/// The container's annotations as the runtime's `state` reports them (when
/// it does), and its `config.json`, found through the state's bundle.
fn container_spec(
    real: &Path,
    globals: &[String],
    id: &str,
) -> Result<(Option<std::collections::BTreeMap<String, String>>, Value), String> {
    let out = Command::new(real)
        .args(globals)
        .args(["state", id])
        .output()
        .map_err(|e| format!("running {} state: {e}", real.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr)
            .trim()
            .replace('\n', " "));
    }
    let state: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("state is not JSON: {e}"))?;
    let bundle = state
        .get("bundle")
        .and_then(Value::as_str)
        .ok_or("state has no bundle")?;
    let path = Path::new(bundle).join("config.json");
    let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let config = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let annotations = state
        .get("annotations")
        .map(|a| spec::annotations(&serde_json::json!({ "annotations": a })));
    Ok((annotations, config))
}

/// linerate-init and its options up to `--`, as the container's spec starts it.
fn init_prefix(spec: &Value) -> Option<Vec<String>> {
    let args = spec.get("process")?.get("args")?.as_array()?;
    let args: Vec<String> = args
        .iter()
        .map(|a| a.as_str().map(str::to_owned))
        .collect::<Option<_>>()?;
    if args.first().map(String::as_str) != Some(linerate_shim::init::INIT_PATH) {
        return None;
    }
    let end = args.iter().position(|a| a == "--")?;
    Some(args[..=end].to_vec())
}
