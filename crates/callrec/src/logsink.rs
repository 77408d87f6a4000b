//! Where log lines go: stderr, written in bursts by a background thread.
//!
//! Every request has a log line, so the cost of one line is paid at the request rate. A line is
//! appended to a shared buffer (one short lock, no wake-up); a flusher thread writes the buffer
//! out every [`FLUSH_EVERY`] or as soon as it holds [`FLUSH_AT`] bytes. A request never waits on
//! stderr itself. Handing each line to a thread through a channel (`tracing_appender`) costs a
//! wake-up per line: measured under P1 load, ~3.5 µs of CPU per request, ~19 % of the
//! throughput (BENCHMARKS.md).
//!
//! If stderr blocks (a full pipe nobody reads) the buffer stops growing at [`MAX_BUFFER`] and
//! further lines are dropped and counted; the count is reported as a line of its own when
//! writing works again. [`FlushGuard`] writes what is buffered when it is dropped (end of
//! `main`).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Longest time a line waits in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// A buffer this full is written at once.
const FLUSH_AT: usize = 64 * 1024;
/// Beyond this, lines are dropped until the flusher catches up.
const MAX_BUFFER: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    dropped: u64,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    buffer: Mutex<Buffer>,
    /// Signalled when the buffer passes [`FLUSH_AT`] or at close.
    full: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `MakeWriter` for `tracing_subscriber::fmt`.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

/// Writes what is buffered and stops the flusher when dropped.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A sink writing to stderr, and the guard that flushes it at the end.
pub fn stderr() -> (LogSink, FlushGuard) {
    let shared = Arc::new(Shared::default());
    let flusher = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("callrec-log".into())
        .spawn(move || flush_loop(&flusher, &mut std::io::stderr()))
        .ok();
    if thread.is_none() {
        // No flusher: every line is written directly.
        shared.lock().closed = true;
    }
    (
        LogSink {
            shared: Arc::clone(&shared),
        },
        FlushGuard { shared, thread },
    )
}

fn flush_loop(shared: &Shared, out: &mut impl Write) {
    let mut pending = Vec::new();
    loop {
        let closed = {
            let mut b = shared.lock();
            if !b.closed && b.bytes.len() < FLUSH_AT {
                b = shared
                    .full
                    .wait_timeout(b, FLUSH_EVERY)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut pending, &mut b.bytes);
            if b.dropped > 0 {
                let note = format!(
                    "callrec: {} log lines dropped (stderr did not keep up)\n",
                    b.dropped
                );
                pending.extend_from_slice(note.as_bytes());
                b.dropped = 0;
            }
            b.closed
        };
        if !pending.is_empty() {
            // Nothing better to do with a failing stderr than to go on.
            let _ = out.write_all(&pending);
            let _ = out.flush();
            pending.clear();
        }
        if closed {
            return;
        }
    }
}

/// One line being written (tracing-subscriber writes each formatted event with one call).
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut b = self.shared.lock();
        if b.closed {
            drop(b);
            // After the guard is gone (end of main): write directly.
            return std::io::stderr().write(buf);
        }
        if b.bytes.len() + buf.len() > MAX_BUFFER {
            b.dropped += 1;
            return Ok(buf.len());
        }
        b.bytes.extend_from_slice(buf);
        if b.bytes.len() >= FLUSH_AT {
            self.shared.full.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.full.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_reach_the_output_in_order_and_drops_are_reported() {
        let shared = Shared::default();
        let mut w = LineWriter { shared: &shared };
        w.write_all(b"one\n").unwrap();
        w.write_all(b"two\n").unwrap();
        shared.lock().dropped = 3;
        shared.lock().closed = true;
        let mut out = Vec::new();
        flush_loop(&shared, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "one\ntwo\ncallrec: 3 log lines dropped (stderr did not keep up)\n"
        );
    }

    #[test]
    fn a_full_buffer_drops_lines_instead_of_growing() {
        let shared = Shared::default();
        let mut w = LineWriter { shared: &shared };
        let line = vec![b'x'; 1024 * 1024];
        for _ in 0..10 {
            w.write_all(&line).unwrap();
        }
        let b = shared.lock();
        assert_eq!(b.bytes.len(), MAX_BUFFER);
        assert_eq!(b.dropped, 2);
    }
}
