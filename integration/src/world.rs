//! One test's world: a temporary folder with a store, a runtime state root,
//! bundles, and the commands that run containers in it.

use std::cell::{Cell, OnceCell};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::bundle::{build_rootfs, Bundle, BUSYBOX};
use crate::process::{capture, quietly, wait_with_deadline, DEADLINE};
use crate::{is_root, skip, which, Binaries, Run};

/// The OCI runtime behind `linerate-runtime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// runc from `PATH`, as it is.
    Runc,
    /// crun from `PATH`, through a wrapper that gives it a private mount
    /// namespace with cgroup2 and no cgroup manager.
    Crun,
}

impl Engine {
    /// The runtimes this engine needs; their absence skips a test (runc
    /// also writes every spec).
    fn runtimes(self) -> &'static [&'static str] {
        match self {
            Engine::Runc => &["runc"],
            Engine::Crun => &["crun", "runc"],
        }
    }
}

/// Numbers the worlds of this test process, for unique container ids.
static WORLDS: AtomicU32 = AtomicU32::new(0);

/// The crun wrapper: a private mount namespace where cgroup2 is mounted,
/// because crun refuses the host's hybrid cgroup layout.
const CRUN_WRAPPER: &str = "#!/bin/sh\n\
exec unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup && \
exec crun --cgroup-manager=disabled \"$@\"' crun \"$@\"\n";

/// A test's private folder and everything it runs there. Dropping it
/// deletes its containers, then the folder.
pub struct World {
    dir: TempDir,
    engine: Engine,
    bins: Binaries,
    number: u32,
    containers: Cell<u32>,
    spec: OnceCell<Value>,
}

impl World {
    /// A world for a test that runs containers: `None` (after a loud skip,
    /// see [`skip`]) when not root or when the engine's runtimes are
    /// missing. The store is filled with `linerate install`.
    ///
    /// # Panics
    ///
    /// When a workspace binary or busybox is missing, or `linerate install`
    /// fails.
    pub fn privileged(engine: Engine) -> Option<World> {
        if !is_root() {
            skip("not running as root");
            return None;
        }
        if let Some(runtime) = engine.runtimes().iter().find(|t| which(t).is_none()) {
            skip(&format!(
                "{runtime} is not installed (needed for {engine:?})"
            ));
            return None;
        }
        assert!(
            Path::new(BUSYBOX).is_file(),
            "{BUSYBOX} is missing: install busybox-static"
        );

        let world = World::new(engine);
        world.install();
        Some(world)
    }

    /// A world for a test of the CLI alone: no root needed, the store left
    /// empty.
    ///
    /// # Panics
    ///
    /// When a workspace binary is missing.
    pub fn unprivileged() -> World {
        World::new(Engine::Runc)
    }

