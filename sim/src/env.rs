//! `TurmoilEnv`: the engine's [`Env`] on turmoil's simulated sockets and disk.
//!
//! The disk is turmoil's `unstable-fs` shim: writes are pending until synced, a power loss
//! (`Sim::crash`) discards them (or tears them), and directory entries need `sync_dir`. Its
//! calls are synchronous, so the futures here never wait; a crash can only fall between two
//! of them at an await that really waits (a network read, a timer).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::time::Duration;

use bitsim_engine::core::job::JobFile;
use bitsim_engine::env::missing_is_none;
use bitsim_engine::{Env, FileIo, JobId, OpenMode};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::Notify;
use turmoil::fs::shim::std::fs as simfs;

use crate::net::Net;
use crate::net::shaped::Shaped;

/// The engine's environment inside a simulated host.
#[derive(Clone)]
pub struct TurmoilEnv {
    ledger: Option<Rc<RefCell<DiskLedger>>>,
    /// The links every connection is shaped by.
    net: Net,
    /// Writes under this directory (the engine's journal) are bookkeeping, not transfer data.
    unaccounted_dir: String,
    /// The engine's randomness (authentication nonces), from the run's seed and the boot.
    rng: Rc<RefCell<ChaCha8Rng>>,
    /// Whether the machine has a network, as the `network-loss` fault sets it.
    network: Rc<NetworkSwitch>,
}

impl Default for TurmoilEnv {
    fn default() -> Self {
        Self {
            ledger: None,
            net: Net::default(),
            unaccounted_dir: String::new(),
            rng: Rc::new(RefCell::new(ChaCha8Rng::seed_from_u64(0))),
            network: Rc::default(),
        }
    }
}

/// The engine machine's network adapter as the step loop switches it (`network-loss`): the
/// engine reads it through [`Env::network_available`] and waits on it through
/// [`Env::network_change`], as BITS listens for the adapter's events. It outlives the
/// engine's reboots, as the state of the network does.
#[derive(Debug, Default)]
pub struct NetworkSwitch {
    lost: Cell<bool>,
    changed: Notify,
}

impl NetworkSwitch {
    pub fn available(&self) -> bool {
        !self.lost.get()
    }

    /// Switches the network on or off and wakes whoever waits for a change.
    pub fn set_available(&self, available: bool) {
        if self.lost.replace(!available) == available {
            self.changed.notify_waiters();
        }
    }
}

impl TurmoilEnv {
    /// An environment that accounts every data-file write in `ledger`, which outlives
    /// crashes; files under `state_dir` are not data.
    pub fn with_ledger(ledger: Rc<RefCell<DiskLedger>>, state_dir: &str, net: Net) -> Self {
        Self {
            ledger: Some(ledger),
            net,
            unaccounted_dir: format!("{}/", state_dir.trim_end_matches('/')),
            rng: Rc::new(RefCell::new(ChaCha8Rng::seed_from_u64(0))),
            network: Rc::default(),
        }
    }

    /// Reads the machine's network state from `switch` (shared with the step loop).
    pub fn with_network(mut self, switch: Rc<NetworkSwitch>) -> Self {
        self.network = switch;
        self
    }

    /// Draws the engine's randomness from `seed` (mix the run's seed with the boot count, so
    /// that every boot draws fresh nonces, as a real machine would).
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng = Rc::new(RefCell::new(ChaCha8Rng::seed_from_u64(seed)));
        self
    }
}

/// Every byte written to each file, like a disk controller's counters: the ground truth for
/// "bytes fetched twice", since the engine writes each received byte at once. A file starts
/// afresh only when the engine restarts it from byte 0 (a new version is not a refetch);
/// bytes a power loss destroyed and the engine fetched again count.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct DiskLedger {
    written: BTreeMap<String, Vec<Range<u64>>>,
    /// The temporary file of each job file, from the engine's `FileAdded` events.
    temp_names: BTreeMap<(JobId, usize), String>,
    /// Bytes written, in total.
    pub bytes: u64,
    /// Bytes written over a range of the same file written before.
    pub bytes_twice: u64,
}

impl DiskLedger {
    fn write(&mut self, path: &str, range: Range<u64>) {
        let ranges = self.written.entry(path.to_owned()).or_default();
        let overlap: u64 = ranges
            .iter()
            .map(|have| range.end.min(have.end).saturating_sub(range.start.max(have.start)))
            .sum();
        self.bytes += range.end - range.start;
        self.bytes_twice += overlap;
        ranges.push(range);
        ranges.sort_by_key(|range| range.start);
        let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
        for range in ranges.drain(..) {
            match merged.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }
        *ranges = merged;
    }

