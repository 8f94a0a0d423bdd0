//! Checkpoints: a learner saved as a directory of three files.
//!
//! * `weights.safetensors`: every variable under its network name (`policy.*`, `qf.*`, `qf_target.*`,
//!   `log_alpha`), f32.
//! * `optimizer.safetensors`: the Adam state of the three groups: `{var}.m`, `{var}.v` per variable and
//!   `qf.step`, `policy.step`, `log_alpha.step` (i64).
//! * `config.json`: [`CheckpointMeta`]: format version, dimensions, update count, the caller's mask and
//!   the hyperparameters.
//!
//! Each file is written to a temporary name and renamed, so a crash mid-save leaves the previous file
//! whole. Loading checks the dimensions (and the mask when the caller passes one) before touching any
//! tensor, then validates everything it reads: `config.json` must describe a learner that can be built,
//! `weights.safetensors` must hold exactly the tensors of that learner with their shapes, and every
//! value of both safetensors files must be finite. A truncated, corrupt or inconsistent file is a
//! [`LearnerError::CorruptFile`] naming the file and, where one is at fault, the tensor; nothing is
//! served from it.
//!
//! The random generator is not saved: a loaded learner reseeds from `seed` and the update count, so its
//! runs are reproducible but do not continue the saved stream.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::config::SacConfig;
use crate::error::{LearnerError, Result};
use crate::nets::named_vars;
use crate::sac_n::SacN;

/// Version of the directory layout; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;
/// File holding the network weights.
pub const WEIGHTS_FILE: &str = "weights.safetensors";
/// File holding the Adam state.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// File holding [`CheckpointMeta`].
pub const CONFIG_FILE: &str = "config.json";

/// Adam groups and the variable prefix each one owns.
const GROUPS: [&str; 3] = ["qf", "policy", "log_alpha"];

/// The contents of `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Observation dimension of the networks.
    pub obs_dim: usize,
    /// Action dimension `A` of the networks.
    pub act_dim: usize,
    /// Gradient updates done when saved.
    pub updates: u64,
    /// The caller's action mask, opaque to the learner (e.g. `[worker_start, worker_end)` per hot key);
    /// stored so a loader can refuse a model trained for another layout.
    pub mask: Vec<[usize; 2]>,
    /// Hyperparameters of the learner.
    pub sac: SacConfig,
}

/// What a loader expects of a checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// Required observation dimension.
    pub obs_dim: usize,
    /// Required action dimension.
    pub act_dim: usize,
    /// Required mask, or `None` to accept any.
    pub mask: Option<&'a [[usize; 2]]>,
}

fn io_error(path: &Path, source: std::io::Error) -> LearnerError {
    LearnerError::Io {
        path: path.to_owned(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl std::fmt::Display) -> LearnerError {
    LearnerError::CorruptFile {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| io_error(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

fn write_tensors(path: &Path, tensors: Vec<(String, Tensor)>) -> Result<()> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, t) in &tensors {
        let bytes: Vec<u8> = match t.dtype() {
            DType::F32 => t
                .flatten_all()?
                .to_vec1::<f32>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            DType::I64 => t
                .flatten_all()?
                .to_vec1::<i64>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            other => return Err(corrupt(path, format!("cannot save {name} of dtype {other:?}"))),
        };
        let dtype = if t.dtype() == DType::F32 {
            safetensors::Dtype::F32
        } else {
            safetensors::Dtype::I64
        };
        views.push((name.clone(), dtype, t.dims().to_vec(), bytes));
    }
    let owned: Vec<(String, safetensors::tensor::TensorView<'_>)> = views
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).map(|v| (name.clone(), v))
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| corrupt(path, e))?;
    let bytes = safetensors::serialize(owned, None).map_err(|e| corrupt(path, e))?;
    write_atomic(path, &bytes)
}

/// Reads every tensor of a safetensors file (f32 or i64); an f32 tensor holding a NaN or an infinity is
/// refused, naming it: such a weight would make every action NaN and such an Adam moment every update.
fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let bytes = fs::read(path).map_err(|e| io_error(path, e))?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| corrupt(path, e))?;
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        let shape = view.shape().to_vec();
        let t = match view.dtype() {
            safetensors::Dtype::F32 => {
                let v: Vec<f32> = view
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if let Some(index) = v.iter().position(|x| !x.is_finite()) {
                    return Err(corrupt(
                        path,
                        format!(
                            "tensor {name} holds a non-finite value ({}) at index {index}",
                            v[index]
                        ),
                    ));
                }
                Tensor::from_vec(v, shape, &Device::Cpu)
            }
            safetensors::Dtype::I64 => {
                let v: Vec<i64> = view
                    .data()
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect();
                Tensor::from_vec(v, shape, &Device::Cpu)
            }
            other => {
                return Err(corrupt(
                    path,
                    format!("tensor {name} has unsupported dtype {other:?}"),
                ));
            }
        };
        out.insert(name, t.map_err(|e| corrupt(path, e))?);
    }
    Ok(out)
}

