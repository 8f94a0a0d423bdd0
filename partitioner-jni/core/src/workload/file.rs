//! The `file` keys: a recorded key stream, replayed in its order.
//!
//! The file holds one key per line, or, with `csv_column`, a CSV whose column (by header name or 0-based
//! index) holds the key. A key is the [`word_key`] hash of its text (the `text` workload's hash, without
//! lower-casing), so only 8 bytes per record are kept, whatever the keys' length.

use super::{CsvColumn, KeySource, WorkloadConfig, open_input};
use crate::error::ConfigError;
use crate::hashing::word_key;
use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The largest key-stream file the `file` workload reads (4 GiB). It is streamed, not held: this bounds
/// the time a typo can cost, [`MAX_FILE_KEYS`] the memory.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Records of a key-stream file (2^26, 512 MiB of hashes), as many as `eval-routers` replays at most.
pub const MAX_FILE_KEYS: usize = 1 << 26;

/// The longest line of a key-stream file (64 KiB), so one line without a newline cannot take all memory.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// Column names listed in an error about a missing column; the rest are counted.
const LISTED_COLUMNS: usize = 32;

/// The setting that names the file.
const PATH: &str = "workload.path";

/// The keys of a key-stream file, in file order, cycling forever.
#[derive(Debug, Clone)]
pub struct FileKeys {
    keys: Vec<u64>,
}

impl FileKeys {
    /// Checks the settings of [`FileKeys::from_config`] without reading the stream: a path is given, the
    /// CSV settings make sense, the file is a readable, non-empty regular file of at most
    /// [`MAX_FILE_BYTES`], and (with `csv_column`) its first line has the column. Whether every line is
    /// well-formed is only known once the file is read.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting and the file, as `from_config` would return it.
    pub fn check(config: &WorkloadConfig) -> Result<(), ConfigError> {
        Reader::open(config).map(drop)
    }

    /// Reads every key of the file `config.path` names.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file and what is wrong: unreadable, empty, no key in it, more than
    /// [`MAX_FILE_KEYS`] keys, a line over [`MAX_LINE_BYTES`] or not UTF-8, a CSV column that does not
    /// exist (the error lists those that do) or is missing from a line, a malformed quoted field.
    pub fn from_config(config: &WorkloadConfig) -> Result<Self, ConfigError> {
        let mut reader = Reader::open(config)?;
        let mut keys = Vec::new();
        while let Some(key) = reader.next_key()? {
            if keys.len() == MAX_FILE_KEYS {
                return Err(reader.error(format!("holds more than {MAX_FILE_KEYS} keys")));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(reader.error("holds no keys"));
        }
        keys.shrink_to_fit();
        Ok(Self { keys })
    }

    /// The keys, in file order.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }
}

impl KeySource for FileKeys {
    #[inline]
    fn key_at(&self, i: u64, _ts_ms: u64) -> u64 {
        self.keys[(i % self.keys.len() as u64) as usize]
    }
}

/// The file, opened and past its header, read one key at a time.
struct Reader<'a> {
    path: &'a Path,
    lines: BufReader<std::fs::File>,
    /// The key column's index; `None`: the whole line is the key.
    column: Option<usize>,
    delimiter: u8,
    /// The line last read (1-based), for errors.
    line_no: u64,
    line: Vec<u8>,
    /// A line read ahead (the first row of a headerless CSV, read to check its width).
    pending: bool,
}

impl<'a> Reader<'a> {
    fn open(config: &'a WorkloadConfig) -> Result<Self, ConfigError> {
        let path = config
            .path
            .as_deref()
            .ok_or_else(|| ConfigError::invalid(PATH, "(none)", "the file workload needs a file"))?;
        let delimiter = match &config.csv_column {
            Some(column) => Some(check_csv_settings(config, column)?),
            None => None,
        };
        let (file, len) = open_input(PATH, path, MAX_FILE_BYTES)?;
        let mut reader = Self {
            path,
            lines: BufReader::with_capacity(1 << 16, file),
            column: None,
            delimiter: delimiter.unwrap_or(b','),
            line_no: 0,
            line: Vec::new(),
            pending: false,
        };
        if len == 0 {
            return Err(reader.error("is empty"));
        }
        if let Some(column) = &config.csv_column {
            reader.column = Some(reader.find_column(column, config.csv_header)?);
        }
        Ok(reader)
    }

