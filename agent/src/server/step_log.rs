//! The optional per-step CSV (`step_log` in the serve settings): one line per closed step of every
//! session, so a run's λ over time can be read and plotted after the fact (steady state, recovery
//! after a shift) instead of sampling the `/metrics` gauges.

use super::session::StepOutcome;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The columns, in order.
pub const HEADER: &str =
    "unix_ms,session,step,interval,records,imbalance,nmad,reward,imputed_workers,reply_us";

/// An append-only CSV of steps, shared by all sessions.
#[derive(Debug)]
pub(crate) struct StepLog {
    path: PathBuf,
    file: Mutex<BufWriter<File>>,
}

impl StepLog {
    /// Opens `path` for appending, writing the header when the file is new or empty.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let empty = file.metadata()?.len() == 0;
        let mut file = BufWriter::new(file);
        if empty {
            writeln!(file, "{HEADER}")?;
            file.flush()?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Appends one step, flushed at once (a crash loses at most that line). A write error is logged,
    /// never returned: the log must not stop the agent from serving.
    pub(crate) fn append(&self, session: &str, o: &StepOutcome) {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let written = writeln!(
            file,
            "{unix_ms},{session},{},{},{},{:.6},{:.6},{:.6},{},{}",
            o.step,
            o.interval,
            o.records,
            o.imbalance,
            o.nmad,
            o.reward,
            o.imputed_workers,
            o.reply.as_micros()
        )
        .and_then(|()| file.flush());
        if let Err(e) = written {
            tracing::error!(file = %self.path.display(), cause = %e, "step log: line not written");
        }
    }
}
