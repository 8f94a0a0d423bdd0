#!/usr/bin/env bash
# Calibration of the merge cost (docs/results.md "Merge cost"): for each task, the time the job's aggregate
# function spends adding one record and merging one partial, on one window of the equal-capacity scenario
# dealt out round-robin over 16 workers; their ratio is the task's `capacity.partial_cost`.
#
# Usage: bin/bench-task-cost.sh [rounds (default 200)]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
build_job_benchmarks
mvn -B -q -f flink-job/pom.xml -pl job exec:exec@bench-task-cost -Dbench.rounds="${1:-200}"
