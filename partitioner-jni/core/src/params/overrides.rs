//! `KEY=VALUE` overrides of a params document (`--set agent.mode=collect`), applied to the parsed YAML
//! before the schema sees it, so an override is validated like a value written in the file.

use serde_norway::{Mapping, Value};
use thiserror::Error;

/// Why an override could not be applied.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum OverrideError {
    /// The text has no `=`.
    #[error("--set {0}: expected KEY=VALUE")]
    NoValue(String),
    /// The key has an empty segment (`a..b`, `.a`).
    #[error("--set {0}: empty key segment")]
    EmptySegment(String),
    /// The value is not a YAML scalar or flow collection.
    #[error("--set {text}: bad value: {reason}")]
    BadValue {
        /// The override as given.
        text: String,
        /// The YAML parser's message.
        reason: String,
    },
    /// The key goes through a value that is not a section (`task.x` when `task` is a string).
    #[error("--set {text}: `{section}` is not a section")]
    NotASection {
        /// The override as given.
        text: String,
        /// The dotted prefix that holds a plain value.
        section: String,
    },
}

/// Applies each `KEY=VALUE` of `overrides` to `doc` in order; a dotted key (`agent.mode`) reaches into
/// sections, creating missing ones. Values are YAML scalars or flow collections (`[1, 0.5]`).
///
/// # Errors
/// The first override that is malformed or goes through a plain value, named as given.
pub fn apply(doc: &mut Value, overrides: &[impl AsRef<str>]) -> Result<(), OverrideError> {
    for text in overrides {
        let text = text.as_ref();
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| OverrideError::NoValue(text.to_string()))?;
        let value: Value = serde_norway::from_str(value).map_err(|e| OverrideError::BadValue {
            text: text.to_string(),
            reason: e.to_string(),
        })?;
        set(doc, key.trim(), value, text)?;
    }
    Ok(())
}

fn set(doc: &mut Value, key: &str, value: Value, text: &str) -> Result<(), OverrideError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(OverrideError::EmptySegment(text.to_string()));
    }
    let mut node = doc;
    for (i, part) in parts.iter().enumerate() {
        if node.is_null() {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else {
            return Err(OverrideError::NotASection {
                text: text.to_string(),
                section: parts[..i].join("."),
            });
        };
        let k = Value::String((*part).to_string());
        if i + 1 == parts.len() {
            map.insert(k, value);
            return Ok(());
        }
        node = map.entry(k).or_insert(Value::Null);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(yaml: &str, overrides: &[&str]) -> Result<String, OverrideError> {
        let mut doc: Value = serde_norway::from_str(yaml).unwrap();
        apply(&mut doc, overrides)?;
        Ok(serde_norway::to_string(&doc).unwrap())
    }

    #[test]
    fn overrides_replace_values_and_create_missing_sections() {
        assert_eq!(
            applied("a: 1\n", &["b.c.d=true", "a=2"]).unwrap(),
            "a: 2\nb:\n  c:\n    d: true\n"
        );
        assert_eq!(
            applied("a: 1\n", &["f=[1, 0.5]"]).unwrap(),
            "a: 1\nf:\n- 1\n- 0.5\n"
        );
    }

    #[test]
    fn malformed_overrides_are_named() {
        assert_eq!(applied("a: 1\n", &["a"]), Err(OverrideError::NoValue("a".into())));
        assert_eq!(
            applied("a: 1\n", &["a..b=1"]),
            Err(OverrideError::EmptySegment("a..b=1".into()))
        );
        assert_eq!(
            applied("a: 1\n", &["a.x=1"]),
            Err(OverrideError::NotASection {
                text: "a.x=1".into(),
                section: "a".into()
            })
        );
        assert!(matches!(
            applied("a: 1\n", &["a=[1"]),
            Err(OverrideError::BadValue { .. })
        ));
    }
}
