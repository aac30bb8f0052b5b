//! containerd 1.6 from a private config under a world's folder, started by
//! the test (`setsid containerd --config F`) and killed by its pid when the
//! [`Containerd`] is dropped. Its root, state, sockets and `opt` folder are
//! in the folder; the CRI plugin is off, so no CNI is needed; `ctr run`
//! keeps runc's state and its FIFOs there too.
//!
//! The daemon gets the world's `LINERATE_*` settings in its environment;
//! the runc v2 shim passes them on to the runtime binary it runs.
//!
//! # Current limitations
//!
//! The runc v2 shim always creates `/run/containerd/s` for its socket.

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::image::{oci_archive, IMAGE_NAME};
use crate::mounts::{unmount_under, wait_for_processes_naming};
use crate::process::quietly;
use crate::{skip, which, Run, World};

/// The programs the containerd tests need besides runc; their absence skips.
const PROGRAMS: [&str; 3] = ["containerd", "ctr", "containerd-shim-runc-v2"];

/// The runtime `ctr run` asks for.
pub const RUNC_V2: &str = "io.containerd.runc.v2";

/// How long the daemon may take to answer on its socket.
const BOOT: Duration = Duration::from_secs(20);

/// A private containerd daemon with the test image imported. Dropping it
/// kills what still runs, then the daemon.
pub struct Containerd<'w> {
    world: &'w World,
    dir: PathBuf,
    daemon: Child,
    names: Cell<u32>,
}

impl<'w> Containerd<'w> {
    /// Writes the config, starts the daemon, imports the image; `None`
    /// (after a loud skip, see [`skip`]) when containerd, ctr or the runc v2
    /// shim is missing.
    ///
    /// # Panics
    ///
    /// When the daemon does not come up or the image cannot be imported.
    pub fn start(world: &'w World) -> Option<Containerd<'w>> {
        if let Some(missing) = PROGRAMS.iter().find(|p| which(p).is_none()) {
            skip(&format!(
                "{missing} is not installed (needed for the containerd tests)"
            ));
            return None;
        }

        let dir = world.path().join("containerd");
        fs::create_dir_all(dir.join("fifo"))
            .unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let config = dir.join("config.toml");
        fs::write(&config, config_text(&dir))
            .unwrap_or_else(|e| panic!("write {}: {e}", config.display()));

        let log_path = dir.join("containerd.log");
        let log = fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
        let err = log.try_clone().expect("clone a file handle");
        let mut cmd = Command::new("setsid");
        cmd.arg("containerd").arg("--config").arg(&config);
        world.set_env(&mut cmd);
        let daemon = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start containerd: {e}"));

        let containerd = Containerd {
            world,
            dir,
            daemon,
            names: Cell::new(0),
        };
        containerd.wait_until_serving();

        let rootfs = world.bundle(&["/bin/true"]).rootfs();
        let archive = oci_archive(&rootfs, &containerd.dir.join("image"));
        let archive = archive.to_str().expect("temporary paths are UTF-8");
        containerd
            .ctr(&["images", "import", archive])
            .expect_success();
        Some(containerd)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    fn wait_until_serving(&self) {
        let started = Instant::now();
        loop {
            let up = self.socket().exists() && quietly(self.ctr_command().arg("version"));
            if up {
                return;
            }
            let log = fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
            assert!(
                started.elapsed() < BOOT,
                "containerd did not answer on {} within {BOOT:?}; its log:\n{log}",
                self.socket().display()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ctr --address SOCK` in the default namespace.
    pub fn ctr_command(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.env_remove("CONTAINERD_ADDRESS")
            .env_remove("CONTAINERD_NAMESPACE")
            .arg("--address")
            .arg(self.socket());
        cmd
    }

    /// Runs `ctr --address SOCK ARGS..` to the end.
    pub fn ctr(&self, args: &[&str]) -> Run {
        let mut cmd = self.ctr_command();
        cmd.args(args);
        self.world.capture(&mut cmd, "")
    }

    /// `ctr run --rm --runtime io.containerd.runc.v2 OPTIONS.. IMAGE ID
    /// ARGS..` in the foreground, with runc's state and the FIFOs in the
    /// world's folder.
    pub fn run(&self, options: &[&str], args: &[&str]) -> Run {
        let n = self.names.get();
        self.names.set(n + 1);
        let id = format!("lr-{}-{n}", std::process::id());

        let mut cmd = self.ctr_command();
        cmd.args(["run", "--rm", "--runtime", RUNC_V2])
            .arg("--runc-root")
            .arg(self.dir.join("runc"))
            .arg("--fifo-dir")
            .arg(self.dir.join("fifo"))
            .args(options)
            .args([IMAGE_NAME, &id])
            .args(args);
        let mut run = self.world.capture(&mut cmd, "");
        run.id = id;
        run
    }

    fn kill_tasks(&self) {
        let Ok(out) = self.ctr_command().args(["tasks", "ls", "--quiet"]).output() else {
            return;
        };
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            quietly(
                self.ctr_command()
                    .args(["tasks", "kill", "--signal", "SIGKILL", id]),
            );
            quietly(self.ctr_command().args(["tasks", "delete", "--force", id]));
            quietly(self.ctr_command().args(["containers", "delete", id]));
        }
    }
}

impl Drop for Containerd<'_> {
    fn drop(&mut self) {
        self.kill_tasks();

        let pid = i32::try_from(self.daemon.id()).expect("pids fit in i32");
        // SAFETY: kill has no memory preconditions; `pid` is our own child,
        // not yet reaped, so the number still names it.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let asked = Instant::now();
        while matches!(self.daemon.try_wait(), Ok(None)) {
            if asked.elapsed() > Duration::from_secs(5) {
                let _ = self.daemon.kill();
                let _ = self.daemon.wait();
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }

        wait_for_processes_naming(&self.dir);
        unmount_under(&self.dir);
    }
}

/// The daemon's config: everything under `dir`, no CRI plugin.
fn config_text(dir: &Path) -> String {
    let q = |name: &str| {
        serde_json::to_string(&dir.join(name).to_string_lossy()).expect("a string serializes")
    };
    format!(
        "version = 2\n\
         root = {root}\n\
         state = {state}\n\
         disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
         \n\
         [grpc]\n  address = {grpc}\n\
         \n\
         [ttrpc]\n  address = {ttrpc}\n\
         \n\
         [plugins.\"io.containerd.internal.v1.opt\"]\n  path = {opt}\n",
        root = q("root"),
        state = q("state"),
        grpc = q("containerd.sock"),
        ttrpc = q("containerd.sock.ttrpc"),
        opt = q("opt"),
    )
}
