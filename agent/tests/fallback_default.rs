//! The routers' fallback (what they route with while the agent is away) defaults to the best count
//! balancer of the offline evaluator: on the evaluator's own experiment (`params/eval-routers.yaml`,
//! Zipf(1.5), P = 32), no baseline balances record counts clearly better than the default fallback, and
//! key grouping (`hash`, the fallback before) is far worse.

use sas_agent::eval::{self, EvalConfig};
use sas_router::params::{AgentLinkConfig, Params};
use sas_router::partitioner::NAMES;
use std::path::Path;

#[test]
fn the_default_fallback_is_the_best_count_balancer_of_the_evaluator() {
    let fallback = AgentLinkConfig::default().fallback;
    let yaml = include_str!("../../params/eval-routers.yaml");
    // A fifth of the evaluator's stream keeps the test short; the order of the balancers holds.
    let params = Params::parse_with(yaml, "eval-routers.yaml", Path::new("."), &["records=400000"]).unwrap();
    // Every baseline: saspartitioner needs the agent the fallback stands in for.
    let baselines: Vec<String> = NAMES
        .iter()
        .filter(|&&n| n != "saspartitioner")
        .map(|n| n.to_string())
        .collect();
    let reports = eval::run(&EvalConfig::from_params(&params, baselines, false)).unwrap();
    let imbalance = |name: &str| {
        reports
            .iter()
            .find(|r| r.partitioner == name)
            .unwrap_or_else(|| panic!("{name} was evaluated"))
            .imbalance
    };
    let (best, best_imbalance) = reports
        .iter()
        .map(|r| (r.partitioner.as_str(), r.imbalance))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let ours = imbalance(&fallback);
    // λ of a near-perfect balancer is a few 1e-4, so "clearly better" is a factor, with a floor.
    assert!(
        ours <= (2.0 * best_imbalance).max(1e-3),
        "the default fallback {fallback} has λ {ours}, the best baseline {best} {best_imbalance}"
    );
    assert!(
        ours * 100.0 < imbalance("hash"),
        "{fallback} λ {ours}, hash {}",
        imbalance("hash")
    );
}
