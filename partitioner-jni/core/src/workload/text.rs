//! The `text` keys: words of a text file.

use super::KeySource;
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

/// The words of a text, in order, cycling forever; key = [`word_key`] of the word.
#[derive(Debug, Clone)]
pub struct TextKeys {
    keys: Vec<u64>,
}

impl TextKeys {
    /// The words of `text`; at least one word is needed.
    pub fn new(text: &str) -> Result<Self, ConfigError> {
        let keys: Vec<u64> = text_words(text).iter().map(|w| word_key(w)).collect();
        if keys.is_empty() {
            return Err(ConfigError::invalid(
                "workload.text_path",
                "(text)",
                "contains no words",
            ));
        }
        Ok(Self { keys })
    }

    /// The words of the file at `path`, which may hold at most [`MAX_TEXT_BYTES`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        use std::io::Read;
        let cannot = |e: std::io::Error| {
            ConfigError::invalid("workload.text_path", path.display(), format!("cannot read: {e}"))
        };
        // Bounded: a path to a device or a huge file is an error, not a read of whatever it holds.
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(cannot)?
            .take(MAX_TEXT_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(cannot)?;
        if text.len() as u64 > MAX_TEXT_BYTES {
            return Err(ConfigError::invalid(
                "workload.text_path",
                path.display(),
                format!("holds more than {MAX_TEXT_BYTES} bytes"),
            ));
        }
        Self::new(&text)
    }
}

/// The largest text file the `text` workload reads (256 MiB: a whole book is under 1 MiB).
pub const MAX_TEXT_BYTES: u64 = 256 << 20;

impl KeySource for TextKeys {
    fn key_at(&self, i: u64, _ts_ms: u64) -> u64 {
        self.keys[(i % self.keys.len() as u64) as usize]
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
    fn the_words_cycle() {
        let t = TextKeys::new("a b").unwrap();
        assert_eq!(t.key_at(0, 0), t.key_at(2, 0));
        assert_ne!(t.key_at(0, 0), t.key_at(1, 0));
    }
}
