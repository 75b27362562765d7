use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

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
            "pid {} on {} running `{}` since {} (unix time)",
            self.pid, self.host, self.command, self.since
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
                let holder = serde_json::from_str(&text).unwrap_or(LockHolder {
                    host: "unknown host".into(),
                    pid: 0,
                    command: "unknown command".into(),
                    since: 0,
                });
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

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
