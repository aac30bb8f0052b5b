//! The runc command line, as far as linerate-runtime needs to read it:
//! global options, the command, the bundle and the container id. Everything
//! it does not rewrite goes to the real runtime unchanged.

/// Global options of runc and crun that take a value.
const GLOBAL_VALUED: &[&str] = &[
    "--root",
    "--log",
    "--log-format",
    "--log-level",
    "--criu",
    "--rootless",
    "--cgroup-manager",
];

/// Options of `create` and `run` (runc and crun) that take a value.
const CREATE_VALUED: &[&str] = &[
    "--bundle",
    "-b",
    "--console-socket",
    "--pid-file",
    "--preserve-fds",
    "--config",
    "-f",
];

/// Options of `exec` (runc and crun) that take a value.
const EXEC_VALUED: &[&str] = &[
    "--console-socket",
    "--pid-file",
    "--process",
    "-p",
    "--cwd",
    "--env",
    "-e",
    "--env-file",
    "--user",
    "-u",
    "--additional-gids",
    "-g",
    "--process-label",
    "--apparmor",
    "--cap",
    "-c",
    "--preserve-fds",
    "--cgroup",
];

/// Flags of `exec` that take no value.
const EXEC_FLAGS: &[&str] = &[
    "--tty",
    "-t",
    "--detach",
    "-d",
    "--no-new-privs",
    "--ignore-paused",
    "--no-subreaper",
];

/// A runtime command line split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The global options, as given.
    pub globals: Vec<String>,
    /// The command (`create`, `run`, `exec`, ...), if any.
    pub command: Option<String>,
    /// Everything after the command, as given.
    pub rest: Vec<String>,
}

/// `create` or `run`, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Create {
    /// The container id.
    pub id: String,
    /// The bundle folder (`.` when not given).
    pub bundle: String,
    /// crun's `--config`, when given.
    pub config: Option<String>,
}

/// `exec`, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// The options before the id, as given, with `--process` and its value removed.
    pub options: Vec<String>,
    /// `--process FILE`, when given.
    pub process: Option<String>,
    /// `--cap` values.
    pub caps: Vec<String>,
    /// The container id.
    pub id: String,
    /// The command and its arguments.
    pub command: Vec<String>,
}

/// Why a command line could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    /// An option lacks its value.
    #[error("option {0} needs a value")]
    MissingValue(String),
    /// No container id.
    #[error("no container id")]
    NoId,
    /// An exec option linerate does not know; refused rather than passed on
    /// unread, since it could change what the process runs with.
    #[error("unknown exec option {0}")]
    UnknownOption(String),
}

fn split_eq(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((k, v)) if k.starts_with("--") => (k, Some(v)),
        _ => (arg, None),
    }
}

/// An option's value: after `=`, else the next argument (consumed).
fn take_value(
    rest: &[String],
    i: &mut usize,
    key: &str,
    inline: Option<&str>,
) -> Result<String, ArgsError> {
    if let Some(v) = inline {
        return Ok(v.to_owned());
    }
    let v = rest
        .get(*i)
        .cloned()
        .ok_or_else(|| ArgsError::MissingValue(key.to_owned()))?;
    *i += 1;
    Ok(v)
}

/// Splits a command line (without the program name).
pub fn split(args: &[String]) -> Invocation {
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let (key, inline) = split_eq(&args[i]);
        i += 1;
        if inline.is_none() && GLOBAL_VALUED.contains(&key) {
            i += 1;
        }
    }
    let globals = args[..i.min(args.len())].to_vec();
    let command = args.get(i).cloned();
    let rest = args
        .get(i + 1..)
        .map(<[String]>::to_vec)
        .unwrap_or_default();
    Invocation {
        globals,
        command,
        rest,
    }
}

