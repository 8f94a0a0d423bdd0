//! Offline datasets: transitions recorded under a behaviour policy, for offline RL.
//!
//! # Format (version 1)
//!
//! A dataset is a directory holding two files:
//!
//! * `meta.json`, one object: `format_version` (1), `obs_dim` (2P), `action_dim` (A), `workers` (P),
//!   `mask` (one `[start, end)` worker range per true hot key, in key order: the action layout),
//!   `features` (the id of the observation and reward conventions, [`FEATURES`]), `source` (who made the
//!   data, e.g. `sim:dalton-offline`), and optionally `episode_length`, `initial_perf` and `producer` (the
//!   producer's settings, free-form JSON).
//! * `transitions.jsonl`, JSON lines, one [`Transition`] per line (its serde form), in time order:
//!   `{"step": u64, "obs": [f32; obs_dim], "action": [f32; action_dim], "reward": f32,
//!   "next_obs": [f32; obs_dim], "terminated": bool, "truncated": bool, "imbalance": f64, "nmad": f64}`.
//!   `action` is in **env space** `[0, 1]`, mask order: the behaviour routing of the step, per-pair
//!   record counts divided by their maximum. `terminated` is always false in data from this project
//!   (episode ends are truncations, see [`crate::env`]).
//!
//! The writer validates each transition before writing it and writes whole lines only; lines already
//! written survive a later error (the buffer is flushed on drop). The reader streams line by line and
//! names `file:line` in every error; dimensions are checked against `meta.json`.

use crate::env::features::FEATURES;
use sas_learner::Transition;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The format version this module writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the metadata file in a dataset directory.
pub const META_FILE: &str = "meta.json";
/// Name of the transitions file in a dataset directory.
pub const TRANSITIONS_FILE: &str = "transitions.jsonl";

/// The dataset's metadata (`meta.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Observation length, 2P.
    pub obs_dim: usize,
    /// Action length A, the number of mask pairs.
    pub action_dim: usize,
    /// Number of workers P.
    pub workers: usize,
    /// `[start, end)` worker range of each true hot key, in key order.
    pub mask: Vec<[usize; 2]>,
    /// Id of the observation and reward conventions ([`FEATURES`] when made by this crate).
    pub features: String,
    /// Who produced the data, e.g. `sim:dalton-offline`.
    pub source: String,
    /// Steps per logical episode, when the producer had episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode_length: Option<u64>,
    /// The reward's baseline perf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_perf: Option<f64>,
    /// The producer's settings, for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<serde_json::Value>,
}

impl Meta {
    /// Metadata for data recorded over `mask` by `source`.
    pub fn new(mask: &sas_router::mask::Mask, source: impl Into<String>) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            obs_dim: 2 * mask.workers(),
            action_dim: mask.action_dim(),
            workers: mask.workers(),
            mask: mask.ranges().iter().map(|r| [r.start, r.end]).collect(),
            features: FEATURES.to_string(),
            source: source.into(),
            episode_length: None,
            initial_perf: None,
            producer: None,
        }
    }

    /// Checks the metadata is self-consistent: obs_dim = 2P, action_dim = Σ range widths, ranges valid.
    fn check(&self) -> Result<(), String> {
        if self.workers.checked_mul(2) != Some(self.obs_dim) {
            return Err(format!(
                "obs_dim = {} but workers = {} (need 2·workers)",
                self.obs_dim, self.workers
            ));
        }
        let ranges = self.mask.iter().map(|&[s, e]| s..e).collect();
        let mask = sas_router::mask::Mask::from_ranges(self.workers, ranges).map_err(|e| e.to_string())?;
        if mask.action_dim() != self.action_dim {
            return Err(format!(
                "action_dim = {} but the mask has {} pairs",
                self.action_dim,
                mask.action_dim()
            ));
        }
        Ok(())
    }
}

