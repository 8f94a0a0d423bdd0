//! `sas-agent train-offline`: CQL-N on an offline dataset, written as a checkpoint with its learning
//! curve, and the learned policy measured in the simulator that produced the data.
//!
//! The loop, top to bottom:
//!
//! ```text
//! load every transition into the replay buffer (which converts its env-space action to policy space once)
//! for update in 1..=updates:
//!     batch   <- uniform sample of the dataset
//!     CqlN::update(batch)              (behaviour cloning for the first bc_steps updates)
//!     every eval_every updates: the deterministic policy's λ in the simulator, a curve row, a checkpoint
//! ```
//!
//! Sampling is uniform (the replay's priority exponent is 0): CQL's penalty is an expectation over the
//! dataset's distribution, which prioritized sampling would distort.
//!
//! The checkpoint is saved at every evaluation point, so an interrupted run keeps its progress; the curve
//! (`learning_curve.csv`, `learning_curve.png`) lands next to it.

use crate::env::sim::{SimConfig, initial_imbalance};
use crate::offline::{self, DatasetReader, Meta};
use crate::plot::{self, Series};
use crate::simulate::evaluate;
use anyhow::Context;
use sas_learner::checkpoint;
use sas_learner::config::CqlConfig;
use sas_learner::cql_n::CqlN;
use sas_learner::replay::PrioritizedReplay;
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Name of the learning-curve table in the checkpoint directory.
pub const CURVE_CSV: &str = "learning_curve.csv";
/// Name of the learning-curve plot in the checkpoint directory.
pub const CURVE_PNG: &str = "learning_curve.png";

/// What to train and where.
#[derive(Debug, Clone)]
pub struct TrainOfflineConfig {
    /// Dataset directory (`meta.json` + `transitions.jsonl`).
    pub data: PathBuf,
    /// Checkpoint directory (created; files already there are replaced).
    pub out: PathBuf,
    /// Gradient updates.
    pub updates: u64,
    /// Updates between two evaluations (curve points and checkpoints).
    pub eval_every: u64,
    /// Simulator steps of one evaluation of the deterministic policy.
    pub eval_steps: u64,
    /// CQL-N hyperparameters.
    pub cql: CqlConfig,
    /// A checkpoint to start from (e.g. a policy trained in the simulator by `sas-agent simulate --out`)
    /// instead of fresh networks; its dimensions and mask must be the dataset's. Its own SAC-N settings
    /// are kept.
    pub init: Option<PathBuf>,
    /// Show a progress bar.
    pub progress: bool,
}

/// The `--json` summary. Field names are the contract.
#[derive(Debug, Clone, Serialize)]
pub struct TrainOfflineSummary {
    /// Transitions in the dataset.
    pub transitions: u64,
    /// Gradient updates done.
    pub updates: u64,
    /// Mean λ of the behaviour policy over the dataset's steps (recorded by the producer).
    pub behaviour_imbalance: f64,
    /// Mean λ of the learned deterministic policy in the producer's simulated world (`null` when the
    /// data did not come from the simulator).
    pub offline_policy_imbalance: Option<f64>,
    /// Mean λ of the initial table in the same world (`null` as above).
    pub initial_imbalance: Option<f64>,
    /// Conservative penalty at the end (mean over the last evaluation period).
    pub final_cql_loss: f64,
    /// Wall-clock seconds of training (evaluations included).
    pub seconds: f64,
    /// Gradient updates per second.
    pub updates_per_s: f64,
    /// The checkpoint directory.
    pub checkpoint: PathBuf,
    /// The learning-curve table.
    pub curve_csv: PathBuf,
    /// The learning-curve plot.
    pub curve_png: PathBuf,
}

/// The simulated world a dataset was recorded in, when its producer says so (`collect-sim` does).
///
/// # Errors
/// A `producer.sim` that is present but not a valid simulator configuration.
pub fn producer_sim(meta: &Meta, data: &Path) -> anyhow::Result<Option<SimConfig>> {
    let Some(sim) = meta.producer.as_ref().and_then(|p| p.get("sim")) else {
        return Ok(None);
    };
    let config: SimConfig = serde_json::from_value(sim.clone()).with_context(|| {
        format!(
            "{}: `producer.sim` is not a simulator configuration",
            data.join(offline::META_FILE).display()
        )
    })?;
    config.validate()?;
    Ok(Some(config))
}

/// Loss means over one evaluation period.
#[derive(Debug, Default)]
struct Running {
    n: u32,
    qf: f64,
    actor: f64,
    cql: f64,
    alpha: f64,
}

impl Running {
    fn add(&mut self, metrics: &[(&str, f32)]) {
        self.n += 1;
        for &(name, v) in metrics {
            let v = f64::from(v);
            match name {
                "losses/qf_loss" => self.qf += v,
                "losses/actor_loss" => self.actor += v,
                "losses/cql_loss" => self.cql += v,
                "losses/alpha" => self.alpha += v,
                _ => {}
            }
        }
    }

