//! podman 4.3 as its users run it, from private config and state under a
//! world's folder: `CONTAINERS_CONF` and `CONTAINERS_STORAGE_CONF` name
//! files written here, with the fixes RECIPES.md lists for these machines
//! (ulimits within the hard limits, cgroupfs, file events and locks), and
//! the image is loaded from a tarball built by hand.
//!
//! Three more settings keep podman inside the folder and working:
//!
//! - `static_dir` is `<graphroot>/libpod`: conmon's exit command
//!   (`podman container cleanup`) is given `--root` and looks for the
//!   container database there; anywhere else, it finds no container and a
//!   foreground `podman run` waits 20 s for an exit it never records.
//! - `network_config_dir` is in the folder, or podman creates
//!   `/etc/cni/net.d/cni.lock` on the host.
//! - `skip_mount_home`: else the overlay driver bind-mounts its folder on
//!   itself, and a cleanup that conmon starts late can leave that mount
//!   behind the test.
//!
//! conmon gives the runtime it starts only the variables of
//! `conmon_env_vars`, so the world's `LINERATE_*` settings are listed
//! there; the hooks get only their own `env`.
//!
//! # Current limitations
//!
//! `podman load` writes c/image's blob cache to
//! `/var/lib/containers/cache` whatever the config says (root has no
//! setting for it).

use std::cell::Cell;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::image::{oci_archive, IMAGE_NAME};
use crate::mounts::{unmount_under, wait_for_processes_naming};
use crate::process::quietly;
use crate::{skip, which, Run, World};

/// The programs the podman tests need besides runc; their absence skips.
const PROGRAMS: [&str; 2] = ["podman", "conmon"];

/// The search path given to conmon, and so to the runtimes it starts.
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A private podman in a world's folder, with the test image loaded.
/// Dropping it removes its containers.
pub struct Podman<'w> {
    world: &'w World,
    dir: PathBuf,
    names: Cell<u32>,
}

impl<'w> Podman<'w> {
    /// Writes the config, loads the image and returns the podman; `None`
    /// (after a loud skip, see [`skip`]) when podman or conmon is missing.
    ///
    /// # Panics
    ///
    /// When a file cannot be written or the image cannot be loaded.
    pub fn start(world: &'w World) -> Option<Podman<'w>> {
        if let Some(missing) = PROGRAMS.iter().find(|p| which(p).is_none()) {
            skip(&format!(
                "{missing} is not installed (needed for the podman tests)"
            ));
            return None;
        }

        let dir = world.path().join("podman");
        for sub in ["graph", "run", "tmp", "volumes", "cni", "no-hooks"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        }
        let podman = Podman {
            world,
            dir,
            names: Cell::new(0),
        };
        write(&podman.containers_conf(), &podman.containers_conf_text());
        write(&podman.storage_conf(), &podman.storage_conf_text());

        let rootfs = world.bundle(&["/bin/true"]).rootfs();
        let archive = oci_archive(&rootfs, &podman.dir.join("image"));
        let archive = archive.to_str().expect("temporary paths are UTF-8");
        podman
            .podman(&["load", "--quiet", "--input", archive])
            .expect_success();
        Some(podman)
    }

    fn containers_conf(&self) -> PathBuf {
        self.dir.join("containers.conf")
    }

    fn storage_conf(&self) -> PathBuf {
        self.dir.join("storage.conf")
    }

    fn graph_root(&self) -> PathBuf {
        self.dir.join("graph")
    }

    fn containers_conf_text(&self) -> String {
        let (nofile, nproc) = ulimits();
        let env = [
            format!("PATH={PATH}"),
            format!("LINERATE_STORE={}", self.world.store().display()),
            format!("LINERATE_CONFIG={}", self.world.config().display()),
            format!("LINERATE_RUNTIME={}", self.world.real_runtime().display()),
        ];
        format!(
            "[containers]\n\
             netns = \"none\"\n\
             default_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
             \n\
             [network]\n\
             network_config_dir = {cni}\n\
             \n\
             [engine]\n\
             runtime = \"runc\"\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             lock_type = \"file\"\n\
             tmp_dir = {tmp}\n\
             static_dir = {static_dir}\n\
             volume_path = {volumes}\n\
             hooks_dir = [{hooks}]\n\
             conmon_env_vars = [{env}]\n",
            cni = quote_path(&self.dir.join("cni")),
            tmp = quote_path(&self.dir.join("tmp")),
            static_dir = quote_path(&self.graph_root().join("libpod")),
            volumes = quote_path(&self.dir.join("volumes")),
            hooks = quote_path(&self.dir.join("no-hooks")),
            env = env.iter().map(|e| quote(e)).collect::<Vec<_>>().join(", "),
        )
    }

    fn storage_conf_text(&self) -> String {
        format!(
            "[storage]\ndriver = \"overlay\"\nrunroot = {}\ngraphroot = {}\n\n\
             [storage.options.overlay]\nskip_mount_home = \"true\"\n",
            quote_path(&self.dir.join("run")),
            quote_path(&self.graph_root()),
        )
    }

    /// `podman` with this podman's config and the world's environment.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("podman");
        self.world.set_env(&mut cmd);
        cmd.env("CONTAINERS_CONF", self.containers_conf())
            .env("CONTAINERS_STORAGE_CONF", self.storage_conf());
        cmd
    }

