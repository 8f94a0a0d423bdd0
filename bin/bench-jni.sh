#!/usr/bin/env bash
# Benchmark: records/s of a saturated Flink job routed by keyBy against the same job routed by the Rust
# router through JNI (embedded MiniCluster, runs interleaved, medians).
#
# Usage: bin/bench-jni.sh [records (default 20000000)] [rounds (default 3)]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
build_job_benchmarks
mvn -B -q -f flink-job/pom.xml -pl job exec:exec@bench-jni \
  -Dbench.records="${1:-20000000}" -Dbench.rounds="${2:-3}"
