#!/usr/bin/env bash
# Builds everything and runs the whole loop on the embedded MiniCluster, small enough for about ten minutes
# on 2 cores (WordCount on Zipf(1.5) keys, 16 emulated workers, params/throughput-zipf1.5-p16.yaml):
#   1. offline collection: dalton-offline routes the job while the agent records transitions;
#   2. offline training: CQL-N on them → a checkpoint and its learning curve;
#   3. pretraining: SAC-N in the simulator of the same params' world (workers, keys, mask) → a checkpoint;
#   4. online training: the agent serves the simulator's checkpoint and trains SAC-N on the live job
#      (not the offline one: ~200 live transitions are too few, see docs/modes.md);
#   5. throughput tests of hash, w-choices, dalton-original and saspartitioner (the agent serving the
#      online checkpoint deterministically), one table and one chart.
# Everything lands in results/quickstart/ (summary.csv, throughput.png, each step's files and logs).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
need cargo "install Rust with rustup"
need mvn "install Maven 3 (Debian: apt-get install maven)"
need java "install a JDK 17 (Debian: apt-get install openjdk-17-jdk)"

PARAMS=params/throughput-zipf1.5-p16.yaml
OUT=results/quickstart
# Collection and online training at 70 % of the total emulated capacity (16 × 750 records/s) for about
# 40 s, with 200 ms agent steps.
LIVE=(--set records=340000 --set source_rate=8400 --set agent.interval_ms=200)

cargo build --release --workspace
build_artifacts
rm -rf "$OUT"
mkdir -p "$OUT"
started=$SECONDS
step() { echo; echo "== [$((SECONDS - started)) s] $*"; }

step "1/5 offline collection (dalton-offline behaviour, ~40 s)"
bin/collect-offline.sh "$PARAMS" --out "$OUT/collect" "${LIVE[@]}"

step "2/5 offline training (CQL-N on the collected transitions)"
bin/train-offline.sh "$OUT/collect/dataset" --out "$OUT/offline-checkpoint" --updates 300 --bc-steps 50 \
  --eval-every 100

step "3/5 pretraining in the simulator of the params' world (SAC-N, 4000 steps, ~1 min)"
train_sim_policy "$PARAMS" 4000 "$OUT/sim-checkpoint"

step "4/5 online training (SAC-N on the live job from the simulator's policy, ~40 s)"
bin/train-online.sh "$PARAMS" --checkpoint "$OUT/sim-checkpoint" --out "$OUT/online" "${LIVE[@]}"

step "5/5 throughput tests (rate ramp to back-pressure)"
bin/sweep-baselines.sh "$PARAMS" --partitioners hash,w-choices,dalton-original,saspartitioner \
  --checkpoint "$OUT/online/checkpoint" --out "$OUT" \
  --start-fraction 0.5 --stage-ms 3000 --warmup-ms 800 --bisect-steps 2 --latency-ms 4000

step "done: table $OUT/summary.csv, plot $OUT/throughput.png"
