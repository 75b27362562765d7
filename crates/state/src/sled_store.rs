use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use stackup_model::{ResourceRecord, Urn};

use crate::{guard, HistoryEntry, JournalEntry, StackLock, StateError, StateStore};

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
    /// None for a store opened to look at state nobody may change from here (see
    /// [`SledStore::open_to_read`]).
    _lock: Option<Lock>,
    /// When the state directory could not be written: the directory this store is a
    /// temporary copy of.
    copy_of: Option<PathBuf>,
}

/// The stack's lock as a store holds it: exclusively to change state, shared to read
/// a copy of state in a directory this user cannot write.
#[derive(Debug)]
enum Lock {
    #[allow(dead_code)] // Held for its lifetime.
    Exclusive(StackLock),
    #[allow(dead_code)]
    Shared(std::fs::File),
}

/// The meta key every store carries from its creation. sled reads a log whose files were
/// overwritten or truncated back as an empty database instead of failing, so a store
/// without this key and without any data is one that lost everything, not a new one.
const MARKER: &str = "stackup.store-created";

impl SledStore {
    /// Takes the stack's lock and opens its database, creating it on first use.
    ///
    /// A database that cannot be opened or read back gives [`StateError::Damaged`] (with
    /// the way out), never a panic: sled's panics are contained here.
    pub fn open(state_dir: &Path, stack: &str, command: &str) -> Result<SledStore, StateError> {
        refuse_files(state_dir, stack)?;
        let dir = state_dir.join(stack);
        let lock = StackLock::acquire(&dir, stack, command)?;
        let path = dir.join("db");
        if !path.exists() {
            create(&dir, &path)?;
        }
        let db = open_db(&path)?;
        SledStore::over(path, db, Some(Lock::Exclusive(lock)), None)
    }

