//! The SaS agent: the gRPC agent server, the offline evaluator of routers, the learners' environment
//! (simulator and the shared observation and reward code) and offline datasets.
//!
//! # Layout
//!
//! * [`eval`]: replays a generated stream through partitioners of the router core and measures balance
//!   (λ, NMAD), hot-key fragmentation and routing time per record.
//! * [`table`]: plain-text tables for the terminal.
//! * [`env`](mod@env): the [`Environment`](env::Environment) trait the learners act in (env-space actions,
//!   truncation-only episodes); [`env::features`], the one code path for observations and rewards (live,
//!   simulated and offline); [`env::sim`], the simulator over the router core's `saspartitioner`.
//! * [`offline`]: the offline dataset format (`meta.json` + `transitions.jsonl`), its writer and reader.
//! * [`collect`]: records an offline dataset in the simulator under the `dalton-offline` behaviour policy.
//! * [`train_offline`]: CQL-N on an offline dataset → checkpoint, learning curve, simulated λ.
//! * [`simulate`]: online SAC-N in the simulator.
//! * [`plot`]: PNG line and bar charts; [`plot_sweep`] draws a baseline sweep's `summary.csv`.
//! * [`plot_matrix`]: the scenario matrix's `matrix.csv` grouped per (scenario, partitioner), its table
//!   and its chart (a panel per scenario).
//! * [`soak`]: many fake jobs held against an agent for minutes (`sas-agent soak`): reply latency,
//!   tables lost, resident memory.
//! * [`server`]: the gRPC agent (`sas.v1.Agent` from `proto/`, reached through [`pb`]) beside
//!   `grpc.health.v1` and `/metrics`; [`coordinator`] assembles steps from reports (deadlines and
//!   imputation included); [`policy`] is what answers a step, at once; `shutdown` fans one signal out.
//!
//! The `sas-agent` binary (`src/bin/sas-agent/`) only parses the command line, dispatches and maps errors to
//! exit codes.

#![deny(missing_docs)]

pub mod bench_cmd;
pub mod collect;
pub mod coordinator;
pub mod env;
pub mod eval;
pub mod fake_job;
pub mod offline;
pub mod params_cmd;
pub mod pb;
pub mod plot;
pub mod plot_matrix;
pub mod plot_sweep;
pub mod policy;
pub mod progress;
pub mod sac_policy;
pub mod serve_cmd;
pub mod server;
pub mod shift_report;
mod shutdown;
pub mod simulate;
pub mod soak;
pub mod table;
pub mod train_offline;