/// Dataset errors; each names the file (and line) at fault.
#[derive(Debug, Error)]
pub enum OfflineError {
    /// The file system failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `meta.json` is unreadable or inconsistent.
    #[error("{}: {reason}", path.display())]
    Meta {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A line of `transitions.jsonl` is malformed or disagrees with the metadata.
    #[error("{}:{line}: {reason}", path.display())]
    Line {
        /// The transitions file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A transition handed to the writer disagrees with the metadata; nothing was written.
    #[error("{}: transition {step} not written: {reason}", path.display())]
    Rejected {
        /// The transitions file.
        path: PathBuf,
        /// The transition's `step`.
        step: u64,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OfflineError + '_ {
    move |source| OfflineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks one transition against the metadata: lengths, finite values, action in `[0, 1]`.
fn check_transition(meta: &Meta, t: &Transition) -> Result<(), String> {
    let dims = [
        ("obs", t.obs.len(), meta.obs_dim, "obs_dim"),
        ("next_obs", t.next_obs.len(), meta.obs_dim, "obs_dim"),
        ("action", t.action.len(), meta.action_dim, "action_dim"),
    ];
    for (field, got, want, key) in dims {
        if got != want {
            return Err(format!(
                "`{field}` has {got} values, meta.json says {key} = {want}"
            ));
        }
    }
    for (field, values) in [("obs", &t.obs), ("next_obs", &t.next_obs), ("action", &t.action)] {
        if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(format!("`{field}[{i}]` = {v} is not finite"));
        }
    }
    if let Some((i, v)) = t
        .action
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=1.0).contains(*v))
    {
        return Err(format!("`action[{i}]` = {v} is outside env space [0, 1]"));
    }
    for (field, v) in [
        ("reward", f64::from(t.reward)),
        ("imbalance", t.imbalance),
        ("nmad", t.nmad),
    ] {
        if !v.is_finite() {
            return Err(format!("`{field}` = {v} is not finite"));
        }
    }
    Ok(())
}

/// Writes a dataset directory.
#[derive(Debug)]
pub struct DatasetWriter {
    meta: Meta,
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
}

impl DatasetWriter {
    /// Creates `dir` if needed, writes `meta.json` and starts an empty `transitions.jsonl` (replacing
    /// an existing dataset there).
    ///
    /// # Errors
    /// [`OfflineError::Meta`] for inconsistent metadata, [`OfflineError::Io`] naming the path.
    pub fn create(dir: &Path, meta: Meta) -> Result<Self, OfflineError> {
        let meta_path = dir.join(META_FILE);
        meta.check().map_err(|reason| OfflineError::Meta {
            path: meta_path.clone(),
            reason,
        })?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        // Cannot fail: Meta holds only strings, numbers and JSON values.
        let text = serde_json::to_string_pretty(&meta).expect("Meta serialises");
        std::fs::write(&meta_path, text + "\n").map_err(io(&meta_path))?;
        let path = dir.join(TRANSITIONS_FILE);
        let file = File::create(&path).map_err(io(&path))?;
        Ok(Self {
            meta,
            out: BufWriter::new(file),
            path,
            written: 0,
        })
    }

    /// Appends one transition as one line.
    ///
    /// # Errors
    /// [`OfflineError::Rejected`] when it disagrees with the metadata (nothing is written);
    /// [`OfflineError::Io`] when the file system fails.
    pub fn write(&mut self, t: &Transition) -> Result<(), OfflineError> {
        check_transition(&self.meta, t).map_err(|reason| OfflineError::Rejected {
            path: self.path.clone(),
            step: t.step,
            reason,
        })?;
        // Serialised whole before writing, so the buffer only ever receives complete lines.
        // Cannot fail: every value was just checked to be finite.
        let mut line = serde_json::to_string(t).expect("a checked transition serialises");
        line.push('\n');
        self.out.write_all(line.as_bytes()).map_err(io(&self.path))?;
        self.written += 1;
        Ok(())
    }