    /// Opens the stack's state to look at it (`diff`, `outputs`, the state commands that
    /// only read), creating nothing:
    /// - a stack with no state here gets an empty store that lives in memory;
    /// - when this user cannot write the state directory (a read-only mount, another
    ///   user's directory), the store is a temporary copy of it, read under a shared
    ///   lock so that it is never copied while a run changes it;
    /// - otherwise it is [`SledStore::open`].
    pub fn open_to_read(state_dir: &Path, stack: &str, command: &str) -> Result<SledStore, StateError> {
        refuse_files(state_dir, stack)?;
        let dir = state_dir.join(stack);
        let path = dir.join("db");
        if !path.exists() {
            let created = serde_json::to_vec(&crate::now_unix()).unwrap_or_default();
            let empty = guard::contain(|| {
                let db = sled::Config::new().temporary(true).open()?;
                db.open_tree("meta")?.insert(MARKER, created)?;
                Ok::<_, sled::Error>(db)
            });
            let db = match empty {
                Ok(Ok(db)) => db,
                Ok(Err(e)) => {
                    return Err(StateError::Store {
                        path: "(memory)".into(),
                        message: e.to_string(),
                    })
                }
                Err(panic) => {
                    return Err(StateError::Store {
                        path: "(memory)".into(),
                        message: panic,
                    })
                }
            };
            return SledStore::over(path, db, None, None);
        }
        let lock_file = dir.join("lock");
        let writable = match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_file)
        {
            Ok(_) => true,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ),
        };
        if writable {
            return SledStore::open(state_dir, stack, command);
        }
        let shared = StackLock::share(&dir, stack)?;
        let copy = std::env::temp_dir().join(format!(
            "stackup-{stack}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        copy_dir(&path, &copy).map_err(|e| StateError::Store {
            path: path.display().to_string(),
            message: format!(
                "this directory cannot be written, and copying it to {} to read it failed: {e}",
                copy.display()
            ),
        })?;
        // sled removes a temporary database's directory when it closes.
        let db = match guard::contain(|| sled::Config::new().path(&copy).temporary(true).open()) {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => {
                let _ = std::fs::remove_dir_all(&copy);
                return Err(StateError::Damaged {
                    path: path.display().to_string(),
                    reason: describe(&e),
                    way_out: way_out(&path, None),
                });
            }
            Err(panic) => {
                let _ = std::fs::remove_dir_all(&copy);
                return Err(StateError::Damaged {
                    path: path.display().to_string(),
                    reason: format!("sled failed opening it ({panic})"),
                    way_out: way_out(&path, None),
                });
            }
        };
        SledStore::over(path, db, shared.map(Lock::Shared), Some(dir))
    }

    /// When this store is a temporary copy (the state directory could not be written):
    /// the directory it copies. Changes to it are lost when it closes.
    pub fn copy_of(&self) -> Option<&Path> {
        self.copy_of.as_deref()
    }

    /// The store over the open database `db` of `path`, its trees opened and its marker
    /// checked.
    fn over(
        path: PathBuf,
        db: sled::Db,
        lock: Option<Lock>,
        copy_of: Option<PathBuf>,
    ) -> Result<SledStore, StateError> {
        let damaged = |reason: String| StateError::Damaged {
            path: path.display().to_string(),
            reason,
            way_out: way_out(&path, None),
        };
        let tree = |name: &str| match guard::contain(|| db.open_tree(name)) {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(e)) => Err(damaged(format!("sled cannot open its {name} tree ({e})"))),
            Err(panic) => Err(damaged(format!("sled failed opening its {name} tree ({panic})"))),
        };
        let store = SledStore {
            records: tree("records")?,
            journal: tree("journal")?,
            history: tree("history")?,
            retired: tree("retired")?,
            meta: tree("meta")?,
            path,
            db,
            _lock: lock,
            copy_of,
        };
        store.check_marker()?;
        Ok(store)
    }

    /// Refuses a database that silently lost everything; marks stores created before
    /// the marker existed.
    fn check_marker(&self) -> Result<(), StateError> {
        let marked = match guard::contain(|| self.meta.get(MARKER)) {
            Ok(Ok(v)) => v.is_some(),
            Ok(Err(e)) => return Err(self.damaged(format!("its metadata cannot be read ({e})"))),
            Err(panic) => return Err(self.damaged(format!("sled failed reading its metadata ({panic})"))),
        };
        if marked {
            return Ok(());
        }
        let mut any_data = false;
        for tree in [&self.meta, &self.records, &self.history, &self.journal, &self.retired] {
            any_data |= match guard::contain(|| tree.first()) {
                Ok(Ok(first)) => first.is_some(),
                Ok(Err(e)) => return Err(self.damaged(format!("sled cannot read it ({e})"))),
                Err(panic) => return Err(self.damaged(format!("sled failed reading it ({panic})"))),
            };
        }
        if !any_data {
            return Err(self.damaged(
                "its database holds no stackup data, not even the marker every store gets when it is created: its files were overwritten, truncated or replaced"
                    .into(),
            ));
        }
        // Written by a stackup from before the marker: it has data, so mark it now.
        self.write(&self.meta, MARKER.as_bytes(), &crate::now_unix())
    }

    /// A damaged-store error for this store, with the best way out available: the last
    /// readable history entry when there is one.
    fn damaged(&self, reason: String) -> StateError {
        StateError::Damaged {
            path: self.path.display().to_string(),
            reason,
            way_out: way_out(&self.path, self.last_readable_run()),
        }
    }

    /// The newest history entry that still decodes, read leniently (never failing):
    /// the rollback target suggested when records are unreadable.
    fn last_readable_run(&self) -> Option<HistoryEntry> {
        guard::contain(|| {
            self.history
                .iter()
                .rev()
                .filter_map(|kv| kv.ok())
                .find_map(|(_, v)| serde_json::from_slice::<HistoryEntry>(&v).ok())
        })
        .ok()
        .flatten()
    }

    /// Replaces every record and every retired record in one atomic write: the import
    /// of an export, which carries both.
    pub fn replace_all_with_retired(
        &self,
        records: &[ResourceRecord],
        retired: &[ResourceRecord],
    ) -> Result<(), StateError> {
        use sled::Transactional;
        let encode = |r: &ResourceRecord, key: Vec<u8>| {
            serde_json::to_vec(r)
                .map(|bytes| (key, bytes))
                .map_err(|e| StateError::Corrupt {
                    key: r.urn.to_string(),
                    message: e.to_string(),
                })
        };
        let new_records: Vec<(Vec<u8>, Vec<u8>)> = records
            .iter()
            .map(|r| encode(r, r.urn.as_str().as_bytes().to_vec()))
            .collect::<Result<_, _>>()?;
        let new_retired: Vec<(Vec<u8>, Vec<u8>)> = retired
            .iter()
            .map(|r| encode(r, retired_key(r)))
            .collect::<Result<_, _>>()?;
        let old_records = self.keys(&self.records)?;
        let old_retired = self.keys(&self.retired)?;
        (&self.records, &self.retired)
            .transaction(|(rec, ret)| {
                for key in &old_records {
                    rec.remove(key)?;
                }
                for key in &old_retired {
                    ret.remove(key)?;
                }
                for (key, value) in &new_records {
                    rec.insert(key.as_slice(), value.as_slice())?;
                }
                for (key, value) in &new_retired {
                    ret.insert(key.as_slice(), value.as_slice())?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StateError::Store {
                path: self.path.display().to_string(),
                message: format!("{e:?}"),
            })?;
        self.flush()
    }

    /// Every key of `tree` (values are not decoded, so this works on damaged records).
    fn keys(&self, tree: &sled::Tree) -> Result<Vec<sled::IVec>, StateError> {
        match guard::contain(|| tree.iter().keys().collect::<Result<Vec<_>, _>>()) {
            Ok(r) => r.map_err(|e| self.err(e)),
            Err(panic) => Err(self.damaged(format!("sled failed listing its keys ({panic})"))),
        }
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

    /// Every value of `tree`, decoded. An entry that does not decode, or a panic inside
    /// sled, means the store is damaged: the error says so and how to recover.
    fn all<T: DeserializeOwned>(&self, tree: &sled::Tree) -> Result<Vec<T>, StateError> {
        let name = String::from_utf8_lossy(&tree.name()).into_owned();
        let read = guard::contain(|| {
            tree.iter()
                .map(|kv| {
                    let (k, v) = kv.map_err(|e| self.err(e))?;
                    decode(&k, &v)
                })
                .collect::<Result<Vec<T>, StateError>>()
        });
        match read {
            Ok(Err(StateError::Corrupt { key, message })) => Err(self.damaged(format!(
                "the entry {key} of its {name} tree cannot be decoded ({message})"
            ))),
            Ok(result) => result,
            Err(panic) => Err(self.damaged(format!("sled failed reading its {name} tree ({panic})"))),
        }
    }
}

/// Refuses a state directory (or a stack's) that is a file, said plainly rather than as
/// the "Not a directory" of a failed mkdir.
fn refuse_files(state_dir: &Path, stack: &str) -> Result<(), StateError> {
    for dir in [state_dir.to_path_buf(), state_dir.join(stack)] {
        if dir.exists() && !dir.is_dir() {
            return Err(StateError::Store {
                path: dir.display().to_string(),
                message: "this is a file, not a directory: stackup keeps each stack's state in a directory there. Move the file aside, or point --state-dir (STACKUP_STATE_DIR) elsewhere".into(),
            });
        }
    }
    Ok(())
}

/// Copies the directory `from` (a sled database: files and one level of blobs) to `to`.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Creates a new database with its marker in a staging directory and moves it into
/// place, so that a `db` directory always has the marker unless it lost its data.
fn create(dir: &Path, path: &Path) -> Result<(), StateError> {
    let staging = dir.join("db.new");
    let io_err = |what: &str, e: std::io::Error| StateError::Store {
        path: path.display().to_string(),
        message: format!("{what}: {e}"),
    };
    // A staging directory left by a first run that died is incomplete: start over.
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| io_err("removing an unfinished new store", e))?;
    }
    {
        let db = open_db(&staging)?;
        let store_err = |e: sled::Error| StateError::Store {
            path: staging.display().to_string(),
            message: e.to_string(),
        };
        let meta = db.open_tree("meta").map_err(store_err)?;
        let created = serde_json::to_vec(&crate::now_unix()).map_err(|e| StateError::Corrupt {
            key: MARKER.into(),
            message: e.to_string(),
        })?;
        meta.insert(MARKER, created).map_err(store_err)?;
        db.flush().map_err(store_err)?;
    }
    std::fs::rename(&staging, path).map_err(|e| io_err("moving the new store into place", e))?;
    // Make the rename itself durable; not every platform can sync a directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Opens sled at `path`, containing its panics and telling "in use" from "damaged".
fn open_db(path: &Path) -> Result<sled::Db, StateError> {
    let damaged = |reason: String| StateError::Damaged {
        path: path.display().to_string(),
        reason,
        way_out: way_out(path, None),
    };
    let in_use = |r: &Result<Result<sled::Db, sled::Error>, String>| matches!(r, Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock"));
    let mut opened = guard::contain(|| sled::Config::new().path(path).open());
    // sled's lock can be refused for a moment while a process this one just forked still
    // shares the file (sled's own tests block on it for that reason): look again for up
    // to two seconds before calling the store in use.
    for _ in 0..10 {
        if !in_use(&opened) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        opened = guard::contain(|| sled::Config::new().path(path).open());
    }
    match opened {
        Ok(Ok(db)) => Ok(db),
        // sled's own exclusive lock on its file: another process has this store open.
        Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") => Err(StateError::InUse {
            path: path.display().to_string(),
        }),
        Ok(Err(e)) => Err(damaged(describe(&e))),
        Err(panic) => Err(damaged(format!("sled failed opening it ({panic})"))),
    }
}