    /// An error about the file.
    fn error(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(PATH, self.path.display(), reason)
    }

    /// Reads the next line that is not blank into `self.line` (without its line end); false at the end.
    fn next_line(&mut self) -> Result<bool, ConfigError> {
        if std::mem::take(&mut self.pending) {
            return Ok(true);
        }
        loop {
            self.line.clear();
            let n = (&mut self.lines)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| self.error(format!("cannot read: {e}")))?;
            if n == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            if self.line.last() == Some(&b'\n') {
                self.line.pop();
            } else if n > MAX_LINE_BYTES {
                return Err(self.error(format!(
                    "line {} is longer than {MAX_LINE_BYTES} bytes",
                    self.line_no
                )));
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            if self.line_no == 1 && self.line.starts_with(b"\xef\xbb\xbf") {
                self.line.drain(..3);
            }
            if !self.line.trim_ascii().is_empty() {
                return Ok(true);
            }
        }
    }

    /// The current line as text.
    fn text(&self) -> Result<&str, ConfigError> {
        std::str::from_utf8(&self.line).map_err(|_| self.error(format!("line {} is not UTF-8", self.line_no)))
    }

    /// The fields of the current line.
    fn fields(&self) -> Result<Vec<Cow<'_, str>>, ConfigError> {
        let text = self.text()?;
        Fields::new(text, self.delimiter)
            .map(|f| f.map_err(|reason| self.error(format!("line {}: {reason}", self.line_no))))
            .collect()
    }

    /// Resolves the key column against the header (or, without one, checks the first row's width).
    fn find_column(&mut self, column: &CsvColumn, header: bool) -> Result<usize, ConfigError> {
        if !self.next_line()? {
            return Err(self.error("holds no keys"));
        }
        let fields = self.fields()?;
        let width = fields.len();
        let listing = || {
            let names: Vec<&str> = fields.iter().take(LISTED_COLUMNS).map(|f| f.as_ref()).collect();
            let more = width.saturating_sub(LISTED_COLUMNS);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("{}{more}", names.join(", "))
        };
        let index = match column {
            CsvColumn::Name(name) => fields.iter().position(|f| f == name).ok_or_else(|| {
                ConfigError::invalid(
                    "workload.csv_column",
                    name,
                    format!(
                        "{} has no such column; its columns are: {}",
                        self.path.display(),
                        listing()
                    ),
                )
            })?,
            &CsvColumn::Index(i) if i < width => i,
            &CsvColumn::Index(i) => {
                let reason = if header {
                    format!(
                        "{} has {width} column(s) (0 is the first): {}",
                        self.path.display(),
                        listing()
                    )
                } else {
                    format!(
                        "the first line of {} has {width} column(s) (0 is the first)",
                        self.path.display()
                    )
                };
                return Err(ConfigError::invalid("workload.csv_column", i, reason));
            }
        };
        // Without a header the first line is a record: keep it for `next_key`.
        self.pending = !header;
        Ok(index)
    }

    /// The key of the next record, or `None` at the end of the file.
    fn next_key(&mut self) -> Result<Option<u64>, ConfigError> {
        if !self.next_line()? {
            return Ok(None);
        }
        let Some(column) = self.column else {
            return Ok(Some(word_key(self.text()?.trim_ascii())));
        };
        let text = self.text()?;
        let mut fields = Fields::new(text, self.delimiter);
        let mut found = 0;
        for (i, field) in fields.by_ref().enumerate() {
            let field = field.map_err(|reason| self.error(format!("line {}: {reason}", self.line_no)))?;
            if i == column {
                return Ok(Some(word_key(&field)));
            }
            found = i + 1;
        }
        Err(self.error(format!(
            "line {} has {found} column(s); the key column {column} (0 is the first) is missing",
            self.line_no
        )))
    }
}

/// Checks the CSV settings; the delimiter as a byte.
fn check_csv_settings(config: &WorkloadConfig, column: &CsvColumn) -> Result<u8, ConfigError> {
    let d = config.csv_delimiter;
    if !d.is_ascii() || matches!(d, '"' | '\n' | '\r') {
        return Err(ConfigError::invalid(
            "workload.csv_delimiter",
            d.escape_default(),
            "must be one ASCII character other than a quote or a line end",
        ));
    }
    if let CsvColumn::Name(name) = column
        && !config.csv_header
    {
        return Err(ConfigError::invalid(
            "workload.csv_column",
            name,
            "a column name needs a header line (`workload.csv_header: true`); give an index instead",
        ));
    }
    Ok(d as u8)
}