/// Saves `sac` into `dir` (created if missing), with the caller's `mask` in `config.json`.
///
/// # Errors
///
/// [`LearnerError::Io`] naming the file that could not be written.
pub fn save(dir: &Path, sac: &SacN, mask: &[[usize; 2]]) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let weights: Vec<(String, Tensor)> = GROUPS
        .iter()
        .chain(std::iter::once(&"qf_target"))
        .flat_map(|prefix| named_vars(&sac.varmap, prefix))
        .map(|(name, var)| (name, var.as_tensor().clone()))
        .collect();
    write_tensors(&dir.join(WEIGHTS_FILE), weights)?;
    let mut optimizer = sac.qf_optimizer.state_tensors("qf")?;
    optimizer.extend(sac.policy_optimizer.state_tensors("policy")?);
    optimizer.extend(sac.alpha_optimizer.state_tensors("log_alpha")?);
    write_tensors(&dir.join(OPTIMIZER_FILE), optimizer)?;
    let meta = CheckpointMeta {
        format_version: FORMAT_VERSION,
        obs_dim: sac.obs_dim,
        act_dim: sac.act_dim,
        updates: sac.updates,
        mask: mask.to_vec(),
        sac: sac.config.clone(),
    };
    let path = dir.join(CONFIG_FILE);
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| corrupt(&path, e))?;
    write_atomic(&path, &json)
}

/// Reads `config.json` and checks it is whole, of this format version and describes a learner that can
/// be built (dimensions >= 1, valid hyperparameters), whatever its dimensions.
///
/// # Errors
///
/// [`LearnerError::Io`] or [`LearnerError::CorruptFile`] naming `config.json`;
/// [`LearnerError::CheckpointMismatch`] for another format version.
pub fn read_config(dir: &Path) -> Result<CheckpointMeta> {
    let path = dir.join(CONFIG_FILE);
    let bytes = fs::read(&path).map_err(|e| io_error(&path, e))?;
    let meta: CheckpointMeta = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
    if meta.format_version != FORMAT_VERSION {
        return Err(LearnerError::CheckpointMismatch {
            field: "format_version".into(),
            expected: FORMAT_VERSION.to_string(),
            found: meta.format_version.to_string(),
        });
    }
    for (field, dim) in [("obs_dim", meta.obs_dim), ("act_dim", meta.act_dim)] {
        if dim == 0 {
            return Err(corrupt(&path, format!("{field} = 0: must be >= 1")));
        }
    }
    meta.sac.validate().map_err(|e| corrupt(&path, e))?;
    Ok(meta)
}