/// sled's reason in words for a user (its own text carries an empty backtrace and the
/// internal shape of a disk pointer).
fn describe(e: &sled::Error) -> String {
    match e {
        sled::Error::Corruption { .. } => "sled found corrupted data in it".to_string(),
        sled::Error::Unsupported(why) => format!("sled cannot open it ({why})"),
        other => format!("sled cannot open it ({other})"),
    }
}

/// How to get out of a damaged store, in one paragraph.
fn way_out(path: &Path, last_run: Option<HistoryEntry>) -> String {
    let p = path.display();
    let aside = format!(
        "move {p} aside (for example `mv {p} {p}.damaged`) and run `stackup state import FILE` with an earlier `stackup state export`; without an export, `stackup diff` then finds the stack's objects in AWS by their URN tags and shows them as adoptions, which `stackup up` records again without creating anything"
    );
    match last_run {
        Some(h) => format!(
            "Its history is still readable: `stackup state rollback --to {}` restores, in place, the records run {} (`{}`, finished {}) left. Otherwise {aside}.",
            h.seq,
            h.seq,
            h.command,
            crate::format_unix_time(h.finished_at)
        ),
        None => {
            let mut text = String::from("To recover, ");
            text.push_str(&aside);
            text.push('.');
            text
        }
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
    fn replace_all_with_retired(
        &self,
        records: &[ResourceRecord],
        retired: &[ResourceRecord],
    ) -> Result<(), StateError> {
        SledStore::replace_all_with_retired(self, records, retired)
    }

    fn records(&self) -> Result<Vec<ResourceRecord>, StateError> {
        self.all(&self.records)
    }

    fn get(&self, urn: &Urn) -> Result<Option<ResourceRecord>, StateError> {
        let key = urn.as_str().as_bytes();
        let found = guard::contain(|| self.records.get(key))
            .map_err(|panic| self.damaged(format!("sled failed reading {urn} ({panic})")))?;
        match found.map_err(|e| self.err(e))? {
            Some(v) => decode(key, &v)
                .map(Some)
                .map_err(|e| self.damaged(format!("the record of {urn} cannot be decoded ({e})"))),
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
        // Keys only: a rollback must be able to replace records that no longer decode.
        let existing = self.keys(&self.records)?;
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
