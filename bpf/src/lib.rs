//! linerate's BPF-LSM enforcement for level `hardened`.
//!
//! One set of programs (`bpf/c/linerate.bpf.c`, built by `build.rs`) serves
//! every container: what each container may do is an entry in a map, keyed
//! by what names that container alone ([`scope`]), written from its compiled
//! profile ([`entries`]). [`loader`] loads and pins the programs once per
//! version and proves with a live self-test that the kernel runs them;
//! [`audit`] drains their events.
//!
//! Entry points, for the shim, the hook and the CLI:
//!
//! - [`loader::ensure_active`]: refuse a hardened container unless BPF-LSM
//!   is active here, loading the programs on first use.
//! - [`entries::policy_for`], [`scope::of_pid`], [`entries::install`]: write
//!   a container's entry at createRuntime.
//! - [`entries::remove_container`]: poststop and `linerate-runtime delete`.
//! - [`entries::gc`]: `linerate gc`.
//! - [`audit::drain`]: `linerate audit`.

pub mod abi;
pub mod audit;
pub mod entries;
pub mod loader;
pub mod scope;
mod sys;

pub use loader::{ensure_active, LsmError, Pinned};