    fn new(engine: Engine) -> World {
        let bins = Binaries::find();
        let dir = tempfile::Builder::new()
            .prefix("linerate-it-")
            .tempdir()
            .unwrap_or_else(|e| panic!("create a temporary folder: {e}"));
        let world = World {
            dir,
            engine,
            bins,
            number: WORLDS.fetch_add(1, Ordering::Relaxed),
            containers: Cell::new(0),
            spec: OnceCell::new(),
        };
        if engine == Engine::Crun {
            let wrapper = world.crun_wrapper();
            fs::write(&wrapper, CRUN_WRAPPER).expect("write the crun wrapper");
            fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))
                .expect("make the crun wrapper executable");
        }
        world
    }

    /// The engine behind `linerate-runtime` in this world.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The workspace binaries.
    pub fn bins(&self) -> &Binaries {
        &self.bins
    }

    /// The world's folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The store (`LINERATE_STORE`).
    pub fn store(&self) -> PathBuf {
        self.path().join("store")
    }

    /// The config file (`LINERATE_CONFIG`); absent unless a test writes it.
    pub fn config(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    /// The runtime's state root (`--root`).
    pub fn state_root(&self) -> PathBuf {
        self.path().join("state")
    }

    fn crun_wrapper(&self) -> PathBuf {
        self.path().join("crun")
    }

    /// What `LINERATE_RUNTIME` names for this world's engine.
    pub fn real_runtime(&self) -> PathBuf {
        match self.engine {
            Engine::Runc => PathBuf::from("runc"),
            Engine::Crun => self.crun_wrapper(),
        }
    }

    /// Fills the store with the three levels (`linerate install`). When the
    /// CLI can write engine files (hooks.d and runtime entries) under a
    /// `--prefix`, they go to the world's folder, never to the host's /etc.
    ///
    /// # Panics
    ///
    /// When it fails.
    pub fn install(&self) {
        let prefix = self.path().join("prefix");
        let prefix = prefix.to_str().expect("temporary paths are UTF-8");
        let rest: &[&str] = if self.install_takes_prefix() {
            &["--prefix", prefix]
        } else {
            &[]
        };
        self.cli(&["install"], rest).expect_success();
    }

    /// Whether `linerate install --help` offers `--prefix`.
    fn install_takes_prefix(&self) -> bool {
        static TAKES_PREFIX: OnceLock<bool> = OnceLock::new();
        *TAKES_PREFIX.get_or_init(|| {
            Command::new(&self.bins.linerate)
                .args(["install", "--help"])
                .output()
                .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("--prefix"))
        })
    }

    /// Runs `linerate SUBCOMMAND.. --store STORE REST..` with this world's
    /// environment.
    pub fn cli(&self, subcommand: &[&str], rest: &[&str]) -> Run {
        let mut cmd = Command::new(&self.bins.linerate);
        cmd.args(subcommand)
            .arg("--store")
            .arg(self.store())
            .args(rest);
        self.set_env(&mut cmd);
        self.capture(&mut cmd, "")
    }

    /// Writes `text` to `name` in the world's folder and returns its path.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Writes the profile `source` to `name` and runs
    /// `linerate compile FILE --store STORE`.
    pub fn compile(&self, name: &str, source: &str) -> Run {
        let file = self.write_file(name, source);
        let file = file.to_str().expect("temporary paths are UTF-8");
        self.cli(&["compile"], &[file])
    }

    /// Sets `LINERATE_STORE`, `LINERATE_CONFIG` and `LINERATE_RUNTIME`,
    /// after removing every other `LINERATE_*` variable the tests inherited
    /// (the init is found next to the shim).
    pub fn set_env(&self, cmd: &mut Command) {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LINERATE_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("LINERATE_STORE", self.store())
            .env("LINERATE_CONFIG", self.config())
            .env("LINERATE_RUNTIME", self.real_runtime());
    }

    /// A new bundle with a fresh root filesystem and a unique container id,
    /// running `args`.
    pub fn bundle(&self, args: &[&str]) -> Bundle {
        let n = self.containers.get();
        self.containers.set(n + 1);
        let id = format!("lr-{}-{}-{n}", std::process::id(), self.number);

        let cache = self.path().join("cache");
        let (busybox, probe) = (cache.join("busybox"), cache.join("linerate-probe"));
        if !probe.exists() {
            fs::create_dir_all(&cache).expect("create the cache folder");
            fs::copy(BUSYBOX, &busybox).unwrap_or_else(|e| panic!("copy {BUSYBOX}: {e}"));
            fs::copy(&self.bins.probe, &probe).expect("copy the probe");
        }

        let dir = self.path().join("bundles").join(&id);
        build_rootfs(&dir.join("rootfs"), &busybox, &probe)
            .unwrap_or_else(|e| panic!("build the root filesystem in {}: {e}", dir.display()));
        Bundle::new(dir, id, self.spec_template().clone(), args)
    }

    /// The config `runc spec` writes, asked once per world.
    fn spec_template(&self) -> &Value {
        self.spec.get_or_init(|| {
            let dir = self.path().join("spec");
            fs::create_dir_all(&dir).expect("create the spec folder");
            let out = Command::new("runc")
                .arg("spec")
                .arg("--bundle")
                .arg(&dir)
                .output()
                .unwrap_or_else(|e| panic!("runc spec: {e}"));
            assert!(
                out.status.success(),
                "runc spec: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = fs::read_to_string(dir.join("config.json")).expect("read runc's spec");
            serde_json::from_str(&text).expect("runc spec writes JSON")
        })
    }

    /// `linerate-runtime --root ROOT` with this world's environment.
    pub fn runtime_command(&self) -> Command {
        let mut cmd = Command::new(&self.bins.runtime);
        cmd.arg("--root").arg(self.state_root());
        self.set_env(&mut cmd);
        cmd
    }

    /// The real runtime (runc, or the crun wrapper) with `--root ROOT`,
    /// bypassing linerate.
    pub fn engine_command(&self) -> Command {
        let mut cmd = Command::new(self.real_runtime());
        cmd.arg("--root").arg(self.state_root());
        cmd
    }

    /// Writes the bundle's config for this world's engine.
    pub fn write_config(&self, bundle: &Bundle) {
        bundle.write_config(self.engine == Engine::Runc);
    }

    /// Runs the bundle in the foreground through `linerate-runtime run`.
    pub fn run(&self, bundle: &Bundle) -> Run {
        self.run_with(self.runtime_command(), bundle)
    }

    /// Runs the bundle in the foreground through the real runtime alone,
    /// the baseline that linerate is compared with.
    pub fn run_plain(&self, bundle: &Bundle) -> Run {
        self.run_with(self.engine_command(), bundle)
    }

    /// Runs the bundle with `cmd` (a runtime with its global options and
    /// environment), adding `run --bundle DIR ID`.
    pub fn run_with(&self, mut cmd: Command, bundle: &Bundle) -> Run {
        self.write_config(bundle);
        cmd.arg("run")
            .arg("--bundle")
            .arg(&bundle.dir)
            .arg(&bundle.id);
        self.capture(&mut cmd, &bundle.id)
    }

    /// Starts the bundle detached through `linerate-runtime run -d`; the
    /// container's stdio goes to files in the bundle.
    pub fn run_detached(&self, bundle: &Bundle) -> Run {
        self.write_config(bundle);
        let mut cmd = self.runtime_command();
        cmd.args(["run", "-d", "--bundle"])
            .arg(&bundle.dir)
            .arg(&bundle.id);
        self.to_files(&mut cmd, bundle, "run")
    }

    /// Creates the container through `linerate-runtime create`; its stdio
    /// goes to files in the bundle, which [`World::wait_stopped`] reads.
    pub fn create(&self, bundle: &Bundle) -> Run {
        self.write_config(bundle);
        let mut cmd = self.runtime_command();
        cmd.args(["create", "--bundle"])
            .arg(&bundle.dir)
            .arg(&bundle.id);
        self.to_files(&mut cmd, bundle, "create")
    }

    /// `linerate-runtime start ID`.
    pub fn start(&self, id: &str) -> Run {
        let mut cmd = self.runtime_command();
        cmd.arg("start").arg(id);
        self.capture(&mut cmd, id)
    }

    /// `linerate-runtime exec ID ARGS..`.
    pub fn exec(&self, id: &str, args: &[&str]) -> Run {
        let mut cmd = self.runtime_command();
        cmd.arg("exec").arg(id).args(args);
        self.capture(&mut cmd, id)
    }

    fn to_files(&self, cmd: &mut Command, bundle: &Bundle, step: &str) -> Run {
        let out_path = bundle.dir.join(format!("{step}.stdout"));
        let err_path = bundle.dir.join(format!("{step}.stderr"));
        let out = fs::File::create(&out_path).expect("create the stdout file");
        let err = fs::File::create(&err_path).expect("create the stderr file");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let (status, timed_out) = wait_with_deadline(&mut child, cmd, || self.remove(&bundle.id));
        let run = Run {
            id: bundle.id.clone(),
            command: format!("{cmd:?}"),
            status,
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        };
        assert!(!timed_out, "did not finish within {DEADLINE:?}:\n{run}");
        run
    }

    /// Waits until the container has stopped, then returns what it printed
    /// (the files [`World::create`] set up).
    ///
    /// # Panics
    ///
    /// When it is still running after the deadline.
    pub fn wait_stopped(&self, bundle: &Bundle) -> Run {
        let started = Instant::now();
        loop {
            let status = self.state(&bundle.id).map(|s| s["status"].clone());
            let stopped = match &status {
                Some(Value::String(s)) => s == "stopped",
                _ => true,
            };
            if stopped {
                break;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{} still {status:?}",
                bundle.id
            );
            thread::sleep(Duration::from_millis(10));
        }
        Run {
            id: bundle.id.clone(),
            command: format!("container {} after start", bundle.id),
            status: std::os::unix::process::ExitStatusExt::from_raw(0),
            stdout: fs::read_to_string(bundle.dir.join("create.stdout")).unwrap_or_default(),
            stderr: fs::read_to_string(bundle.dir.join("create.stderr")).unwrap_or_default(),
        }
    }

    /// The runtime's `state` of a container, or `None` when it has none.
    pub fn state(&self, id: &str) -> Option<Value> {
        let out = self
            .engine_command()
            .arg("state")
            .arg(id)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The ids of every container the real runtime knows in this world.
    pub fn containers(&self) -> Vec<String> {
        let out = self
            .engine_command()
            .args(["list", "-q"])
            .output()
            .unwrap_or_else(|e| panic!("{:?} list: {e}", self.real_runtime()));
        assert!(
            out.status.success(),
            "{:?} list failed: {}",
            self.real_runtime(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Asserts that the runtime knows nothing of container `id`.
    pub fn assert_no_container(&self, id: &str) {
        let left = self.containers();
        assert!(
            !left.iter().any(|c| c == id),
            "container {id} was left behind: {left:?}"
        );
        assert!(
            self.state(id).is_none(),
            "the runtime still has a state for {id}"
        );
    }

    /// Asserts the fail-closed contract for a refused start: a non-zero
    /// exit, exactly one line on stderr naming the container, nothing run
    /// inside it, and no container left behind.
    pub fn assert_refused(&self, run: &Run, why: &str) {
        assert!(!run.success(), "{why}: expected a refused start\n{run}");
        let lines = run.stderr_lines();
        assert_eq!(
            lines.len(),
            1,
            "{why}: expected exactly one line on stderr\n{run}"
        );
        assert!(
            lines[0].contains(&run.id),
            "{why}: the error line does not name the container\n{run}"
        );
        assert!(
            run.stdout.trim().is_empty(),
            "{why}: the container printed something\n{run}"
        );
        self.assert_no_container(&run.id);
    }

    /// Kills and deletes a container, ignoring errors.
    pub fn remove(&self, id: &str) {
        quietly(self.engine_command().args(["kill", id, "KILL"]));
        quietly(self.engine_command().args(["delete", "--force", id]));
    }

    /// Runs `cmd` to the end under the deadline, capturing its output; `id`
    /// names the container it concerns (or is empty), which is removed if
    /// the deadline passes.
    pub fn capture(&self, cmd: &mut Command, id: &str) -> Run {
        let captured = capture(cmd, || {
            if !id.is_empty() {
                self.remove(id);
            }
        });
        let run = Run {
            id: id.to_owned(),
            command: format!("{cmd:?}"),
            status: captured.status,
            stdout: captured.stdout,
            stderr: captured.stderr,
        };
        assert!(
            !captured.timed_out,
            "did not finish within {DEADLINE:?}:\n{run}"
        );
        run
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if !self.state_root().exists() {
            return;
        }
        let ids = self
            .engine_command()
            .args(["list", "-q"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.lines() {
            self.remove(id);
        }
    }
}
