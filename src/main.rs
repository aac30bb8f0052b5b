//! `linerate`: compile profiles into the store, inspect it, install the
//! levels, and run a plain process under a level.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use linerate_profiles::compile::{compile_level, compile_source};
use linerate_profiles::levels;
use linerate_profiles::store::Store;
use linerate_shim::init::{self, InitArgs};

#[derive(Parser)]
#[command(name = "linerate", version, about = "Security levels for Linux containers")]
struct Cli {
    /// The store's root (default: LINERATE_STORE, else /var/lib/linerate/store).
    #[arg(long, global = true)]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
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
    /// Compile the three levels into the store (harmless to run again).
    Install,
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
        Cmd::Compile { file, name } => compile(&store, &file, name.as_deref()),
        Cmd::Store { command } => store_cmd(&store, command),
        Cmd::Install => install(&store),
        Cmd::Exec { level, profile, verbose, command } => exec(&store, level, profile, verbose, command),
    }
}

fn compile(store: &Store, file: &Path, name: Option<&str>) -> Result<()> {
    let blob = compile_source(file).with_context(|| format!("compile {}", file.display()))?;
    let name = name.map(str::to_owned).or_else(|| blob.name.clone());
    let digest = store.put(&blob, name.as_deref()).with_context(|| format!("store {}", store.root().display()))?;
    println!("{digest}");
    Ok(())
}

fn install(store: &Store) -> Result<()> {
    for (name, _) in levels::SOURCES {
        let blob = compile_level(name).with_context(|| format!("compile level {name}"))?;
        let digest = store.put(&blob, Some(name)).with_context(|| format!("store {}", store.root().display()))?;
        println!("{digest} {name}");
    }
    Ok(())
}

fn store_cmd(store: &Store, command: StoreCmd) -> Result<()> {
    match command {
        StoreCmd::Ls => {
            for e in store.list().with_context(|| format!("store {}", store.root().display()))? {
                println!("{} {}", e.digest, e.name.as_deref().unwrap_or("-"));
            }
        }
        StoreCmd::Show { reference } => {
            let digest = store.resolve(&reference)?;
            let blob = store.get(&digest)?;
            println!("{}", serde_json::to_string_pretty(&blob)?);
        }
        StoreCmd::Verify => {
            let problems = store.verify().with_context(|| format!("store {}", store.root().display()))?;
            let count = store.list()?.len();
            for (e, err) in &problems {
                let causes = init::chain(err);
                eprintln!("{} {}: {causes}", e.digest, e.name.as_deref().unwrap_or("-"));
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
