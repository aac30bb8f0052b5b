//! The store's file handling: trust checks, reads under a size limit,
//! atomic writes.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::StoreError;

/// Maps an I/O error on `path` during `op` to a [`StoreError`].
pub(super) fn io<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A file is trusted when it is owned by root or by this process's user and
/// nobody else may write it.
pub(super) fn check_trusted(path: &Path) -> Result<(), StoreError> {
    let meta = fs::metadata(path).map_err(io("stat", path))?;
    // /proc/self belongs to the effective uid: no unsafe geteuid needed.
    let euid = fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    if meta.mode() & 0o022 != 0 || (meta.uid() != 0 && meta.uid() != euid) {
        return Err(StoreError::Untrusted {
            path: path.to_owned(),
        });
    }
    Ok(())
}

pub(super) fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, StoreError> {
    let f = File::open(path).map_err(io("open", path))?;
    // Sized from the file so the read is one syscall, not a doubling series.
    let size = f.metadata().map_or(0, |m| m.len()).min(limit + 1);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
    f.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io("read", path))?;
    if bytes.len() as u64 > limit {
        return Err(StoreError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it
/// over `path`: readers see the old file or the new one, never a part.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().expect("store files have a folder");
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        f.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io("chmod", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io("rename", path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