    /// Runs `podman ARGS..` to the end.
    pub fn podman(&self, args: &[&str]) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        self.world.capture(&mut cmd, "")
    }

    /// A container name unique in the test run.
    fn name(&self) -> String {
        let n = self.names.get();
        self.names.set(n + 1);
        let world = self
            .world
            .path()
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("w");
        format!("{world}-{n}")
    }

    /// `podman run --name N OPTIONS.. IMAGE ARGS..` in the foreground; the
    /// container is kept (see [`Podman::spec`]) until the podman is dropped.
    /// podman's own seccomp filter is off (`seccomp=unconfined`), so the
    /// only filter the probe can see is linerate's, and nothing is pulled.
    pub fn run(&self, options: &[&str], args: &[&str]) -> Run {
        self.run_container(&[], options, args)
    }

    /// As [`Podman::run`], detached: returns once the container runs.
    pub fn run_detached(&self, options: &[&str], args: &[&str]) -> Run {
        self.run_container(&["--detach"], options, args)
    }

    fn run_container(&self, mode: &[&str], options: &[&str], args: &[&str]) -> Run {
        let name = self.name();
        let mut cmd = self.command();
        cmd.arg("run")
            .args(mode)
            .args([
                "--name",
                &name,
                "--pull",
                "never",
                "--security-opt",
                "seccomp=unconfined",
            ])
            .args(options)
            .arg(IMAGE_NAME)
            .args(args);
        let mut run = self.world.capture(&mut cmd, "");
        run.id = name;
        run
    }

    /// `podman exec NAME ARGS..`.
    pub fn exec(&self, name: &str, args: &[&str]) -> Run {
        let mut cmd = self.command();
        cmd.arg("exec").arg(name).args(args);
        let mut run = self.world.capture(&mut cmd, "");
        run.id = name.to_owned();
        run
    }

    /// The `config.json` podman gave the runtime for container `name`, as
    /// the runtime last left it in the bundle.
    ///
    /// # Panics
    ///
    /// When the container or its config is missing.
    pub fn spec(&self, name: &str) -> Value {
        let inspect = self.podman(&["inspect", "--format", "{{.Id}}", name]);
        inspect.expect_success();
        let id = inspect.stdout.trim();
        let path = self
            .graph_root()
            .join("overlay-containers")
            .join(id)
            .join("userdata/config.json");
        let text =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    }

    /// Kills and removes container `name`, ignoring errors.
    pub fn remove(&self, name: &str) {
        quietly(self.command().args(["rm", "--force", "--time", "0", name]));
    }

    /// A runtime for `--runtime` that appends each command line it gets to
    /// a log, one line each, then execs `linerate-runtime`: the wrapper and
    /// the log.
    pub fn recording_runtime(&self) -> (PathBuf, PathBuf) {
        let wrapper = self.dir.join("linerate-runtime-recorded");
        let log = self.dir.join("runtime-calls.log");
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            self.world.bins().runtime.display()
        );
        write(&wrapper, &script);
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", wrapper.display()));
        (wrapper, log)
    }
}

impl Drop for Podman<'_> {
    fn drop(&mut self) {
        quietly(
            self.command()
                .args(["rm", "--all", "--force", "--time", "0"]),
        );
        wait_for_processes_naming(&self.dir);
        unmount_under(&self.dir);
    }
}

/// The hooks.d folder `linerate install --prefix` wrote in `world`.
pub fn installed_hooks_dir(world: &World) -> PathBuf {
    world.path().join("prefix/usr/share/containers/oci/hooks.d")
}

/// The hard limits of open files and processes, the latter at most
/// `pid_max`: podman's default ulimits are above them here, and runc
/// cannot raise them.
fn ulimits() -> (u64, u64) {
    let pid_max = fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(32_768);
    let nofile = hard_limit(libc::RLIMIT_NOFILE).unwrap_or(1 << 20);
    let nproc = hard_limit(libc::RLIMIT_NPROC).map_or(pid_max, |n| n.min(pid_max));
    (nofile, nproc)
}

fn hard_limit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for the kernel to fill.
    let ret = unsafe { libc::getrlimit(resource, &mut limit) };
    (ret == 0 && limit.rlim_max != libc::RLIM_INFINITY).then_some(limit.rlim_max)
}

/// A TOML basic string holding `text` (JSON's escaping is valid TOML).
fn quote(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