/// Reads the arguments of `create` or `run`.
pub fn create(rest: &[String]) -> Result<Create, ArgsError> {
    let mut bundle = ".".to_owned();
    let mut config = None;
    let mut id = None;
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        i += 1;
        if arg == "--" {
            id = id.or_else(|| rest.get(i).cloned());
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            id = id.or(Some(arg.clone()));
            continue;
        }
        let (key, inline) = split_eq(arg);
        if !CREATE_VALUED.contains(&key) {
            continue;
        }
        let value = take_value(rest, &mut i, key, inline)?;
        match key {
            "--bundle" | "-b" => bundle = value,
            "--config" | "-f" => config = Some(value),
            _ => {}
        }
    }
    Ok(Create {
        id: id.ok_or(ArgsError::NoId)?,
        bundle,
        config,
    })
}

/// Reads the arguments of `exec`.
pub fn exec(rest: &[String]) -> Result<Exec, ArgsError> {
    let mut options = Vec::new();
    let mut process = None;
    let mut caps = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        if !arg.starts_with('-') {
            break;
        }
        i += 1;
        if arg == "--" {
            break;
        }
        let (key, inline) = split_eq(arg);
        if EXEC_FLAGS.contains(&key) {
            options.push(arg.clone());
            continue;
        }
        if !EXEC_VALUED.contains(&key) {
            return Err(ArgsError::UnknownOption(key.to_owned()));
        }
        let value = take_value(rest, &mut i, key, inline)?;
        match key {
            "--process" | "-p" => process = Some(value),
            "--cap" | "-c" => {
                caps.push(value.clone());
                options.extend([key.to_owned(), value]);
            }
            _ => options.extend([key.to_owned(), value]),
        }
    }
    let id = rest.get(i).cloned().ok_or(ArgsError::NoId)?;
    let mut command: Vec<String> = rest[i + 1..].to_vec();
    if command.first().is_some_and(|c| c == "--") {
        command.remove(0);
    }
    Ok(Exec {
        options,
        process,
        caps,
        id,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn splits_containerd_and_podman_command_lines() {
        let inv = split(&v(
            "--root /r --log /l --log-format json create --bundle /b --pid-file /p c1",
        ));
        assert_eq!(inv.globals, v("--root /r --log /l --log-format json"));
        assert_eq!(inv.command.as_deref(), Some("create"));
        let c = create(&inv.rest).unwrap();
        assert_eq!((c.id.as_str(), c.bundle.as_str()), ("c1", "/b"));

        let inv = split(&v("--systemd-cgroup --root=/r run -d --bundle=/b c2"));
        assert_eq!(inv.command.as_deref(), Some("run"));
        assert_eq!(create(&inv.rest).unwrap().bundle, "/b");
        assert_eq!(create(&v("c3")).unwrap().bundle, ".");
        assert_eq!(
            create(&v("--bundle")),
            Err(ArgsError::MissingValue("--bundle".into()))
        );
        assert_eq!(create(&v("-d")), Err(ArgsError::NoId));
        assert_eq!(split(&v("--version")).command, None);
    }

    #[test]
    fn reads_exec_and_refuses_unknown_options() {
        let e = exec(&v("-t --cwd /tmp -e A=1 --cap CAP_SYS_ADMIN c1 sh -c true")).unwrap();
        assert_eq!(e.id, "c1");
        assert_eq!(e.command, v("sh -c true"));
        assert_eq!(e.caps, v("CAP_SYS_ADMIN"));
        assert_eq!(e.options, v("-t --cwd /tmp -e A=1 --cap CAP_SYS_ADMIN"));
        let e = exec(&v("--process /p.json --detach c1")).unwrap();
        assert_eq!(
            (e.process.as_deref(), e.command.len()),
            (Some("/p.json"), 0)
        );
        assert_eq!(
            exec(&v("--frobnicate c1 sh")),
            Err(ArgsError::UnknownOption("--frobnicate".into()))
        );
        assert_eq!(exec(&v("c1 -- ls -l")).unwrap().command, v("ls -l"));
    }
}
