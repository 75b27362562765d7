use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use stackup_model::{ResourceRecord, Urn};

use crate::{HistoryEntry, JournalEntry, StackLock, StateError, StateStore};

/// The default store: one sled database per stack under `<state dir>/<stack>/`, guarded
/// by that stack's lock for as long as the store is open.
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    records: sled::Tree,
    journal: sled::Tree,
    history: sled::Tree,
    retired: sled::Tree,
    meta: sled::Tree,
    _lock: StackLock,
}

impl SledStore {
    /// Takes the stack's lock and opens its database.
    pub fn open(state_dir: &Path, stack: &str, command: &str) -> Result<SledStore, StateError> {
        let dir = state_dir.join(stack);
        let lock = StackLock::acquire(&dir, stack, command)?;
        let path = dir.join("db");
        let err = |e: sled::Error| StateError::Store {
            path: path.display().to_string(),
            message: format!(
                "{e}. The store may be damaged; move {} aside and restore an export with `stackup state import`",
                path.display()
            ),
        };
        let db = sled::Config::new().path(&path).open().map_err(err)?;
        let records = db.open_tree("records").map_err(err)?;
        let journal = db.open_tree("journal").map_err(err)?;
        let history = db.open_tree("history").map_err(err)?;
        let retired = db.open_tree("retired").map_err(err)?;
        let meta = db.open_tree("meta").map_err(err)?;
        Ok(SledStore {
            path,
            db,
            records,
            journal,
            history,
            retired,
            meta,
            _lock: lock,
        })
    }

    /// The stacks that have a state directory under `state_dir`.
    pub fn stacks(state_dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(state_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("db").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        out
    }

    fn err(&self, e: sled::Error) -> StateError {
        StateError::Store {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    fn write<T: Serialize>(&self, tree: &sled::Tree, key: &[u8], value: &T) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StateError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            message: e.to_string(),
        })?;
        tree.insert(key, bytes).map_err(|e| self.err(e))?;
        self.flush()
    }

    fn delete(&self, tree: &sled::Tree, key: &[u8]) -> Result<(), StateError> {
        tree.remove(key).map_err(|e| self.err(e))?;
        self.flush()
    }

    fn flush(&self) -> Result<(), StateError> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    fn all<T: DeserializeOwned>(&self, tree: &sled::Tree) -> Result<Vec<T>, StateError> {
        tree.iter()
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                decode(&k, &v)
            })
            .collect()
    }
}

fn retired_key(r: &ResourceRecord) -> Vec<u8> {
    format!("{}\u{0}{}", r.urn, r.id).into_bytes()
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StateError> {
    serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: e.to_string(),
    })
}

impl StateStore for SledStore {
    fn records(&self) -> Result<Vec<ResourceRecord>, StateError> {
        self.all(&self.records)
    }

    fn get(&self, urn: &Urn) -> Result<Option<ResourceRecord>, StateError> {
        let key = urn.as_str().as_bytes();
        match self.records.get(key).map_err(|e| self.err(e))? {
            Some(v) => decode(key, &v).map(Some),
            None => Ok(None),
        }
    }

    fn put(&self, record: &ResourceRecord) -> Result<(), StateError> {
        self.write(&self.records, record.urn.as_str().as_bytes(), record)
    }

    fn remove(&self, urn: &Urn) -> Result<(), StateError> {
        self.delete(&self.records, urn.as_str().as_bytes())
    }

    fn replace(&self, old: &ResourceRecord, new: &ResourceRecord) -> Result<(), StateError> {
        use sled::Transactional;
        let encode = |r: &ResourceRecord| {
            serde_json::to_vec(r).map_err(|e| StateError::Corrupt {
                key: r.urn.to_string(),
                message: e.to_string(),
            })
        };
        let (old_bytes, new_bytes) = (encode(old)?, encode(new)?);
        (&self.records, &self.retired)
            .transaction(|(records, retired)| {
                retired.insert(retired_key(old), old_bytes.clone())?;
                records.insert(new.urn.as_str().as_bytes(), new_bytes.clone())?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StateError::Store {
                path: self.path.display().to_string(),
                message: format!("{e:?}"),
            })?;
        self.flush()
    }

    fn retired(&self) -> Result<Vec<ResourceRecord>, StateError> {
        self.all(&self.retired)
    }

    fn forget_retired(&self, record: &ResourceRecord) -> Result<(), StateError> {
        self.delete(&self.retired, &retired_key(record))
    }

    fn journal_begin(&self, entry: &JournalEntry) -> Result<(), StateError> {
        self.write(&self.journal, entry.token.as_bytes(), entry)
    }

    fn journal_end(&self, token: &str) -> Result<(), StateError> {
        self.delete(&self.journal, token.as_bytes())
    }

    fn journal(&self) -> Result<Vec<JournalEntry>, StateError> {
        self.all(&self.journal)
    }

    fn append_history(&self, mut entry: HistoryEntry) -> Result<u64, StateError> {
        let seq = self
            .history
            .last()
            .map_err(|e| self.err(e))?
            .map(|(k, _)| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&k[..8.min(k.len())]);
                u64::from_be_bytes(b) + 1
            })
            .unwrap_or(1);
        entry.seq = seq;
        self.write(&self.history, &seq.to_be_bytes(), &entry)?;
        Ok(seq)
    }

    fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        self.all(&self.history)
    }

    fn replace_all(&self, records: &[ResourceRecord]) -> Result<(), StateError> {
        let encoded: Vec<(Vec<u8>, Vec<u8>)> = records
            .iter()
            .map(|r| {
                serde_json::to_vec(r)
                    .map(|bytes| (r.urn.as_str().as_bytes().to_vec(), bytes))
                    .map_err(|e| StateError::Corrupt {
                        key: r.urn.to_string(),
                        message: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        let existing: Vec<sled::IVec> = self
            .records
            .iter()
            .keys()
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        self.records
            .transaction(|tree| {
                for key in &existing {
                    tree.remove(key)?;
                }
                for (key, value) in &encoded {
                    tree.insert(key.as_slice(), value.as_slice())?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StateError::Store {
                path: self.path.display().to_string(),
                message: format!("{e:?}"),
            })?;
        self.flush()
    }

    fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), StateError> {
        match value {
            Some(v) => self.write(&self.meta, key.as_bytes(), &v),
            None => self.delete(&self.meta, key.as_bytes()),
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StateError> {
        match self.meta.get(key.as_bytes()).map_err(|e| self.err(e))? {
            Some(v) => decode(key.as_bytes(), &v).map(Some),
            None => Ok(None),
        }
    }
}