    fn means(&self) -> [f64; 4] {
        let n = f64::from(self.n.max(1));
        [self.qf / n, self.actor / n, self.cql / n, self.alpha / n]
    }
}

/// Trains, checkpoints and evaluates.
///
/// # Errors
/// A bad setting (named), an unreadable dataset (file and line named), a learner failure, or a file
/// that cannot be written; checkpoints saved before a failure stay on disk.
pub fn run(config: &TrainOfflineConfig) -> anyhow::Result<TrainOfflineSummary> {
    anyhow::ensure!(config.updates > 0, "invalid `updates` = 0: must be > 0");
    anyhow::ensure!(config.eval_every > 0, "invalid `eval_every` = 0: must be > 0");
    config.cql.validate()?;
    let reader = DatasetReader::open(&config.data)?;
    let meta = reader.meta().clone();
    let sim = producer_sim(&meta, &config.data)?;
    let s = &config.cql.sac;

    let (mut data, mut behaviour_sum) = (Vec::new(), 0.0);
    for t in reader {
        let t = t?;
        behaviour_sum += t.imbalance;
        data.push(t);
    }
    let transitions = data.len() as u64;
    anyhow::ensure!(
        transitions as usize >= s.batch_size,
        "{}: {transitions} transitions, fewer than one batch (`batch_size` = {})",
        config.data.join(offline::TRANSITIONS_FILE).display(),
        s.batch_size
    );
    // Uniform sampling: priority exponent 0, importance weights all 1.
    let mut replay =
        PrioritizedReplay::new(meta.obs_dim, meta.action_dim, data.len(), 0.0, 0.0, 1.0, s.seed)?;
    for t in &data {
        replay.push(t)?;
    }
    drop(data);

    std::fs::create_dir_all(&config.out).with_context(|| format!("create {}", config.out.display()))?;
    let curve_csv = config.out.join(CURVE_CSV);
    let mut csv =
        BufWriter::new(File::create(&curve_csv).with_context(|| format!("create {}", curve_csv.display()))?);
    writeln!(csv, "update,qf_loss,actor_loss,cql_loss,alpha,policy_imbalance")?;

    let mut learner = match &config.init {
        None => CqlN::new(meta.obs_dim, meta.action_dim, &config.cql)?,
        Some(dir) => {
            let (sac, _) = checkpoint::load(
                dir,
                &checkpoint::Expected {
                    obs_dim: meta.obs_dim,
                    act_dim: meta.action_dim,
                    mask: Some(&meta.mask),
                },
            )
            .with_context(|| format!("--init {}", dir.display()))?;
            CqlN::from_sac(sac, &config.cql)?
        }
    };
    let bar = crate::progress::bar(
        config.progress,
        config.updates,
        "train-offline [{bar:40}] {pos}/{len} updates ({eta}) {msg}",
    );
    let started = Instant::now();
    let mut running = Running::default();
    let mut curve = Vec::new();
    let mut last_cql = 0.0;
    for update in 1..=config.updates {
        let batch = replay.sample(s.batch_size)?;
        let stats = learner.update(&batch)?;
        running.add(&stats.metrics());
        bar.inc(1);
        if update % config.eval_every == 0 || update == config.updates {
            let lambda = match &sim {
                Some(sim) => Some(evaluate(sim, &learner.sac().snapshot()?, config.eval_steps)?),
                None => None,
            };
            let [qf, actor, cql, alpha] = running.means();
            last_cql = cql;
            writeln!(
                csv,
                "{update},{qf},{actor},{cql},{alpha},{}",
                lambda.map_or(String::new(), |l| l.to_string())
            )?;
            csv.flush()?;
            if let Some(l) = lambda {
                curve.push((update as f64, l));
                bar.set_message(format!("λ {l:.3}"));
            }
            checkpoint::save(&config.out, learner.sac(), &meta.mask)?;
            running = Running::default();
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();

    let behaviour_imbalance = behaviour_sum / transitions as f64;
    let (offline_policy_imbalance, initial) = match &sim {
        Some(sim) => (
            Some(evaluate(sim, &learner.sac().snapshot()?, config.eval_steps)?),
            Some(initial_imbalance(sim, config.eval_steps)?),
        ),
        None => (None, None),
    };
    let curve_png = config.out.join(CURVE_PNG);
    plot_curve(
        &curve_png,
        &curve,
        behaviour_imbalance,
        initial,
        &csv_losses(&curve_csv)?,
    )?;
    Ok(TrainOfflineSummary {
        transitions,
        updates: config.updates,
        behaviour_imbalance,
        offline_policy_imbalance,
        initial_imbalance: initial,
        final_cql_loss: last_cql,
        seconds,
        updates_per_s: config.updates as f64 / seconds.max(1e-9),
        checkpoint: config.out.clone(),
        curve_csv,
        curve_png,
    })
}

/// `(update, qf_loss)` rows of the curve table, for the plot.
fn csv_losses(path: &Path) -> anyhow::Result<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cells = line.split(',');
            Some((cells.next()?.parse().ok()?, cells.next()?.parse().ok()?))
        })
        .collect())
}

