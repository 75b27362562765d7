use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::StateError;

/// Who holds a stack's lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub host: String,
    pub pid: u32,
    pub command: String,
    /// Seconds since the Unix epoch.
    pub since: u64,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on {} running `{}` since {}",
            self.pid,
            self.host,
            self.command,
            crate::format_unix_time(self.since)
        )
    }
}

/// One run per stack. The lock is an OS file lock, so the kernel releases it the
/// moment the holder dies, however it dies; the file's content only names the holder
/// for the error message of whoever comes second.
#[derive(Debug)]
pub struct StackLock {
    _file: File,
    pub holder: LockHolder,
}

impl StackLock {
    pub fn acquire(dir: &Path, stack: &str, command: &str) -> Result<StackLock, StateError> {
        let path = dir.join("lock");
        let store_err = |e: std::io::Error| StateError::Store {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(store_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(store_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = serde_json::from_str(&text).unwrap_or_else(|_| LockHolder::unknown());
                return Err(StateError::Locked {
                    stack: stack.to_string(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(store_err(e)),
        }
        let holder = LockHolder {
            host: hostname(),
            pid: std::process::id(),
            command: command.to_string(),
            since: crate::now_unix(),
        };
        let text = serde_json::to_string(&holder).unwrap_or_default();
        file.set_len(0).map_err(store_err)?;
        file.seek(SeekFrom::Start(0)).map_err(store_err)?;
        file.write_all(text.as_bytes()).map_err(store_err)?;
        file.sync_all().map_err(store_err)?;
        Ok(StackLock { _file: file, holder })
    }
}

impl StackLock {
    /// Shares the lock of the stack whose state directory is `dir`, for reading it where
    /// the lock cannot be taken exclusively (this user cannot write the directory): a
    /// run holding it is refused like any other holder. None when no run has ever left
    /// a lock file there.
    pub fn share(dir: &Path, stack: &str) -> Result<Option<File>, StateError> {
        let path = dir.join("lock");
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(StateError::Store {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })
            }
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                Err(StateError::Locked {
                    stack: stack.to_string(),
                    holder: serde_json::from_str(&text).unwrap_or_else(|_| LockHolder::unknown()),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(StateError::Store {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }
}

impl LockHolder {
    /// A holder whose lock file could not be read.
    fn unknown() -> LockHolder {
        LockHolder {
            host: "unknown host".into(),
            pid: 0,
            command: "unknown command".into(),
            since: 0,
        }
    }
}

/// What `stackup unlock` finds in a stack's lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockProbe {
    /// There is no lock file: no run has taken the lock since it was last removed.
    Absent,
    /// The file exists but no process holds its lock (its last holder exited or died);
    /// `last` is whoever wrote the file last, when readable.
    Free { last: Option<LockHolder> },
    /// A process holds the lock; `holder` is what the file says about it, when readable.
    Held { holder: Option<LockHolder> },
}

/// The result of [`StackLock::inspect`]. When the lock was free, the inspection holds it
/// until dropped, so that removing the file cannot race with a run taking the lock.
#[derive(Debug)]
pub struct LockInspection {
    pub probe: LockProbe,
    path: PathBuf,
    _held: Option<File>,
}

impl StackLock {
    /// Looks at the lock of the stack whose state directory is `dir` without waiting.
    pub fn inspect(dir: &Path) -> Result<LockInspection, StateError> {
        let path = dir.join("lock");
        let store_err = |e: std::io::Error| StateError::Store {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(LockInspection {
                    probe: LockProbe::Absent,
                    path,
                    _held: None,
                })
            }
            Err(e) => return Err(store_err(e)),
        };
        let mut text = String::new();
        // An unreadable or half-written file only loses the holder's description.
        let _ = file.read_to_string(&mut text);
        let holder: Option<LockHolder> = serde_json::from_str(&text).ok();
        match file.try_lock() {
            Ok(()) => Ok(LockInspection {
                probe: LockProbe::Free { last: holder },
                path,
                _held: Some(file),
            }),
            Err(std::fs::TryLockError::WouldBlock) => Ok(LockInspection {
                probe: LockProbe::Held { holder },
                path,
                _held: None,
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(store_err(e)),
        }
    }
}

impl LockInspection {
    /// Deletes the lock file (a missing file is not an error).
    pub fn remove(self) -> Result<(), StateError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::Store {
                path: self.path.display().to_string(),
                message: format!("cannot remove the lock file: {e}"),
            }),
        }
    }
}

/// Whether a process with this pid runs on this host. On Linux this is `/proc/<pid>`;
/// elsewhere `kill -0`, which needs no signal-sending rights beyond the user's own.
pub fn process_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let proc_root = Path::new("/proc/self");
    if proc_root.exists() {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
