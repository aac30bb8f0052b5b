//! `linerate`: compile profiles into the store, inspect it, install the
//! levels, and run a plain process under a level.

mod doctor;
mod install;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use linerate_profiles::compile::{compile_level, compile_source};
use linerate_profiles::levels;
use linerate_profiles::store::Store;
use linerate_shim::init::{self, InitArgs};

#[derive(Parser)]
#[command(
    name = "linerate",
    version,
    about = "Security levels for Linux containers"
)]
struct Cli {
    /// The store's root (default: LINERATE_STORE, else /var/lib/linerate/store).
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the BPF-LSM events of hardened containers (denials, execs, alerts).
    Audit {
        /// Keep waiting for new events.
        #[arg(long)]
        follow: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove the BPF-LSM entries of containers that no longer exist.
    Gc {
        /// Report what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compile a profile source into the store and print its digest.
    Compile {
        /// The profile source (TOML).
        file: PathBuf,
        /// Store it under this name (default: the source's `name`).
        #[arg(long)]
        name: Option<String>,
    },
    /// List, describe and check the store.
    Store {
        #[command(subcommand)]
        command: StoreCmd,
    },
    /// Compile the three levels into the store and write the engine files
    /// (podman hooks.d and runtime entry; containerd with --containerd).
    /// Running it again changes nothing.
    Install {
        /// Write the engine files under this root instead of /.
        #[arg(long, default_value = "/")]
        prefix: PathBuf,
        /// Show what would be written; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also write the containerd runtime handler (else it is printed).
        #[arg(long)]
        containerd: bool,
    },
    /// Remove the engine files install wrote (the store stays).
    Uninstall {
        /// The root install wrote under.
        #[arg(long, default_value = "/")]
        prefix: PathBuf,
        /// Show what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// What this host can enforce, and each level's state.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a command under a level or profile, as linerate-init does in a container.
    Exec {
        /// A level: minimal, sandbox, hardened.
        #[arg(long, conflicts_with = "profile")]
        level: Option<String>,
        /// A profile name or sha256 digest in the store.
        #[arg(long)]
        profile: Option<String>,
        /// Report what was enforced on stderr.
        #[arg(long)]
        verbose: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
}

#[derive(Subcommand)]
enum StoreCmd {
    /// One line per profile: digest and name.
    Ls,
    /// Print a profile's blob, by name or digest.
    Show {
        /// A name or `sha256:<hex>`.
        reference: String,
    },
    /// Check every profile's digest and file permissions.
    Verify,
}

fn main() {
    linerate_shim::logging::init();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        let causes: Vec<String> = e.chain().map(ToString::to_string).collect();
        eprintln!("linerate: {}", causes.join(": ").replace('\n', " "));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let store = Store::locate(cli.store.as_deref());
    match cli.command {
        Cmd::Audit { follow, json } => {
            linerate_bpf::audit::print(follow, json, &mut std::io::stdout().lock())?;
            Ok(())
        }
        Cmd::Gc { dry_run } => {
            let report = linerate_bpf::entries::gc_now(dry_run)?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Cmd::Compile { file, name } => compile(&store, &file, name.as_deref()),
        Cmd::Store { command } => store_cmd(&store, command),
        Cmd::Install {
            prefix,
            dry_run,
            containerd,
        } => install(&store, &prefix, dry_run, containerd),
        Cmd::Uninstall { prefix, dry_run } => uninstall(&prefix, dry_run),
        Cmd::Doctor { json } => {
            let r = doctor::report(&store);
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", doctor::human(&r));
            }
            Ok(())
        }
        Cmd::Exec {
            level,
            profile,
            verbose,
            command,
        } => exec(&store, level, profile, verbose, command),
    }
}

fn compile(store: &Store, file: &Path, name: Option<&str>) -> Result<()> {
    let blob = compile_source(file).with_context(|| format!("compile {}", file.display()))?;
    let name = name.map(str::to_owned).or_else(|| blob.name.clone());
    let digest = store
        .put(&blob, name.as_deref())
        .with_context(|| format!("store {}", store.root().display()))?;
    println!("{digest}");
    Ok(())
}

/// The folder holding linerate's binaries: this program's.
fn bin_dir() -> Result<PathBuf> {
    let me = std::env::current_exe().context("locate linerate")?;
    Ok(me.parent().context("linerate has no folder")?.to_owned())
}

fn install(store: &Store, prefix: &Path, dry_run: bool, containerd: bool) -> Result<()> {
    for (name, _) in levels::SOURCES {
        let blob = compile_level(name).with_context(|| format!("compile level {name}"))?;
        if dry_run {
            println!("would store level {name} in {}", store.root().display());
            continue;
        }
        let digest = store
            .put(&blob, Some(name))
            .with_context(|| format!("store {}", store.root().display()))?;
        println!("{digest} {name}");
    }
    let bin = bin_dir()?;
    let files = install::engine_files(&bin, &hook_env(store)?, containerd);
    for (path, outcome) in install::write(prefix, &files, dry_run)? {
        let verb = match (outcome, dry_run) {
            (install::Outcome::Written, true) => "would write",
            (install::Outcome::Written, false) => "wrote",
            _ => "unchanged",
        };
        println!("{verb} {}", path.display());
    }
    if !containerd {
        println!(
            "\ncontainerd: add this runtime handler to its config (or run install --containerd):\n"
        );
        print!("{}", install::containerd_stanza(&bin));
    }
    Ok(())
}

/// The environment the engine's hooks run with: the store and config this
/// install used, as absolute paths.
fn hook_env(store: &Store) -> Result<Vec<String>> {
    let absolute =
        |p: &Path| std::path::absolute(p).with_context(|| format!("resolve {}", p.display()));
    let mut env = vec![format!(
        "LINERATE_STORE={}",
        absolute(store.root())?.display()
    )];
    if let Some(config) = std::env::var_os("LINERATE_CONFIG").filter(|c| !c.is_empty()) {
        env.push(format!(
            "LINERATE_CONFIG={}",
            absolute(Path::new(&config))?.display()
        ));
    }
    Ok(env)
}

fn uninstall(prefix: &Path, dry_run: bool) -> Result<()> {
    let files = install::engine_files(&bin_dir()?, &[], true);
    for (path, outcome) in install::remove(prefix, &files, dry_run)? {
        let verb = match (outcome, dry_run) {
            (install::Outcome::Removed, true) => "would remove",
            (install::Outcome::Removed, false) => "removed",
            _ => "absent",
        };
        println!("{verb} {}", path.display());
    }
    Ok(())
}

fn store_cmd(store: &Store, command: StoreCmd) -> Result<()> {
    match command {
        StoreCmd::Ls => {
            for e in store
                .list()
                .with_context(|| format!("store {}", store.root().display()))?
            {
                println!("{} {}", e.digest, e.name.as_deref().unwrap_or("-"));
            }
        }
        StoreCmd::Show { reference } => {
            let digest = store.resolve(&reference)?;
            let blob = store.get(&digest)?;
            println!("{}", serde_json::to_string_pretty(&blob)?);
        }
        StoreCmd::Verify => {
            let problems = store
                .verify()
                .with_context(|| format!("store {}", store.root().display()))?;
            let count = store.list()?.len();
            for (e, err) in &problems {
                let causes = init::chain(err);
                eprintln!(
                    "{} {}: {causes}",
                    e.digest,
                    e.name.as_deref().unwrap_or("-")
                );
            }
            if !problems.is_empty() {
                bail!("{} of {count} profiles failed verification", problems.len());
            }
            println!("{count} profiles verified");
        }
    }
    Ok(())
}

fn exec(
    store: &Store,
    level: Option<String>,
    profile: Option<String>,
    verbose: bool,
    command: Vec<std::ffi::OsString>,
) -> Result<()> {
    let reference = match (level, profile) {
        (Some(l), None) => {
            if !linerate_shim::select::LEVELS.contains(&l.as_str()) {
                bail!("unknown level `{l}` (minimal, sandbox, hardened)");
            }
            l
        }
        (None, Some(p)) => p,
        _ => bail!("give --level or --profile"),
    };
    // No hook writes BPF-LSM entries for a plain process: refuse before
    // asking whether this host could enforce them.
    let digest = store.resolve(&reference)?;
    if store.get(&digest)?.bpf_lsm {
        bail!(
            "profile `{reference}` needs BPF-LSM entries, which only a container started through \
             linerate-runtime gets (the hook writes them); a plain process cannot have them"
        );
    }
    let request = linerate_shim::select::Request::Profile(reference);
    let (digest, _) = linerate_shim::select::resolve(store, &request)?;
    let args = InitArgs {
        digest,
        blob: store.blob_path(&digest),
        container: None,
        drop_caps: 0,
        verbose,
        reduce_caps: true,
        command,
    };
    let err = init::run(args);
    eprintln!("{}", init::error_line(None, &err));
    std::process::exit(err.exit_code());
}
