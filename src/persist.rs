//! `--state-file`: every tenant's state, the clock and the per-tenant settings kept across
//! restarts, as one versioned JSON document with a section per component. Written atomically
//! (a temporary file in the same folder, fsync, rename, fsync of the folder) so a reader, or a
//! `kill -9` at any moment, sees the old file or the new one, never a torn one. A file that
//! cannot be read or is not a state file stops start-up and is never overwritten.

use std::{
    collections::BTreeMap,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use serde::{Deserialize, Serialize};

use crate::{
    clock::{Clock, ClockState},
    model::{TenantId, Timestamp},
    store::{Store, TenantSections},
    throttle::{Limiter, Settings},
};

/// What the `format` field of a state file says.
const FORMAT: &str = "defender-mock-state";
/// The layout version this build writes and reads.
const VERSION: u32 = 1;

/// The whole state file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateFile {
    format: String,
    version: u32,
    /// Emulator time of the snapshot (for people reading the file).
    saved_at: Timestamp,
    clock: ClockState,
    /// Per-tenant rate-limit overrides.
    #[serde(default)]
    rate_limits: BTreeMap<String, Settings>,
    /// Each tenant's sections.
    #[serde(default)]
    tenants: BTreeMap<String, TenantSections>,
}

/// The pieces of a running emulator a state file holds.
#[derive(Debug, Clone)]
pub(crate) struct Parts {
    pub store: Arc<Store>,
    pub limiter: Arc<Limiter>,
    pub clock: Arc<Clock>,
}

impl Parts {
    /// The state file's bytes for the state as it is now.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let file = StateFile {
            format: FORMAT.to_owned(),
            version: VERSION,
            saved_at: Timestamp(self.clock.now()),
            clock: self.clock.state(),
            rate_limits: self
                .limiter
                .overrides()
                .into_iter()
                .map(|(t, s)| (t.to_string(), s))
                .collect(),
            tenants: self
                .store
                .snapshot()
                .into_iter()
                .map(|(t, sections)| (t.to_string(), sections))
                .collect(),
        };
        let mut bytes = serde_json::to_vec(&file).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Loads `path` into the emulator: `Ok(false)` when there is no such file (a first start),
    /// `Err` saying why a file that exists cannot be used (it is then left as it is).
    pub(crate) fn load(&self, path: &Path) -> Result<bool, String> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(format!("cannot read: {e}")),
        };
        self.apply(&bytes)?;
        Ok(true)
    }

    /// Replays a state file's bytes into the emulator; on `Err` nothing has changed.
    pub(crate) fn apply(&self, bytes: &[u8]) -> Result<(), String> {
        // The header first, so a file from another version says so rather than a field error.
        #[derive(Deserialize)]
        struct Header {
            format: Option<String>,
            version: Option<u32>,
        }
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a defender-mock state file (not valid JSON: {e})"))?;
        if header.format.as_deref() != Some(FORMAT) {
            return Err(format!(
                "not a defender-mock state file (no \"format\": \"{FORMAT}\")"
            ));
        }
        if header.version != Some(VERSION) {
            return Err(format!(
                "state file version {:?}, this build reads version {VERSION}",
                header.version
            ));
        }
        let file: StateFile =
            serde_json::from_slice(bytes).map_err(|e| format!("not a valid state file: {e}"))?;
        let tid = |t: &str| TenantId::parse(t).ok_or_else(|| format!("{t:?} is not a tenant id"));
        let mut limits = Vec::with_capacity(file.rate_limits.len());
        for (t, s) in file.rate_limits {
            s.check().map_err(|e| format!("rate limits of {t}: {e}"))?;
            limits.push((tid(&t)?, s));
        }
        let mut tenants = Vec::with_capacity(file.tenants.len());
        for (t, sections) in file.tenants {
            tenants.push((tid(&t)?, sections));
        }
        self.store.restore(tenants)?;
        for (t, s) in limits {
            self.limiter.set_tenant(&t, Some(s));
        }
        self.clock.restore(file.clock);
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename over `path`,
/// fsync of the folder.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    // One name per write: two writes never share a temporary file.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        #[cfg(unix)]
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporary files writes to `path` left behind when the process was killed
/// mid-write (`.NAME.PID.N.tmp` beside it); the state file itself is never touched.
pub(crate) fn remove_leftovers(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with(&prefix) && file.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Changes not yet written: bumped after every request that may change state, read by the
/// writer, which saves when it moved.
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    generation: AtomicU64,
    notify: tokio::sync::Notify,
}

impl Dirty {
    /// Something may have changed.
    pub(crate) fn mark(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_one();
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// The state file of a running emulator and its writer.
#[derive(Debug, Clone)]
pub(crate) struct Persister {
    pub path: PathBuf,
    pub parts: Parts,
    pub dirty: Arc<Dirty>,
    /// How long after a change the file is written (changes in between go in the same write).
    pub debounce: std::time::Duration,
    /// Held by each write, so writes land in the order they read the state (the last one at
    /// shutdown waits for a background one still running).
    pub writing: Arc<std::sync::Mutex<()>>,
}

impl Persister {
    /// Writes the state now (off the async workers).
    pub(crate) async fn save(&self) -> io::Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = this.writing.lock().unwrap_or_else(|e| e.into_inner());
            let bytes = this.parts.encode();
            write_atomic(&this.path, &bytes)
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Writes the state shortly after each change, until the task is dropped.
    pub(crate) async fn run(self) {
        let mut saved = self.dirty.generation();
        loop {
            self.dirty.notify.notified().await;
            tokio::time::sleep(self.debounce).await;
            let now = self.dirty.generation();
            if now == saved {
                continue;
            }
            match self.save().await {
                Ok(()) => saved = now,
                Err(e) => {
                    tracing::error!(file = %self.path.display(), error = %e, "cannot write the state file")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dm-persist-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A document of `n` bytes or so, valid JSON only when whole.
    fn document(n: usize, fill: char) -> Vec<u8> {
        let body: String = std::iter::repeat_n(fill, n).collect();
        serde_json::to_vec(&serde_json::json!({ "fill": body })).unwrap()
    }

    #[test]
    fn a_reader_sees_the_old_file_or_the_new_one_never_a_torn_one() {
        let dir = temp_dir();
        let path = dir.join("state.json");
        write_atomic(&path, &document(1 << 20, 'a')).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, stop) = (path.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::Acquire) {
                    let bytes = std::fs::read(&path).unwrap();
                    assert!(
                        serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                        "a torn read of {} bytes",
                        bytes.len()
                    );
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..40 {
            let fill = if i % 2 == 0 { 'b' } else { 'c' };
            write_atomic(&path, &document((1 << 20) + i * 4096, fill)).unwrap();
        }
        stop.store(true, Ordering::Release);
        assert!(reader.join().unwrap() > 0);
        // Only the file itself is left: no temporary file.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("state.json")]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_one() {
        let dir = temp_dir();
        let path = dir.join("state.json");
        write_atomic(&path, b"old").unwrap();
        // The rename cannot replace a folder: the write fails as a whole.
        let folder = dir.join("a-folder");
        std::fs::create_dir_all(folder.join("inside")).unwrap();
        assert!(write_atomic(&folder, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
