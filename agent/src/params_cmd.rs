//! `sas-agent params FILE [--set KEY=VALUE]...`: the params with overrides applied, every default
//! filled in and relative paths made absolute, validated by the router's own schema. The mode scripts
//! hand its output to the job (e.g. `--set agent.address=http://127.0.0.1:50051 --set agent.mode=collect`).

use anyhow::{Context, bail};
use sas_router::params::Params;
use serde_norway::{Mapping, Value};
use std::path::Path;

/// Sets the dotted `key` (e.g. `agent.mode`) of `doc` to `value`, creating missing sections.
///
/// # Errors
/// A key that goes through a value that is not a section.
pub fn set(doc: &mut Value, key: &str, value: Value) -> anyhow::Result<()> {
    let mut node = doc;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            bail!("--set {key}: empty key segment");
        }
        if node.is_null() {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else {
            bail!("--set {key}: `{}` is not a section", parts[..i].join("."));
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

/// Reads `path`, applies `KEY=VALUE` overrides (values are YAML scalars or flow collections), validates
/// and returns the normalised params as YAML. Relative paths resolve against the parent of the file's
/// folder (the repository root for `params/*.yaml`), as the job does.
///
/// # Errors
/// An unreadable file, a malformed override, or params the schema rejects (the key is named).
pub fn derive(path: &Path, overrides: &[String]) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut doc: Value = serde_norway::from_str(&text).with_context(|| format!("{}", path.display()))?;
    for o in overrides {
        let (key, value) = o
            .split_once('=')
            .with_context(|| format!("--set {o}: expected KEY=VALUE"))?;
        let value: Value = serde_norway::from_str(value).with_context(|| format!("--set {o}: bad value"))?;
        set(&mut doc, key.trim(), value)?;
    }
    let file = std::fs::canonicalize(path).with_context(|| format!("{}", path.display()))?;
    let folder = file.parent().unwrap_or(&file);
    let base = folder.parent().unwrap_or(folder);
    let merged = serde_norway::to_string(&doc)?;
    let params = Params::parse_in(&merged, &path.display().to_string(), base)?;
    Ok(serde_norway::to_string(&params)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_set_nested_keys_and_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let params = dir.path().join("params");
        std::fs::create_dir(&params).unwrap();
        let file = params.join("p.yaml");
        std::fs::write(&file, "task: wordcount\npartitioner: hash\nworkers: 4\nrecords: 1000\nworkload:\n  kind: zipf\n  alpha: 1.5\n  keys: 100\n").unwrap();
        let out = derive(&file, &["partitioner=w-choices".into(), "workers=8".into()]).unwrap();
        let p = Params::parse(&out, "out").unwrap();
        assert_eq!((p.partitioner.as_str(), p.workers), ("w-choices", 8));

        let e = derive(&file, &["partitioner=no-such".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("no-such"), "{e:#}");
        let e = derive(&file, &["workers".into()]).unwrap_err();
        assert!(e.to_string().contains("KEY=VALUE"), "{e}");
        let e = derive(&file, &["task.x=1".into()]).unwrap_err();
        assert!(e.to_string().contains("`task` is not a section"), "{e}");
    }

    #[test]
    fn set_creates_missing_sections() {
        let mut doc: Value = serde_norway::from_str("a: 1").unwrap();
        set(&mut doc, "b.c.d", Value::Bool(true)).unwrap();
        assert_eq!(
            serde_norway::to_string(&doc).unwrap(),
            "a: 1\nb:\n  c:\n    d: true\n"
        );
    }
}
