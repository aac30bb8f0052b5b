//! linerate's profile language, its compiler and the content-addressed store.
//!
//! A profile source (TOML) is resolved through its `extends` chain into a
//! [`Policy`], compiled into a [`Blob`] (seccomp classic BPF per architecture,
//! Landlock access masks per ABI, capability sets) and kept in a [`Store`], an
//! OCI image layout addressed by the blob's sha256 digest.
//!
//! Nothing in this crate makes a syscall that changes the calling process:
//! compiling is pure, so it is tested without root. Installing a blob is the
//! job of `linerate-shim`'s `apply` module.

pub mod blob;
pub mod compile;
pub mod digest;
pub mod errno;
pub mod landlock;
pub mod levels;
pub mod policy;
pub mod seccomp;
pub mod source;
pub mod store;
pub mod syscalls;

pub use blob::Blob;
pub use compile::{compile_source, CompileError};
pub use digest::Digest;
pub use policy::Policy;
pub use store::Store;