    /// Pushes buffered lines to the file.
    ///
    /// # Errors
    /// [`OfflineError::Io`] when the file system fails.
    pub fn flush(&mut self) -> Result<(), OfflineError> {
        self.out.flush().map_err(io(&self.path))
    }

    /// Flushes and syncs the file; returns the number of transitions written.
    ///
    /// # Errors
    /// [`OfflineError::Io`] when the file system fails.
    pub fn finish(mut self) -> Result<u64, OfflineError> {
        self.flush()?;
        self.out.get_ref().sync_all().map_err(io(&self.path))?;
        Ok(self.written)
    }

    /// Number of transitions written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}

/// The longest transition line read: far above any real one (P = 32 768 workers give observations of
/// 65 536 floats, about 1.5 MB of JSON).
const MAX_LINE_BYTES: u64 = 64 << 20;

/// Reads and checks a `meta.json` text; errors name `meta_path`. The version is checked before the
/// fields, so a newer format says so instead of "unknown field".
fn parse_meta(text: &str, meta_path: &Path) -> Result<Meta, OfflineError> {
    let meta_error = |reason: String| OfflineError::Meta {
        path: meta_path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| meta_error(e.to_string()))?;
    let version = value.get("format_version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(meta_error(format!(
            "format_version = {}, this reader knows {FORMAT_VERSION}",
            value
                .get("format_version")
                .map_or("(missing)".into(), ToString::to_string)
        )));
    }
    let meta: Meta = serde_json::from_value(value).map_err(|e| meta_error(e.to_string()))?;
    meta.check().map_err(meta_error)?;
    Ok(meta)
}

/// Streams the transitions of a dataset directory; yields each line's transition or the error naming
/// `file:line`, and stops after the first error. `R` is where the lines come from: the dataset's
/// `transitions.jsonl`, or any reader ([`DatasetReader::from_reader`]).
#[derive(Debug)]
pub struct DatasetReader<R: BufRead = BufReader<File>> {
    meta: Meta,
    path: PathBuf,
    input: R,
    line: u64,
    buf: String,
    done: bool,
}

impl DatasetReader {
    /// Opens `dir`, reading and checking `meta.json`.
    ///
    /// # Errors
    /// [`OfflineError::Meta`] for a missing, malformed, inconsistent or other-version `meta.json`;
    /// [`OfflineError::Io`] when `transitions.jsonl` cannot be opened.
    pub fn open(dir: &Path) -> Result<Self, OfflineError> {
        let meta_path = dir.join(META_FILE);
        let text = std::fs::read_to_string(&meta_path).map_err(io(&meta_path))?;
        let meta = parse_meta(&text, &meta_path)?;
        let path = dir.join(TRANSITIONS_FILE);
        let input = BufReader::new(File::open(&path).map_err(io(&path))?);
        Ok(Self::with_meta(meta, path, input))
    }
}

impl<R: BufRead> DatasetReader<R> {
    /// A reader of the `meta.json` text `meta` and the transition lines of `input`; `origin` names the
    /// input in errors (`origin:line`, and `origin` + `.meta.json` for the metadata).
    ///
    /// # Errors
    /// [`OfflineError::Meta`] as [`DatasetReader::open`].
    pub fn from_reader(meta: &str, origin: &Path, input: R) -> Result<Self, OfflineError> {
        let meta = parse_meta(meta, &origin.with_extension("meta.json"))?;
        Ok(Self::with_meta(meta, origin.to_path_buf(), input))
    }

    fn with_meta(meta: Meta, path: PathBuf, input: R) -> Self {
        Self {
            meta,
            path,
            input,
            line: 0,
            buf: String::new(),
            done: false,
        }
    }

