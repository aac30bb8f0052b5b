//! placeholder
pub struct Store;