/// The policy's λ against the behaviour's and the initial table's (flat references), and the critic
/// loss when there is no simulator to evaluate in.
fn plot_curve(
    path: &Path,
    policy: &[(f64, f64)],
    behaviour: f64,
    initial: Option<f64>,
    qf_loss: &[(f64, f64)],
) -> anyhow::Result<()> {
    if policy.is_empty() {
        plot::line_chart(
            path,
            "CQL-N offline training",
            "gradient updates",
            "critic loss",
            &[Series {
                label: "qf_loss".into(),
                points: qf_loss.to_vec(),
            }],
        )?;
        return Ok(());
    }
    let span = [policy[0].0, policy[policy.len() - 1].0];
    let flat = |label: &str, y: f64| Series {
        label: label.into(),
        points: span.iter().map(|&x| (x, y)).collect(),
    };
    let mut series = vec![
        Series {
            label: "offline policy (deterministic)".into(),
            points: policy.to_vec(),
        },
        flat("behaviour (dataset mean)", behaviour),
    ];
    series.extend(initial.map(|y| flat("initial table", y)));
    plot::line_chart(
        path,
        "CQL-N offline training: λ of busy time in the simulator",
        "gradient updates",
        "imbalance λ",
        &series,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{self, CollectConfig};

    fn small_dataset(dir: &Path) -> PathBuf {
        let out = dir.join("off");
        collect::run(&CollectConfig {
            sim: SimConfig {
                workers: 8,
                records_per_step: 4_000,
                episode_length: 16,
                capacity_spread: 0.3,
                seed: 5,
                ..SimConfig::default()
            },
            steps: 64,
            out: out.clone(),
            progress: false,
        })
        .unwrap();
        out
    }

    fn small_config(data: PathBuf, out: PathBuf) -> TrainOfflineConfig {
        let mut cql = CqlConfig {
            bc_steps: 4,
            num_random_actions: 2,
            num_policy_actions: 2,
            ..CqlConfig::default()
        };
        cql.sac.hidden_sizes = vec![32, 32];
        cql.sac.batch_size = 16;
        TrainOfflineConfig {
            data,
            out,
            updates: 10,
            eval_every: 5,
            eval_steps: 3,
            cql,
            init: None,
            progress: false,
        }
    }

    #[test]
    fn training_can_continue_from_a_checkpoint_of_the_same_layout() {
        let dir = tempfile::tempdir().unwrap();
        let data = small_dataset(dir.path());
        let first = small_config(data.clone(), dir.path().join("first"));
        run(&first).unwrap();
        let mut second = small_config(data.clone(), dir.path().join("second"));
        second.init = Some(first.out.clone());
        run(&second).unwrap();
        let saved = checkpoint::read_config(&second.out).unwrap();
        assert_eq!(saved.updates, 20, "10 updates on top of the 10 loaded");

        // A checkpoint of another layout is refused, naming it.
        let other = dir.path().join("other");
        let sac = sas_learner::sac_n::SacN::new(3, 2, &first.cql.sac).unwrap();
        checkpoint::save(&other, &sac, &[[0, 2]]).unwrap();
        let mut bad = small_config(data, dir.path().join("bad"));
        bad.init = Some(other.clone());
        let e = format!("{:#}", run(&bad).unwrap_err());
        assert!(e.contains("--init") && e.contains("other"), "{e}");
    }

    #[test]
    fn writes_a_loadable_checkpoint_and_its_curve() {
        let dir = tempfile::tempdir().unwrap();
        let data = small_dataset(dir.path());
        let config = small_config(data.clone(), dir.path().join("ckpt"));
        let summary = run(&config).unwrap();
        assert_eq!((summary.transitions, summary.updates), (64, 10));
        assert!(summary.offline_policy_imbalance.is_some_and(f64::is_finite));
        let meta = DatasetReader::open(&data).unwrap().meta().clone();
        let (sac, saved) = checkpoint::load(
            &config.out,
            &checkpoint::Expected {
                obs_dim: meta.obs_dim,
                act_dim: meta.action_dim,
                mask: Some(&meta.mask),
            },
        )
        .unwrap();
        assert_eq!((sac.updates(), saved.updates), (10, 10));
        let csv = std::fs::read_to_string(&summary.curve_csv).unwrap();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(
            rows[0],
            "update,qf_loss,actor_loss,cql_loss,alpha,policy_imbalance"
        );
        assert_eq!(rows.len(), 3, "one row per evaluation: {csv}");
        assert!(rows[2].starts_with("10,"));
        let png = std::fs::read(&summary.curve_png).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        // Same data, same seed: same weights.
        let again = run(&small_config(data, dir.path().join("again"))).unwrap();
        assert_eq!(again.offline_policy_imbalance, summary.offline_policy_imbalance);
    }

    #[test]
    fn too_little_data_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = small_dataset(dir.path());
        let mut config = small_config(data, dir.path().join("ckpt"));
        config.cql.sac.batch_size = 1000;
        let e = run(&config).unwrap_err().to_string();
        assert!(e.contains("transitions.jsonl") && e.contains("batch_size"), "{e}");
    }
}
