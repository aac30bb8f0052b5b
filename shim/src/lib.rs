//! linerate's runtime side: `linerate-runtime`, a drop-in wrapper in front of
//! runc or crun that rewrites the container's spec, and `linerate-init`, the
//! static first process that installs a compiled profile and execs the
//! container's command.
//!
//! [`apply`] installs a blob on the calling process (Landlock, capability
//! checks, seccomp last); [`init`] is the whole of linerate-init, shared with
//! `linerate exec`; [`spec`] rewrites `config.json`; [`lsm_label`] decides
//! the AppArmor and SELinux labels it sets; [`runtime`] parses the runc
//! command line.

pub mod apply;
pub mod config;
pub mod hardened;
pub mod init;
pub mod logging;
pub mod lsm_label;
pub mod precreate;
pub mod runtime;
pub mod select;
pub mod spec;
mod sys;
