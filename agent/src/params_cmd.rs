//! `sas-agent params FILE [--set KEY=VALUE]...`: the params with overrides applied, every default
//! filled in and relative paths made absolute, validated by the router's own schema. The mode scripts
//! hand its output to the job (e.g. `--set agent.address=http://127.0.0.1:50051 --set agent.mode=collect`).

use sas_router::params::Params;
use std::path::Path;

/// Reads `path`, applies `KEY=VALUE` overrides (values are YAML scalars or flow collections), validates
/// and returns the normalised params as YAML. Relative paths resolve against the parent of the file's
/// folder (the repository root for `params/*.yaml`), as the job does.
///
/// # Errors
/// An unreadable file, a malformed override, or params the schema rejects (the key is named).
pub fn derive(path: &Path, overrides: &[String]) -> anyhow::Result<String> {
    let params = Params::load_with(path, overrides)?;
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
}
