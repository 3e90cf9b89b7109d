//! The one seam between the engine and the world: TCP connections, files, and both clocks.
//!
//! Monotonic time and every timer come from here too, not from `tokio::time`: the simulator
//! runs long idle stretches (a 600 s retry delay, a 14-day NoProgressTimeout) by leaping over
//! them, which only works if it sees every deadline the engine waits for (sim `clock`).
//! [`TokioEnv`] is the real world; the simulator supplies its own `Env` on turmoil's sockets
//! and simulated disk, so the same engine code runs in both.
//!
//! Paths are `/`-separated strings, as the journal stores them.

mod tokio;

use std::future::Future;
use std::io;
use std::time::Duration;

pub use self::tokio::TokioEnv;
use ::tokio::io::{AsyncRead, AsyncWrite};

/// How [`Env::open`] opens a file. Every mode allows reading and writing.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum OpenMode {
    /// Open an existing file; fail with `NotFound` if there is none.
    Existing,
    /// Open the file, creating it empty if it is missing.
    Create,
    /// Create the file, or cut an existing one to length 0.
    Truncate,
}

impl OpenMode {
    /// `(create, truncate)`, as `OpenOptions` takes them (reading and writing are always on).
    pub const fn flags(self) -> (bool, bool) {
        match self {
            Self::Existing => (false, false),
            Self::Create => (true, false),
            Self::Truncate => (true, true),
        }
    }
}

/// Positional file IO. A write is durable only after `sync_data` (its bytes) or `sync_all`
/// (bytes and length); a new or renamed directory entry only after [`Env::sync_dir`].
pub trait FileIo {
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> impl Future<Output = io::Result<()>>;
    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> impl Future<Output = io::Result<usize>>;
    fn set_len(&self, len: u64) -> impl Future<Output = io::Result<()>>;
    fn sync_data(&self) -> impl Future<Output = io::Result<()>>;
    fn sync_all(&self) -> impl Future<Output = io::Result<()>>;
}

/// What the engine needs from the machine it runs on.
pub trait Env: 'static {
    type Conn: AsyncRead + AsyncWrite + Unpin + 'static;
    type File: FileIo + 'static;

    /// Opens a TCP connection. Callers bound it with their own timeout.
    fn connect(&self, host: &str, port: u16) -> impl Future<Output = io::Result<Self::Conn>>;
    /// The local port of a connection, reported in events so that a network trace can tell
    /// which job a connection served.
    fn local_port(&self, _conn: &Self::Conn) -> Option<u16> {
        None
    }
    fn open(&self, path: &str, mode: OpenMode) -> impl Future<Output = io::Result<Self::File>>;
    /// The whole file, or `None` if it does not exist.
    fn read(&self, path: &str) -> impl Future<Output = io::Result<Option<Vec<u8>>>>;
    /// The file's length, or `None` if it does not exist.
    fn file_len(&self, path: &str) -> impl Future<Output = io::Result<Option<u64>>>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &str, to: &str) -> impl Future<Output = io::Result<()>>;
    /// Removes a file; a missing file is not an error.
    fn remove_file(&self, path: &str) -> impl Future<Output = io::Result<()>>;
    fn create_dir_all(&self, path: &str) -> impl Future<Output = io::Result<()>>;
    /// Makes the directory's entries (created, renamed, removed files) durable.
    fn sync_dir(&self, path: &str) -> impl Future<Output = io::Result<()>>;
    /// Fills `buf` with unpredictable bytes (authentication nonces). The simulator draws them
    /// from the run's seed.
    fn random_bytes(&self, buf: &mut [u8]);
    /// Wall-clock time since the Unix epoch. Only the journal uses it, to carry timers across
    /// a restart; everything else runs on monotonic time.
    fn unix_time(&self) -> Duration;
    /// Monotonic time since an origin fixed while this process runs.
    fn now(&self) -> Duration;
    /// Resolves once [`Env::now`] reaches `deadline`.
    fn sleep_until(&self, deadline: Duration) -> impl Future<Output = ()>;
    /// Resolves after `wait`.
    fn sleep(&self, wait: Duration) -> impl Future<Output = ()> {
        self.sleep_until(self.now() + wait)
    }
    /// Whether the machine has a network connection (BITS listens for the adapter's
    /// connect and disconnect events). The real world's default: always.
    fn network_available(&self) -> bool {
        true
    }
    /// Resolves once [`Env::network_available`] differs from `seen`. The default never
    /// resolves: a machine whose network never changes.
    fn network_change(&self, seen: bool) -> impl Future<Output = ()> {
        let _ = seen;
        std::future::pending()
    }
}

/// `work`'s output, or `None` if `limit` passed first.
pub async fn timeout<E: Env, T>(
    env: &E,
    limit: Duration,
    work: impl Future<Output = T>,
) -> Option<T> {
    ::tokio::select! {
        biased;
        output = work => Some(output),
        () = env.sleep(limit) => None,
    }
}

/// Turns "no such file" into `None`, for the `Env` methods that report a missing file that
/// way.
pub fn missing_is_none<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// The directory part of a `/`-separated path (`/` for files at the root).
pub fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(slash) => &path[..slash],
        None => ".",
    }
}

#[cfg(test)]
mod tests {
    use super::parent_dir;

    #[test]
    fn parents_of_paths() {
        assert_eq!(parent_dir("/downloads/a.bin"), "/downloads");
        assert_eq!(parent_dir("/a.bin"), "/");
        assert_eq!(parent_dir("a.bin"), ".");
    }
}
