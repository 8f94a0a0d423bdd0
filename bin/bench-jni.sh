#!/usr/bin/env bash
# Benchmark: records/s of a saturated Flink job routed by keyBy against the same job routed by the Rust
# router through JNI (embedded MiniCluster, runs interleaved, medians).
#
# Usage: bin/bench-jni.sh [records (default 20000000)] [rounds (default 3)]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
need cargo "install Rust with rustup"
need mvn "install Maven 3"
cargo build --release --workspace
# The job module resolves the loader and API jars from the local repository when run alone.
mvn -B -q -f flink-job/pom.xml -pl native-loader,api -am install -DskipTests -Dexec.skip=true
mvn -B -q -f flink-job/pom.xml test-compile -DskipTests
mvn -B -q -f flink-job/pom.xml -pl job exec:exec@bench-jni \
  -Dbench.records="${1:-20000000}" -Dbench.rounds="${2:-3}"
