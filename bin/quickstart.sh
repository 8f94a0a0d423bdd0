#!/usr/bin/env bash
# Builds everything and runs the main job on the default (embedded) setting.
#
# Today the main job is the offline evaluator: a seeded Zipf(1.5) stream of 2 M records over 100 000 keys
# replayed through every partitioner on 32 workers, printed as a comparison table. The Flink pipeline
# replaces it as the Flink job lands. Extra arguments go to `sas-agent eval-routers`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
need cargo "install Rust with rustup"

cargo build --release --workspace
echo
echo "Replaying Zipf(1.5), 2 M records, 100 000 keys, 32 workers through every partitioner:"
echo
target/release/sas-agent eval-routers --workload zipf --alpha 1.5 --keys 100000 --records 2000000 \
  --workers 32 --seed 7 "$@"
