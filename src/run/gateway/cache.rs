//! The replay cache: answers stored by exact request, so a retried run replays the calls it already paid
//! for.
//!
//! Invariants: an entry is keyed by the SHA-256 of the agent's exact request body and by how many times
//! that same body was sent before in the run (`<hash>-<n>`), so a run that repeats a request on purpose
//! (MetaGPT re-asks after a parse failure) gets the next answer, not the same one again. Only successful
//! answers are stored, as the agent received them; entries are written whole (temporary file, then
//! rename), so a crash never leaves a torn entry. Cache failures are logged and never fail a call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cached {
    pub status: u16,
    pub content_type: Option<String>,
    body_base64: String,
}

impl Cached {
    pub(crate) fn new(status: u16, content_type: Option<String>, body: &[u8]) -> Self {
        Self {
            status,
            content_type,
            body_base64: STANDARD.encode(body),
        }
    }

    pub(crate) fn body(&self) -> Option<Vec<u8>> {
        STANDARD.decode(&self.body_base64).ok()
    }
}

#[derive(Debug)]
pub(crate) struct ReplayCache {
    dir: PathBuf,
    replay: bool,
    seen: Mutex<HashMap<String, u32>>,
}

impl ReplayCache {
    /// Stores answers under `dir`; replays them too when `replay` is set.
    pub(crate) fn open(dir: &Path, replay: bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            replay,
            seen: Mutex::default(),
        })
    }

    /// The key of this occurrence of `request_hash` in the run.
    pub(crate) fn next_key(&self, request_hash: &str) -> String {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let n = seen.entry(request_hash.to_owned()).or_default();
        let key = format!("{request_hash}-{n}");
        *n += 1;
        key
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    pub(crate) fn load(&self, key: &str) -> Option<Cached> {
        if !self.replay {
            return None;
        }
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        serde_json::from_str(&text)
            .inspect_err(|error| tracing::warn!(%error, key, "ignoring an unreadable cache entry"))
            .ok()
    }

    pub(crate) fn store(&self, key: &str, entry: &Cached) {
        let path = self.path(key);
        let temporary = path.with_extension("tmp");
        let written = serde_json::to_vec(entry)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&temporary, bytes))
            .and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(error) = written {
            tracing::warn!(%error, path = %path.display(), "could not store an LLM answer for replay");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_requests_get_successive_entries_and_replay_is_opt_in() {
        let dir = tempfile::tempdir().unwrap();
        let writer = ReplayCache::open(dir.path(), false).unwrap();
        let (first, second) = (writer.next_key("abc"), writer.next_key("abc"));
        assert_ne!(first, second);
        writer.store(&first, &Cached::new(200, None, b"one"));
        assert_eq!(writer.load(&first), None, "replay is off");

        let reader = ReplayCache::open(dir.path(), true).unwrap();
        let entry = reader.load(&reader.next_key("abc")).unwrap();
        assert_eq!(entry.body().unwrap(), b"one");
        assert_eq!(reader.load(&reader.next_key("abc")), None);
    }
}
