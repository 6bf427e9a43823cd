//! Logging: `tracing` to stderr (stdout carries only the ready line and `token` output), filtered
//! by `RUST_LOG` with a crate default, in a pretty or JSON format. Per-request lines are written
//! in batches; every other line is written at once, after the batch before it.

use std::{
    io::{self, Write},
    sync::{
        atomic::{AtomicBool, Ordering},
        Condvar, Mutex, Once,
    },
    time::Duration,
};

use tracing::{Level, Metadata};
use tracing_subscriber::{fmt, fmt::MakeWriter, EnvFilter};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The target of the one line per request (`middleware`). At INFO those lines are batched.
pub(crate) const REQUEST_LOG: &str = "defender_mock::middleware";

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("defender_mock=info,tower_http=info"));
    use std::io::IsTerminal;
    // Colours only on a terminal: container and CI logs get plain text.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(Stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// How long a request line may wait in the batch: under load, one `write` carries the lines of
/// this long instead of one each (a syscall per line was most of a line's cost).
const BATCH_DELAY: Duration = Duration::from_millis(10);
/// A batch this large is written at once, by the request that fills it.
const BATCH_BYTES: usize = 64 * 1024;

/// Lines waiting to be written, in order, and the flusher's wake-up.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static WAKE: Condvar = Condvar::new();

/// The writer `init` installs: request lines join the batch, others flush it and follow it.
struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { batched: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line {
            batched: meta.target() == REQUEST_LOG && *meta.level() == Level::INFO,
        }
    }
}

/// One formatted event (tracing's fmt layer writes each in one `write_all`).
struct Line {
    batched: bool,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // A poisoned lock only means a writer panicked mid-append: the bytes are still lines.
        let batched = self.batched && flusher_running();
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        let was_empty = pending.is_empty();
        pending.extend_from_slice(bytes);
        if !batched || pending.len() >= BATCH_BYTES {
            write_out(&mut pending);
        } else if was_empty {
            WAKE.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the batch to stderr (under the lock, so lines keep their order) and empties it.
fn write_out(pending: &mut Vec<u8>) {
    // Nowhere to report a failed log write: like `eprintln!` without the panic.
    let _ = io::stderr().write_all(pending);
    pending.clear();
}

/// Starts, once, the thread that writes a batch `BATCH_DELAY` after its first line (it sleeps
/// while there is none); `false` if it could not be started, and then every line is written as
/// it comes. Lines are lost only if the process dies in that window: a clean stop logs a final
/// line, which writes everything before it.
fn flusher_running() -> bool {
    static STARTED: Once = Once::new();
    static FAILED: AtomicBool = AtomicBool::new(false);
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("log-flusher".into())
            .spawn(|| loop {
                let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
                while pending.is_empty() {
                    pending = WAKE.wait(pending).unwrap_or_else(|p| p.into_inner());
                }
                drop(pending);
                std::thread::sleep(BATCH_DELAY);
                write_out(&mut PENDING.lock().unwrap_or_else(|p| p.into_inner()));
            });
        FAILED.store(spawned.is_err(), Ordering::Relaxed);
    });
    !FAILED.load(Ordering::Relaxed)
}