    /// Learns where a job file's bytes go.
    pub fn file_added(&mut self, job: JobId, file: usize, local_name: &str) {
        self.temp_names.insert((job, file), JobFile::temp_name_for(local_name, job, file));
    }

    /// The engine threw the file's bytes away and starts it from byte 0.
    pub fn file_restarted(&mut self, job: JobId, file: usize) {
        if let Some(path) = self.temp_names.get(&(job, file)) {
            self.written.remove(path);
        }
    }
}

/// A file on the simulated host's disk.
#[derive(Debug)]
pub struct SimFile {
    file: simfs::File,
    path: String,
    ledger: Option<Rc<RefCell<DiskLedger>>>,
}

impl FileIo for SimFile {
    async fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(bytes, offset)?;
        if let Some(ledger) = &self.ledger {
            ledger.borrow_mut().write(&self.path, offset..offset + bytes.len() as u64);
        }
        Ok(())
    }

    async fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    async fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    async fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    async fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }
}

impl Env for TurmoilEnv {
    type Conn = Shaped;
    type File = SimFile;

    async fn connect(&self, host: &str, port: u16) -> io::Result<Shaped> {
        let stream = turmoil::net::TcpStream::connect((host, port)).await?;
        self.net.wrap(stream, false)
    }

    fn local_port(&self, conn: &Shaped) -> Option<u16> {
        conn.local_addr().ok().map(|addr| addr.port())
    }

    async fn open(&self, path: &str, mode: OpenMode) -> io::Result<SimFile> {
        let mut options = simfs::OpenOptions::new();
        let (create, truncate) = mode.flags();
        options.read(true).write(true).create(create).truncate(truncate);
        let file = options.open(path)?;
        let ledger = self.ledger.clone().filter(|_| !path.starts_with(&self.unaccounted_dir));
        Ok(SimFile { file, path: path.to_owned(), ledger })
    }

    async fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        missing_is_none(simfs::read(path))
    }

    async fn file_len(&self, path: &str) -> io::Result<Option<u64>> {
        missing_is_none(simfs::metadata(path).map(|meta| meta.len()))
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        simfs::rename(from, to)
    }

    async fn remove_file(&self, path: &str) -> io::Result<()> {
        missing_is_none(simfs::remove_file(path)).map(|_| ())
    }

    async fn create_dir_all(&self, path: &str) -> io::Result<()> {
        simfs::create_dir_all(path)
    }

    async fn sync_dir(&self, path: &str) -> io::Result<()> {
        simfs::sync_dir(path)
    }

    fn random_bytes(&self, buf: &mut [u8]) {
        self.rng.borrow_mut().fill_bytes(buf);
    }

    fn unix_time(&self) -> Duration {
        // Inside a host turmoil always knows the simulated wall clock (the fixed epoch plus
        // simulated time); zero is unreachable but harmless.
        turmoil::since_epoch().unwrap_or_default() + crate::clock::warp()
    }

    fn now(&self) -> Duration {
        crate::clock::now()
    }

    fn sleep_until(&self, deadline: Duration) -> impl Future<Output = ()> {
        crate::clock::sleep_until(deadline)
    }

    fn network_available(&self) -> bool {
        self.network.available()
    }

    async fn network_change(&self, seen: bool) {
        loop {
            // Registered before the check: nothing runs between the check and the first
            // poll, and the switch only changes between steps.
            let changed = self.network.changed.notified();
            if self.network.available() != seen {
                return;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_counts_bytes_written_twice_until_the_engine_restarts_the_file() {
        let mut ledger = DiskLedger::default();
        ledger.file_added(JobId(1), 0, "/d/a");
        let temp = JobFile::temp_name_for("/d/a", JobId(1), 0);
        ledger.write(&temp, 0..100);
        ledger.write(&temp, 50..150);
        ledger.write("/b", 0..100);
        ledger.write(&temp, 0..200);
        assert_eq!((ledger.bytes, ledger.bytes_twice), (500, 50 + 150));
        ledger.file_restarted(JobId(1), 0);
        ledger.write(&temp, 0..10);
        assert_eq!(ledger.bytes_twice, 200, "a restart from byte 0 is a new start");
    }
}
