//! Names a client chooses that become file names: a session's `job_name` is the directory a TRAIN session
//! saves to (`<train_out>/<job_name>`) and a COLLECT dataset's (`<offline_dir>/<job_name>-<n>`). Such a
//! name must be one normal path component, so no client can write outside those directories.

use sas_router::limits::MAX_NAME_BYTES;

/// Checks that `value`, the value of `field`, is a single normal path component: not empty, not `.` or
/// `..`, at most [`MAX_NAME_BYTES`] bytes (the agent's one limit on names, well under the file systems'
/// 255-byte component), no `/`, `\`, NUL or other control character.
///
/// # Errors
/// A message naming `field`, the value and the rule it breaks (for `INVALID_ARGUMENT`).
pub(crate) fn check_path_component(field: &str, value: &str) -> Result<(), String> {
    let reason = if value.is_empty() {
        "must not be empty".to_string()
    } else if value == "." || value == ".." {
        "must not be `.` or `..`".to_string()
    } else if value.len() > MAX_NAME_BYTES {
        format!("{} bytes, must be at most {MAX_NAME_BYTES}", value.len())
    } else if value.contains(['/', '\\']) {
        "must not contain `/` or `\\`".to_string()
    } else if value.chars().any(char::is_control) {
        "must not contain NUL or control characters".to_string()
    } else {
        return Ok(());
    };
    // Debug formatting quotes the value and escapes control characters, so the message stays one line.
    let shown: String = value.chars().take(MAX_NAME_BYTES).collect();
    Err(format!("{field} = {shown:?}: {reason} (it names a directory)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_normal_component_passes() {
        for ok in [
            "checkpoint",
            "wordcount-saspartitioner",
            "job 1",
            "a.b",
            "..a",
            "é",
            &"x".repeat(MAX_NAME_BYTES),
        ] {
            assert_eq!(check_path_component("job_name", ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn anything_else_is_refused_naming_the_field() {
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            "a\\b",
            "a\0b",
            "a\nb",
            long.as_str(),
        ] {
            let e = check_path_component("job_name", bad).unwrap_err();
            assert!(e.starts_with("job_name = \""), "{bad:?}: {e}");
        }
        assert_eq!(
            check_path_component("job_name", "..").unwrap_err(),
            "job_name = \"..\": must not be `.` or `..` (it names a directory)"
        );
    }
}
