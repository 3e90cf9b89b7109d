//! Which job file each URL a server served belongs to: the file's remote name, and where
//! redirects sent it.

use std::collections::BTreeMap;

use bitsim_engine::core::http::RemoteUrl;
use bitsim_engine::{Event, JobId};

use crate::trace::{SimEvent, TraceEntry, TraceEvent};

/// Which job file each served URL belongs to (scenarios use each URL once).
pub(super) struct FileMap {
    pub(super) by_url: BTreeMap<(String, String), (JobId, usize)>,
    pub(super) by_file: BTreeMap<(JobId, usize), (String, String)>,
}

impl FileMap {
    pub(super) fn new(entries: &[TraceEntry]) -> Self {
        let mut map = Self { by_url: BTreeMap::new(), by_file: BTreeMap::new() };
        for entry in entries {
            match &entry.event {
                // SetRemoteName and ReplaceRemotePrefix add a source; the old one still counts
                // for what it served before.
                TraceEvent::Engine(
                    Event::FileAdded { job, file, remote_name, .. }
                    | Event::RemoteNameChanged { job, file, remote_name },
                ) => {
                    if let Ok(url) = RemoteUrl::parse(remote_name) {
                        map.insert((url.host, url.path_and_query), (*job, *file));
                    }
                }
                // A redirect serves the file from where it points (the server says so).
                TraceEvent::Sim(SimEvent::Served { path, location: Some(location), .. }) => {
                    let Some(&owner) = map.by_url.get(&(entry.host.clone(), path.clone())) else {
                        continue;
                    };
                    let absolute = if location.starts_with('/') {
                        format!("http://{}{location}", entry.host)
                    } else {
                        location.clone()
                    };
                    if let Ok(url) = RemoteUrl::parse(&absolute) {
                        map.by_url.insert((url.host, url.path_and_query), owner);
                    }
                }
                _ => {}
            }
        }
        map
    }

    fn insert(&mut self, key: (String, String), file: (JobId, usize)) {
        self.by_url.insert(key.clone(), file);
        self.by_file.insert(file, key);
    }

    /// Every URL that serves `file`: its remote name and where redirects sent it.
    pub(super) fn urls_of(&self, file: (JobId, usize)) -> impl Iterator<Item = &(String, String)> {
        self.by_url.iter().filter(move |(_, owner)| **owner == file).map(|(url, _)| url)
    }
}