/// Reads and checks `config.json` only.
///
/// # Errors
///
/// As [`read_config`]; [`LearnerError::CheckpointMismatch`] if a dimension or the mask differs from
/// `expected`.
pub fn read_meta(dir: &Path, expected: &Expected<'_>) -> Result<CheckpointMeta> {
    let meta = read_config(dir)?;
    let mismatch = |field: &str, expected: String, found: String| {
        Err(LearnerError::CheckpointMismatch {
            field: field.into(),
            expected,
            found,
        })
    };
    if meta.obs_dim != expected.obs_dim {
        return mismatch("obs_dim", expected.obs_dim.to_string(), meta.obs_dim.to_string());
    }
    if meta.act_dim != expected.act_dim {
        return mismatch("act_dim", expected.act_dim.to_string(), meta.act_dim.to_string());
    }
    if let Some(mask) = expected.mask
        && mask != meta.mask.as_slice()
    {
        return mismatch("mask", format!("{mask:?}"), format!("{:?}", meta.mask));
    }
    Ok(meta)
}

/// Loads a learner saved by [`save`], checking it against `expected`.
///
/// # Errors
///
/// As [`read_meta`]; then [`LearnerError::Io`] or [`LearnerError::CorruptFile`] naming the safetensors
/// file that is unreadable or truncated, lacks a tensor, holds one of the wrong shape, one that the
/// learner of `config.json` does not have, or a non-finite value (and naming that tensor).
pub fn load(dir: &Path, expected: &Expected<'_>) -> Result<(SacN, CheckpointMeta)> {
    let meta = read_meta(dir, expected)?;
    let mut sac =
        SacN::new(meta.obs_dim, meta.act_dim, &meta.sac).map_err(|e| corrupt(&dir.join(CONFIG_FILE), e))?;

    let path: PathBuf = dir.join(WEIGHTS_FILE);
    let weights = read_tensors(&path)?;
    let prefixes = GROUPS.iter().chain(std::iter::once(&"qf_target"));
    let vars: Vec<_> = prefixes.flat_map(|p| named_vars(&sac.varmap, p)).collect();
    // A tensor the configured learner lacks means config.json and the weights disagree (e.g. another
    // ensemble size): refuse rather than serve half of what was trained.
    let mut unexpected: Vec<&String> = weights
        .keys()
        .filter(|name| !vars.iter().any(|(n, _)| n == *name))
        .collect();
    unexpected.sort();
    if let Some(name) = unexpected.first() {
        return Err(corrupt(
            &path,
            format!("tensor {name} is not a variable of the learner in {CONFIG_FILE}"),
        ));
    }
    for (name, var) in vars {
        let t = weights
            .get(&name)
            .ok_or_else(|| corrupt(&path, format!("missing tensor {name}")))?;
        if t.dims() != var.dims() || t.dtype() != DType::F32 {
            return Err(corrupt(
                &path,
                format!(
                    "{name} is {:?} {:?}, expected F32 {:?}",
                    t.dtype(),
                    t.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(t)?;
    }

    let path = dir.join(OPTIMIZER_FILE);
    let state = read_tensors(&path)?;
    sac.qf_optimizer
        .load_state("qf", |k| state.get(k).cloned(), &path)?;
    sac.policy_optimizer
        .load_state("policy", |k| state.get(k).cloned(), &path)?;
    sac.alpha_optimizer
        .load_state("log_alpha", |k| state.get(k).cloned(), &path)?;

    sac.updates = meta.updates;
    // Reseed from (seed, updates): reproducible, and not a replay of the stream the run started with.
    sac.rng =
        Xoshiro256PlusPlus::seed_from_u64(meta.sac.seed ^ meta.updates.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    Ok((sac, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::random_batch;

    fn trained() -> SacN {
        let config = SacConfig {
            hidden_sizes: vec![16, 16],
            seed: 9,
            ..SacConfig::default()
        };
        let mut sac = SacN::new(5, 3, &config).unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        for _ in 0..3 {
            sac.update(&random_batch(&mut rng, 8, 5, 3)).unwrap();
        }
        sac
    }

    fn all_values(sac: &SacN) -> Vec<(String, Vec<f32>)> {
        ["policy", "qf", "qf_target", "log_alpha"]
            .iter()
            .flat_map(|p| named_vars(&sac.varmap, p))
            .map(|(n, v)| (n, v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect()
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sas-learner-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn round_trip_restores_weights_optimizer_and_meta() {
        let sac = trained();
        let dir = tempdir("round-trip");
        let mask = [[0, 2], [1, 3]];
        save(&dir, &sac, &mask).unwrap();
        let expected = Expected {
            obs_dim: 5,
            act_dim: 3,
            mask: Some(&mask),
        };
        let (loaded, meta) = load(&dir, &expected).unwrap();
        assert_eq!(all_values(&loaded), all_values(&sac));
        assert_eq!(meta.mask, mask.to_vec());
        assert_eq!((meta.updates, loaded.updates()), (3, 3));
        assert_eq!(&meta.sac, sac.config());
        for (a, b) in [
            (&loaded.qf_optimizer, &sac.qf_optimizer),
            (&loaded.policy_optimizer, &sac.policy_optimizer),
            (&loaded.alpha_optimizer, &sac.alpha_optimizer),
        ] {
            let (sa, sb) = (a.state_tensors("g").unwrap(), b.state_tensors("g").unwrap());
            assert_eq!(sa.len(), sb.len());
            for ((na, ta), (_, tb)) in sa.iter().zip(&sb) {
                assert_eq!(
                    ta.flatten_all().unwrap().to_string(),
                    tb.flatten_all().unwrap().to_string(),
                    "{na}"
                );
            }
            assert_eq!(a.step_count(), 3);
        }
        assert_eq!(loaded.snapshot().unwrap(), sac.snapshot().unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mismatches_are_refused_with_the_field() {
        let sac = trained();
        let dir = tempdir("mismatch");
        save(&dir, &sac, &[[0, 2]]).unwrap();
        let err = load(
            &dir,
            &Expected {
                obs_dim: 6,
                act_dim: 3,
                mask: None,
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "checkpoint obs_dim mismatch: checkpoint has 5, expected 6"
        );
        let err = load(
            &dir,
            &Expected {
                obs_dim: 5,
                act_dim: 3,
                mask: Some(&[[0, 3]]),
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, LearnerError::CheckpointMismatch { ref field, .. } if field == "mask"),
            "{err}"
        );
        assert!(
            load(
                &dir,
                &Expected {
                    obs_dim: 5,
                    act_dim: 3,
                    mask: None
                }
            )
            .is_ok()
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_or_truncated_files_are_errors_naming_the_file() {
        let sac = trained();
        let dir = tempdir("corrupt");
        let expected = Expected {
            obs_dim: 5,
            act_dim: 3,
            mask: None,
        };
        for file in [WEIGHTS_FILE, OPTIMIZER_FILE, CONFIG_FILE] {
            save(&dir, &sac, &[]).unwrap();
            let path = dir.join(file);
            let bytes = fs::read(&path).unwrap();
            fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            let err = load(&dir, &expected).unwrap_err();
            assert!(matches!(err, LearnerError::CorruptFile { .. }), "{file}: {err}");
            assert!(err.to_string().contains(file), "{err}");
        }
        save(&dir, &sac, &[]).unwrap();
        fs::remove_file(dir.join(WEIGHTS_FILE)).unwrap();
        let err = load(&dir, &expected).unwrap_err();
        assert!(
            matches!(err, LearnerError::Io { .. }) && err.to_string().contains(WEIGHTS_FILE),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Saves `trained()` into a fresh `dir`, rewrites the tensors of `file` through `edit` (sorted by
    /// name) and returns what loading it says.
    fn load_edited(name: &str, file: &str, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) -> LearnerError {
        let dir = tempdir(name);
        save(&dir, &trained(), &[]).unwrap();
        let path = dir.join(file);
        let mut tensors: Vec<(String, Tensor)> = read_tensors(&path).unwrap().into_iter().collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        edit(&mut tensors);
        write_tensors(&path, tensors).unwrap();
        let expected = Expected {
            obs_dim: 5,
            act_dim: 3,
            mask: None,
        };
        let err = load(&dir, &expected).map(|_| ()).unwrap_err();
        fs::remove_dir_all(&dir).unwrap();
        err
    }

    /// `t` with `value` at flat index `index`.
    fn poisoned(t: &Tensor, index: usize, value: f32) -> Tensor {
        let mut v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        v[index] = value;
        Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap()
    }

    #[test]
    fn non_finite_weights_are_refused_naming_the_file_and_the_tensor() {
        let err = load_edited("nan-weights", WEIGHTS_FILE, |tensors| {
            let (_, t) = tensors.iter_mut().find(|(n, _)| n == "log_alpha").unwrap();
            *t = poisoned(t, 0, f32::NAN);
        });
        let message = err.to_string();
        assert!(matches!(err, LearnerError::CorruptFile { .. }), "{message}");
        assert!(
            message.contains(WEIGHTS_FILE) && message.contains("log_alpha") && message.contains("NaN"),
            "{message}"
        );

        let err = load_edited("inf-weights", WEIGHTS_FILE, |tensors| {
            let (_, t) = tensors.iter_mut().find(|(n, _)| n.starts_with("qf.")).unwrap();
            *t = poisoned(t, 2, f32::INFINITY);
        });
        assert!(
            err.to_string().contains("non-finite value (inf) at index 2"),
            "{err}"
        );

        let err = load_edited("nan-adam", OPTIMIZER_FILE, |tensors| {
            let (_, t) = tensors.iter_mut().find(|(n, _)| n.ends_with(".v")).unwrap();
            *t = poisoned(t, 0, f32::NAN);
        });
        assert!(err.to_string().contains(OPTIMIZER_FILE), "{err}");
    }

    #[test]
    fn tensors_must_be_exactly_those_config_json_describes() {
        let err = load_edited("wrong-shape", WEIGHTS_FILE, |tensors| {
            let (_, t) = tensors
                .iter_mut()
                .find(|(n, _)| n.starts_with("policy."))
                .unwrap();
            *t = Tensor::zeros((1, 2), DType::F32, &Device::Cpu).unwrap();
        });
        assert!(
            err.to_string().contains(WEIGHTS_FILE) && err.to_string().contains("expected F32"),
            "{err}"
        );

        let err = load_edited("missing", WEIGHTS_FILE, |tensors| {
            tensors.retain(|(n, _)| !n.starts_with("qf_target."));
        });
        assert!(err.to_string().contains("missing tensor qf_target."), "{err}");

        let err = load_edited("unexpected", WEIGHTS_FILE, |tensors| {
            let extra = Tensor::zeros((2, 2), DType::F32, &Device::Cpu).unwrap();
            tensors.push(("qf.9.fc1.weight".into(), extra));
        });
        assert!(
            err.to_string()
                .contains("tensor qf.9.fc1.weight is not a variable of the learner in config.json"),
            "{err}"
        );
    }

    #[test]
    fn config_json_must_describe_a_learner_the_weights_fit() {
        let expected = Expected {
            obs_dim: 5,
            act_dim: 3,
            mask: None,
        };
        let dir = tempdir("config-valid");
        let rewrite = |edit: &dyn Fn(&mut CheckpointMeta)| {
            save(&dir, &trained(), &[]).unwrap();
            let mut meta = read_config(&dir).unwrap();
            edit(&mut meta);
            fs::write(dir.join(CONFIG_FILE), serde_json::to_vec(&meta).unwrap()).unwrap();
            load(&dir, &expected).map(|_| ()).unwrap_err().to_string()
        };
        // Hidden sizes other than the weights': the shape check names the first tensor that differs.
        let err = rewrite(&|m| m.sac.hidden_sizes = vec![16, 8]);
        assert!(
            err.contains(WEIGHTS_FILE) && err.contains("expected F32"),
            "{err}"
        );
        let err = rewrite(&|m| m.sac.gamma = 1.5);
        assert!(err.contains(CONFIG_FILE) && err.contains("gamma"), "{err}");
        let err = rewrite(&|m| m.act_dim = 0);
        assert!(err.contains(CONFIG_FILE) && err.contains("act_dim = 0"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
