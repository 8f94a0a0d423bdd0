//! The `text` keys: words of a text file.

use super::{KeySource, open_input};
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
            return Err(ConfigError::invalid(TEXT_PATH, "(text)", "contains no words"));
        }
        Ok(Self { keys })
    }

    /// Checks that the file at `path` can be the text of [`TextKeys::from_file`] without reading it: a
    /// readable regular file of 1 to [`MAX_TEXT_BYTES`] bytes. Whether it holds a word is only known
    /// once it is read.
    pub fn check_file(path: &Path) -> Result<(), ConfigError> {
        let (_, len) = open_input(TEXT_PATH, path, MAX_TEXT_BYTES)?;
        if len == 0 {
            return Err(no_words(path));
        }
        Ok(())
    }

    /// The words of the file at `path`, which may hold at most [`MAX_TEXT_BYTES`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        use std::io::Read;
        let (file, _) = open_input(TEXT_PATH, path, MAX_TEXT_BYTES)?;
        let cannot =
            |e: std::io::Error| ConfigError::invalid(TEXT_PATH, path.display(), format!("cannot read: {e}"));
        // Bounded: a file that grew since it was checked is an error, not a read of whatever it holds.
        let mut text = String::new();
        file.take(MAX_TEXT_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(cannot)?;
        if text.len() as u64 > MAX_TEXT_BYTES {
            return Err(ConfigError::invalid(
                TEXT_PATH,
                path.display(),
                format!("holds more than {MAX_TEXT_BYTES} bytes"),
            ));
        }
        Self::new(&text).map_err(|_| no_words(path))
    }
}

/// The setting that names the text file.
const TEXT_PATH: &str = "workload.text_path";

fn no_words(path: &Path) -> ConfigError {
    ConfigError::invalid(TEXT_PATH, path.display(), "contains no words")
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