    /// The dataset's metadata.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    fn next_line(&mut self) -> Option<Result<Transition, OfflineError>> {
        loop {
            self.buf.clear();
            self.line += 1;
            // Bounded: a line longer than any real transition is an error, not an allocation of
            // whatever size the file holds.
            match std::io::Read::take(&mut self.input, MAX_LINE_BYTES + 1).read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(n) if n as u64 > MAX_LINE_BYTES => {
                    return Some(Err(OfflineError::Line {
                        path: self.path.clone(),
                        line: self.line,
                        reason: format!("longer than {MAX_LINE_BYTES} bytes"),
                    }));
                }
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(OfflineError::Io {
                        path: self.path.clone(),
                        source,
                    }));
                }
            }
            let text = self.buf.trim();
            if text.is_empty() {
                continue;
            }
            let complete = self.buf.ends_with('\n');
            let line_error = |reason: String| OfflineError::Line {
                path: self.path.clone(),
                line: self.line,
                reason,
            };
            let t: Transition = match serde_json::from_str(text) {
                Ok(t) => t,
                Err(e) if !complete => {
                    return Some(Err(line_error(format!(
                        "truncated last line (no newline at the end; was the writer interrupted?): {e}"
                    ))));
                }
                Err(e) => return Some(Err(line_error(format!("malformed transition: {e}")))),
            };
            return Some(check_transition(&self.meta, &t).map(|()| t).map_err(line_error));
        }
    }
}

impl<R: BufRead> Iterator for DatasetReader<R> {
    type Item = Result<Transition, OfflineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_line();
        self.done = !matches!(item, Some(Ok(_)));
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sas_learner::{Batch, PrioritizedReplay};
    use sas_router::mask::Mask;

    fn meta() -> Meta {
        Meta::new(&Mask::from_ranges(4, vec![0..3, 2..4]).unwrap(), "test")
    }

    fn transition(step: u64) -> Transition {
        Transition {
            step,
            obs: vec![1.0, 0.5, 1.5, 1.0, 0.1, 0.2, 0.3, 0.4],
            action: vec![1.0, 0.25, 0.0, 0.5, 1.0],
            reward: 0.5625,
            next_obs: vec![1.0; 8],
            terminated: false,
            truncated: step % 2 == 1,
            imbalance: 0.6,
            nmad: 0.3,
        }
    }

    fn read(dir: &Path) -> Result<Vec<Transition>, OfflineError> {
        DatasetReader::open(dir)?.collect()
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DatasetWriter::create(dir.path(), meta()).unwrap();
        let written: Vec<Transition> = (0..5).map(transition).collect();
        for t in &written {
            w.write(t).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 5);
        let reader = DatasetReader::open(dir.path()).unwrap();
        assert_eq!(reader.meta(), &meta());
        assert_eq!(reader.collect::<Result<Vec<_>, _>>().unwrap(), written);
    }

    /// `transition(1)` as format version 1 wrote it before the type moved to `sas-learner`.
    const LINE_V1: &str = r#"{"step":1,"obs":[1.0,0.5,1.5,1.0,0.1,0.2,0.3,0.4],"action":[1.0,0.25,0.0,0.5,1.0],"reward":0.5625,"next_obs":[1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0],"terminated":false,"truncated":true,"imbalance":0.6,"nmad":0.3}"#;