/// The fields of one CSV line: separated by the delimiter, spaces around a field dropped, a field may be
/// double-quoted (`""` inside is a quote; it cannot span lines).
struct Fields<'a> {
    rest: Option<&'a str>,
    delimiter: u8,
}

impl<'a> Fields<'a> {
    fn new(line: &'a str, delimiter: u8) -> Self {
        Self {
            rest: Some(line),
            delimiter,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Cow<'a, str>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        let d = char::from(self.delimiter);
        let start = rest.trim_start_matches(' ');
        let Some(quoted) = start.strip_prefix('"') else {
            let (field, tail) = match rest.split_once(d) {
                Some((field, tail)) => (field, Some(tail)),
                None => (rest, None),
            };
            self.rest = tail;
            return Some(Ok(Cow::Borrowed(field.trim_matches(' '))));
        };
        // A quoted field ends at a quote not followed by another one.
        let mut value = String::new();
        let mut chunks = quoted;
        loop {
            let Some(q) = chunks.find('"') else {
                self.rest = None;
                return Some(Err("unterminated quoted field (a key cannot span lines)"));
            };
            value.push_str(&chunks[..q]);
            let after = &chunks[q + 1..];
            if let Some(more) = after.strip_prefix('"') {
                value.push('"');
                chunks = more;
                continue;
            }
            let after = after.trim_start_matches(' ');
            if after.is_empty() {
                self.rest = None;
            } else if let Some(tail) = after.strip_prefix(d) {
                self.rest = Some(tail);
            } else {
                self.rest = None;
                return Some(Err("a quoted field must be followed by the delimiter"));
            }
            return Some(Ok(Cow::Owned(value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    /// A file under the system's temporary folder, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with(name: &str, contents: &[u8]) -> Self {
            let path = std::env::temp_dir().join(format!("sas-file-{}-{name}", std::process::id()));
            std::fs::File::create(&path).unwrap().write_all(contents).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn config(file: &TempFile) -> WorkloadConfig {
        WorkloadConfig {
            kind: "file".into(),
            path: Some(file.0.clone()),
            ..WorkloadConfig::default()
        }
    }

    fn keys(config: &WorkloadConfig) -> Vec<u64> {
        FileKeys::from_config(config).unwrap().keys().to_vec()
    }

    fn error(config: &WorkloadConfig) -> String {
        let e = FileKeys::from_config(config).unwrap_err().to_string();
        // Validation finds what it can see without reading the stream, worded the same.
        if let Err(check) = FileKeys::check(config) {
            assert_eq!(check.to_string(), e);
        }
        e
    }

    #[test]
    fn one_key_per_line_in_file_order_cycling() {
        let f = TempFile::with("lines", b"\xef\xbb\xbfa\r\nb\n\n  a \nc");
        let k = FileKeys::from_config(&config(&f)).unwrap();
        let (a, b, c) = (word_key("a"), word_key("b"), word_key("c"));
        // The byte-order mark, line ends, blank lines and surrounding spaces are not part of keys.
        assert_eq!(k.keys(), [a, b, a, c]);
        let replay: Vec<u64> = (0..6).map(|i| k.key_at(i, 0)).collect();
        assert_eq!(replay, [a, b, a, c, a, b]);
    }

    #[test]
    fn a_csv_column_by_name_or_index() {
        let f = TempFile::with(
            "csv",
            b"ts,user,item\n1,alice,x\n2, \"bob, jr\" ,y\n3,\"say \"\"hi\"\"\",z\n",
        );
        let by_name = WorkloadConfig {
            csv_column: Some(CsvColumn::Name("user".into())),
            ..config(&f)
        };
        let expected = [word_key("alice"), word_key("bob, jr"), word_key("say \"hi\"")];
        assert_eq!(keys(&by_name), expected);
        let by_index = WorkloadConfig {
            csv_column: Some(CsvColumn::Index(1)),
            ..config(&f)
        };
        assert_eq!(keys(&by_index), expected);

        let tsv = TempFile::with("tsv", b"1\talice\n2\tbob\n");
        let headerless = WorkloadConfig {
            csv_column: Some(CsvColumn::Index(1)),
            csv_delimiter: '\t',
            csv_header: false,
            ..config(&tsv)
        };
        assert_eq!(keys(&headerless), [word_key("alice"), word_key("bob")]);
    }

    #[test]
    fn the_same_words_give_the_text_workloads_keys() {
        let f = TempFile::with("words", b"it\nis\na\ntruth\n");
        let text = super::super::TextKeys::new("It is a truth").unwrap();
        let file = FileKeys::from_config(&config(&f)).unwrap();
        let from_text: Vec<u64> = (0..4).map(|i| text.key_at(i, 0)).collect();
        assert_eq!(file.keys(), from_text);
    }

    #[test]
    fn a_missing_column_lists_the_columns_that_exist() {
        let f = TempFile::with("cols", b"ts,user,item\n1,alice,x\n");
        let e = error(&WorkloadConfig {
            csv_column: Some(CsvColumn::Name("usr".into())),
            ..config(&f)
        });
        assert!(
            e.contains("`workload.csv_column` = usr")
                && e.contains(&f.0.display().to_string())
                && e.contains("its columns are: ts, user, item"),
            "{e}"
        );
        let e = error(&WorkloadConfig {
            csv_column: Some(CsvColumn::Index(3)),
            ..config(&f)
        });
        assert!(
            e.contains("has 3 column(s)") && e.contains("ts, user, item"),
            "{e}"
        );
        let e = error(&WorkloadConfig {
            csv_column: Some(CsvColumn::Name("user".into())),
            csv_header: false,
            ..config(&f)
        });
        assert!(e.contains("needs a header line"), "{e}");
    }

    #[test]
    fn bad_files_are_errors_naming_the_file_and_line() {
        let missing = WorkloadConfig {
            kind: "file".into(),
            path: Some(std::env::temp_dir().join("sas-file-does-not-exist")),
            ..WorkloadConfig::default()
        };
        let e = error(&missing);
        assert!(
            e.contains("`workload.path`") && e.contains("sas-file-does-not-exist"),
            "{e}"
        );
        assert!(e.contains("cannot read"), "{e}");
        let e = error(&WorkloadConfig {
            path: None,
            ..missing.clone()
        });
        assert!(e.contains("needs a file"), "{e}");

        let empty = TempFile::with("empty", b"");
        assert!(error(&config(&empty)).contains("is empty"));
        let blank = TempFile::with("blank", b"\n \n\r\n");
        let e = error(&config(&blank));
        assert!(
            e.contains("holds no keys") && e.contains(&blank.0.display().to_string()),
            "{e}"
        );
        let header_only = TempFile::with("header", b"user\n");
        let csv = |f: &TempFile| WorkloadConfig {
            csv_column: Some(CsvColumn::Name("user".into())),
            ..config(f)
        };
        assert!(error(&csv(&header_only)).contains("holds no keys"));

        let mut long = b"a\n".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
        let long = TempFile::with("long", &long);
        let e = error(&config(&long));
        assert!(e.contains("line 2 is longer than 65536 bytes"), "{e}");
        let exact = TempFile::with("exact", &vec![b'y'; MAX_LINE_BYTES]);
        assert_eq!(keys(&config(&exact)).len(), 1);

        let latin1 = TempFile::with("latin1", b"ok\ncaf\xe9\n");
        assert!(error(&config(&latin1)).contains("line 2 is not UTF-8"));
        let short = TempFile::with("short", b"ts,user\n1,alice\n2\n");
        let e = error(&csv(&short));
        assert!(e.contains("line 3 has 1 column(s)"), "{e}");
        let quote = TempFile::with("quote", b"user\n\"alice\n");
        assert!(error(&csv(&quote)).contains("line 2: unterminated quoted field"));
        let e = error(&WorkloadConfig {
            csv_delimiter: '"',
            ..csv(&short)
        });
        assert!(e.contains("`workload.csv_delimiter`"), "{e}");
    }

    #[test]
    fn checking_reads_only_the_first_line() {
        // A bad line further down is found by reading, not by the check.
        let f = TempFile::with("late", b"user\nalice\n\"bob\n");
        let config = WorkloadConfig {
            csv_column: Some(CsvColumn::Name("user".into())),
            ..config(&f)
        };
        FileKeys::check(&config).unwrap();
        assert!(FileKeys::from_config(&config).is_err());
    }
}
