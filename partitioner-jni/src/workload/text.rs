//! The `text` stream: words of a text file as keys.

use super::{Record, event_time};
use crate::error::ConfigError;
use crate::hashing::word_key;
use std::path::Path;

/// Splits text into lower-case words: runs of characters that are neither alphanumeric nor `_` separate
/// words (the prototype's sentence cleaning, minus accent stripping).
pub fn text_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The words of a text, in order, cycling forever.
#[derive(Debug, Clone)]
pub struct TextStream {
    keys: Vec<u64>,
    rate: u64,
    i: u64,
}

impl TextStream {
    /// The words of `text`; at least one word is needed.
    pub fn new(text: &str, rate: u64) -> Result<Self, ConfigError> {
        let keys: Vec<u64> = text_words(text).iter().map(|w| word_key(w)).collect();
        if keys.is_empty() {
            return Err(ConfigError::invalid(
                "workload.text_path",
                "(text)",
                "contains no words",
            ));
        }
        Ok(Self { keys, rate, i: 0 })
    }

    /// The words of the file at `path`.
    pub fn from_file(path: &Path, rate: u64) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::invalid("workload.text_path", path.display(), format!("cannot read: {e}"))
        })?;
        Self::new(&text, rate)
    }
}

impl Iterator for TextStream {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let key = self.keys[(self.i % self.keys.len() as u64) as usize];
        let ts_ms = event_time(self.i, self.rate);
        self.i += 1;
        Some(Record { key, ts_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_split_on_punctuation() {
        assert_eq!(text_words("Hello, World! it's"), ["hello", "world", "it", "s"]);
    }

    #[test]
    fn the_stream_cycles() {
        let keys: Vec<u64> = TextStream::new("a b", 1000)
            .unwrap()
            .take(4)
            .map(|r| r.key)
            .collect();
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[0], keys[1]);
    }
}
