//! Files of the CA folder: no symlinks, private keys 0600, new files published atomically and
//! never over an existing one, and errors that say who owns an unwritable folder.

use super::*;

pub(super) fn refuse_symlink(path: &Path) -> Result<(), String> {
    match path.symlink_metadata() {
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "{} is a symbolic link: the CA key must be a regular file, and a link is not \
             followed (replace the link by the key file itself)",
            path.display()
        )),
        Ok(m) if !m.is_file() => Err(format!("{} is not a regular file", path.display())),
        _ => Ok(()),
    }
}

/// Reads the CA key, refusing a file swapped for a link since the check, and makes it 0600 if it
/// was readable by group or others (with a warning).
pub(super) fn read_private(path: &Path) -> Result<String, String> {
    use std::io::Read;
    refuse_symlink(path)?;
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let opened = f
            .metadata()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let checked = path
            .symlink_metadata()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if (opened.dev(), opened.ino()) != (checked.dev(), checked.ino())
            || checked.file_type().is_symlink()
        {
            return Err(format!(
                "{} changed while it was opened (a symbolic link?): not used",
                path.display()
            ));
        }
        let mode = opened.mode() & 0o777;
        if mode & 0o077 != 0 {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| {
                    format!(
                        "{} is readable by others (mode {mode:o}) and cannot be made 0600 ({e}): \
                         run `chmod 600 {}`",
                        path.display(),
                        path.display()
                    )
                })?;
            tracing::warn!(
                key = %path.display(),
                was = format!("{mode:o}"),
                "the CA key was readable by group or others: made it 0600"
            );
        }
    }
    let mut pem = String::new();
    f.read_to_string(&mut pem)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(pem)
}

/// Why a folder is not writable, for the error message: who owns it and who we run as.
pub(super) fn ownership_hint(dir: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // The owner of /proc/self is this process's effective uid (Linux).
        let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
        if let (Ok(d), Some(me)) = (std::fs::metadata(dir), me) {
            return format!(
                " ({} belongs to uid {} with mode {:o}; this process runs as uid {me}: make the \
                 folder writable for uid {me} (a mounted host folder: `chown {me}` it on the \
                 host), or run as the folder's owner, e.g. `docker run --user \"$(id -u):$(id -g)\"`)",
                dir.display(),
                d.uid(),
                d.mode() & 0o7777,
            );
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    String::new()
}

/// Writes `contents` to `path` unless a file is there: false when one was (another start won).
pub(super) fn publish(dir: &Path, path: &Path, contents: &str, mode: u32) -> io::Result<bool> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    write_new(&tmp, contents, mode)?;
    let placed = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: rename, after a (racy) check.
        Err(_) if path.symlink_metadata().is_ok() => Ok(false),
        Err(_) => std::fs::rename(&tmp, path).map(|()| true),
    };
    let _ = std::fs::remove_file(&tmp);
    placed
}

pub(super) fn write_new(path: &Path, contents: &str, mode: u32) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}
