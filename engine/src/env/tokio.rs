//! The real world: tokio sockets, the local filesystem, the system clock.
//!
//! The only module of the engine allowed to read the system clock or use threads (blocking
//! file IO runs on tokio's blocking pool). It never runs inside the simulator.
#![allow(clippy::disallowed_methods)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::net::TcpStream;
use tokio::task::spawn_blocking;
use tokio::time::Instant;

use super::{Env, FileIo, OpenMode, missing_is_none};

/// Where [`Env::now`] counts from: the first time anyone asks, for the whole process.
static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// The engine's environment on a real machine.
#[derive(Clone, Debug, Default)]
pub struct TokioEnv;

/// A local file; blocking calls run on tokio's blocking pool.
#[derive(Clone, Debug)]
pub struct TokioFile(Arc<File>);

/// Runs blocking file IO off the engine's thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    spawn_blocking(work).await.map_err(io::Error::other)?
}

impl FileIo for TokioFile {
    async fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let (file, bytes) = (self.0.clone(), bytes.to_vec());
        blocking(move || file.write_all_at(&bytes, offset)).await
    }

    async fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let (file, len) = (self.0.clone(), buf.len());
        let bytes = blocking(move || {
            let mut bytes = vec![0; len];
            let read = file.read_at(&mut bytes, offset)?;
            bytes.truncate(read);
            Ok(bytes)
        })
        .await?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    async fn set_len(&self, len: u64) -> io::Result<()> {
        let file = self.0.clone();
        blocking(move || file.set_len(len)).await
    }

    async fn sync_data(&self) -> io::Result<()> {
        let file = self.0.clone();
        blocking(move || file.sync_data()).await
    }

    async fn sync_all(&self) -> io::Result<()> {
        let file = self.0.clone();
        blocking(move || file.sync_all()).await
    }
}

impl Env for TokioEnv {
    type Conn = TcpStream;
    type File = TokioFile;

    async fn connect(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        TcpStream::connect((host, port)).await
    }

    fn local_port(&self, conn: &TcpStream) -> Option<u16> {
        conn.local_addr().ok().map(|addr| addr.port())
    }

    async fn open(&self, path: &str, mode: OpenMode) -> io::Result<TokioFile> {
        let path = path.to_owned();
        let file = blocking(move || {
            let mut options = OpenOptions::new();
            let (create, truncate) = mode.flags();
            options.read(true).write(true).create(create).truncate(truncate);
            options.open(path)
        })
        .await?;
        Ok(TokioFile(Arc::new(file)))
    }

    async fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        let path = path.to_owned();
        missing_is_none(blocking(move || std::fs::read(path)).await)
    }

    async fn file_len(&self, path: &str) -> io::Result<Option<u64>> {
        let path = path.to_owned();
        missing_is_none(blocking(move || std::fs::metadata(path).map(|meta| meta.len())).await)
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        blocking(move || std::fs::rename(from, to)).await
    }

    async fn remove_file(&self, path: &str) -> io::Result<()> {
        let path = path.to_owned();
        missing_is_none(blocking(move || std::fs::remove_file(path)).await).map(|_| ())
    }

    async fn create_dir_all(&self, path: &str) -> io::Result<()> {
        let path = path.to_owned();
        blocking(move || std::fs::create_dir_all(path)).await
    }

    async fn sync_dir(&self, path: &str) -> io::Result<()> {
        let path = path.to_owned();
        blocking(move || File::open(path)?.sync_all()).await
    }

    fn random_bytes(&self, buf: &mut [u8]) {
        // The OS's generator fails only on misconfigured systems; a nonce of zeros then is
        // still unique per request in combination with the server's nonce.
        let _ = getrandom::fill(buf);
    }

    fn unix_time(&self) -> Duration {
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
    }

    fn now(&self) -> Duration {
        ORIGIN.get_or_init(Instant::now).elapsed()
    }

    async fn sleep_until(&self, deadline: Duration) {
        tokio::time::sleep_until(*ORIGIN.get_or_init(Instant::now) + deadline).await;
    }
}
