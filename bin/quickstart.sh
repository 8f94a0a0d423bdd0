#!/usr/bin/env bash
# Builds everything and runs the main jobs on the embedded default:
#   1. the offline evaluator: a seeded Zipf(1.5) stream of 2 M records over 100 000 keys replayed through
#      every partitioner on 32 workers, one comparison table;
#   2. the Flink WordCount job on an embedded MiniCluster, routed by the Rust router (w-choices) through
#      JNI, with its summary (records in, results out, records per worker, λ).
# Extra arguments go to `sas-agent eval-routers`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
need cargo "install Rust with rustup"
need mvn "install Maven 3 (Debian: apt-get install maven)"
need java "install a JDK 17 (Debian: apt-get install openjdk-17-jdk)"

cargo build --release --workspace
build_artifacts
echo
echo "== Every partitioner on Zipf(1.5), 2 M records, 100 000 keys, 32 workers (offline evaluator)"
echo
target/release/sas-agent eval-routers --workload zipf --alpha 1.5 --keys 100000 --records 2000000 \
  --workers 32 --seed 7 "$@"
echo
echo "== Flink WordCount on an embedded MiniCluster, routed by w-choices through JNI (params/wordcount-zipf.yaml)"
echo
run_embedded "$(pwd)/params/wordcount-zipf.yaml" --partitioner w-choices
