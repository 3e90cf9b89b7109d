//! The journal on disk: one file, replaced atomically in the order the durability model
//! demands (architecture.md §3): write a temporary file, sync it, rename it over the journal,
//! sync the directory. A power loss at any point leaves the old or the new journal, whole.

use crate::core::journal::{Journal, JournalError};
use crate::env::{Env, FileIo, OpenMode};

/// The journal's file name inside the state directory.
const JOURNAL_FILE: &str = "queue.journal";
/// The file a new journal is written to before it replaces the old one.
const JOURNAL_TEMP_FILE: &str = "queue.journal.tmp";

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot {action} `{path}`: {source}")]
    Io { action: &'static str, path: String, source: std::io::Error },
    #[error(
        "the job journal `{path}` is unreadable, so the engine will not start rather than lose its jobs: {source}"
    )]
    Journal { path: String, source: JournalError },
}

pub(crate) struct Store {
    dir: String,
    journal: String,
    temp: String,
}

impl Store {
    /// Makes sure the state directory exists durably (every ancestor's entry synced).
    pub(crate) async fn open(env: &impl Env, dir: &str) -> Result<Self, StartError> {
        let io_error = |action, source| StartError::Io { action, path: dir.to_owned(), source };
        env.create_dir_all(dir).await.map_err(|source| io_error("create", source))?;
        let mut ancestor = String::new();
        for part in dir.split('/').filter(|part| !part.is_empty()) {
            let parent = if ancestor.is_empty() { "/".to_owned() } else { ancestor.clone() };
            env.sync_dir(&parent).await.map_err(|source| io_error("sync", source))?;
            ancestor = format!("{ancestor}/{part}");
        }
        let join = |name| format!("{}/{name}", dir.trim_end_matches('/'));
        Ok(Self { dir: dir.to_owned(), journal: join(JOURNAL_FILE), temp: join(JOURNAL_TEMP_FILE) })
    }

    /// The last journal saved, or `None` on a machine that never ran the engine.
    pub(crate) async fn load(&self, env: &impl Env) -> Result<Option<Journal>, StartError> {
        let bytes = env.read(&self.journal).await.map_err(|source| StartError::Io {
            action: "read",
            path: self.journal.clone(),
            source,
        })?;
        bytes
            .map(|bytes| Journal::decode(&bytes))
            .transpose()
            .map_err(|source| StartError::Journal { path: self.journal.clone(), source })
    }

    /// Replaces the journal; when this returns, the new journal survives a power loss.
    /// Callers run one save at a time (two would write the same temporary file).
    pub(crate) async fn save(&self, env: &impl Env, bytes: &[u8]) -> std::io::Result<()> {
        let file = env.open(&self.temp, OpenMode::Truncate).await?;
        file.write_all_at(bytes, 0).await?;
        file.sync_all().await?;
        env.rename(&self.temp, &self.journal).await?;
        env.sync_dir(&self.dir).await
    }
}