    #[test]
    fn a_written_transition_reads_back_equal_and_replays_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DatasetWriter::create(dir.path(), meta()).unwrap();
        w.write(&transition(1)).unwrap();
        w.finish().unwrap();
        // The line format did not change.
        let text = std::fs::read_to_string(dir.path().join(TRANSITIONS_FILE)).unwrap();
        assert_eq!(text, format!("{LINE_V1}\n"));
        let back = read(dir.path()).unwrap();
        assert_eq!(back, vec![transition(1)]);
        // The replay buffer stores the transition read back and samples it as its own batch row.
        let m = meta();
        let mut replay = PrioritizedReplay::new(m.obs_dim, m.action_dim, 4, 0.6, 0.4, 1e-6, 0).unwrap();
        replay.push(&back[0]).unwrap();
        let mut batch = replay.sample(1).unwrap();
        assert_eq!(batch.indices, vec![0]);
        batch.indices.clear();
        assert_eq!(batch, Batch::from_transitions(&[transition(1)]));
    }

    #[test]
    fn lines_written_before_an_error_survive_without_finish() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut w = DatasetWriter::create(dir.path(), meta()).unwrap();
            w.write(&transition(0)).unwrap();
            w.write(&transition(1)).unwrap();
            let mut bad = transition(2);
            bad.action[1] = 2.0;
            let e = w.write(&bad).unwrap_err();
            assert!(
                e.to_string().contains("`action[1]` = 2 is outside env space"),
                "{e}"
            );
            // Dropped here, as on an early `?` return.
        }
        assert_eq!(read(dir.path()).unwrap(), vec![transition(0), transition(1)]);
    }

    #[test]
    fn a_truncated_last_line_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = DatasetWriter::create(dir.path(), meta()).unwrap();
        w.write(&transition(0)).unwrap();
        w.write(&transition(1)).unwrap();
        w.finish().unwrap();
        let path = dir.path().join(TRANSITIONS_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, &text[..text.len() - 20]).unwrap();
        let mut reader = DatasetReader::open(dir.path()).unwrap();
        assert_eq!(reader.next().unwrap().unwrap(), transition(0));
        let e = reader.next().unwrap().unwrap_err().to_string();
        assert!(e.contains("transitions.jsonl:2: truncated last line"), "{e}");
        assert!(reader.next().is_none());
    }

    #[test]
    fn a_line_longer_than_the_bound_is_an_error_not_an_allocation() {
        use std::io::Read;
        let meta_text = serde_json::to_string(&meta()).unwrap();
        let endless = std::io::BufReader::new(std::io::repeat(b'x').take(MAX_LINE_BYTES + 10));
        let mut reader = DatasetReader::from_reader(&meta_text, Path::new("big.jsonl"), endless).unwrap();
        let e = reader.next().unwrap().unwrap_err().to_string();
        assert!(e.contains("big.jsonl:1: longer than"), "{e}");
        assert!(reader.next().is_none());
    }

    #[test]
    fn a_malformed_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        DatasetWriter::create(dir.path(), meta())
            .unwrap()
            .finish()
            .unwrap();
        let line = serde_json::to_string(&transition(0)).unwrap();
        std::fs::write(
            dir.path().join(TRANSITIONS_FILE),
            format!("{line}\n{{\"step\": 1}}\n"),
        )
        .unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("transitions.jsonl:2: malformed transition: missing field"),
            "{e}"
        );
    }

    #[test]
    fn wrong_dimensions_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        DatasetWriter::create(dir.path(), meta())
            .unwrap()
            .finish()
            .unwrap();
        let mut t = transition(0);
        t.obs.pop();
        let line = serde_json::to_string(&t).unwrap();
        std::fs::write(dir.path().join(TRANSITIONS_FILE), line + "\n").unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(":1: `obs` has 7 values, meta.json says obs_dim = 8"),
            "{e}"
        );

        let mut w = DatasetWriter::create(dir.path(), meta()).unwrap();
        let mut t = transition(0);
        t.action.push(0.0);
        let e = w.write(&t).unwrap_err().to_string();
        assert!(
            e.contains("`action` has 6 values, meta.json says action_dim = 5"),
            "{e}"
        );
    }

    #[test]
    fn inconsistent_or_newer_meta_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = meta();
        m.action_dim = 6;
        let e = DatasetWriter::create(dir.path(), m).unwrap_err().to_string();
        assert!(e.contains("action_dim = 6 but the mask has 5 pairs"), "{e}");
        DatasetWriter::create(dir.path(), meta())
            .unwrap()
            .finish()
            .unwrap();
        let path = dir.path().join(META_FILE);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"format_version\": 1", "\"format_version\": 2");
        std::fs::write(&path, text).unwrap();
        let e = DatasetReader::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("meta.json: format_version = 2"), "{e}");
    }
}
