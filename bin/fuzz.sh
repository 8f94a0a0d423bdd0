#!/usr/bin/env bash
# Fuzzing campaign (minutes; not part of bin/test.sh, which runs a short seeded slice of each target):
# mutated params files, saspartitioner actions, offline datasets, gRPC requests to the agent's handlers
# and checkpoint directories, 10 million inputs in all by default. A panic is reported with its input
# (saved under results/fuzz-crashes/); an abort (failed allocation, stack overflow) ends the target's
# process and fails the campaign too.
#
# Usage: bin/fuzz.sh [seed (default 0)] [scale (default 1: 10 million inputs; 0.1 for a quick run)]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
need cargo "install Rust with rustup"
seed=${1:-0}
scale=${2:-1}
[[ $seed =~ ^[0-9]+$ ]] || die "seed: not a whole number: $seed"
[[ $scale =~ ^[0-9]*\.?[0-9]+$ ]] || die "scale: not a number: $scale"
cargo build --release -p sas-fuzz

# Inputs per target: the cheap decoders get the most (about 10 million in all at scale 1).
budgets=("params 300000" "action 700000" "checkpoint 200000" "dataset 4400000" "grpc 4400000")
failed=0
total=0
for entry in "${budgets[@]}"; do
  read -r target execs <<<"$entry"
  execs=$(awk -v n="$execs" -v s="$scale" 'BEGIN { printf "%d", n * s }')
  total=$((total + execs))
  echo "== $target: $execs inputs, seed $seed"
  if ! target/release/sas-fuzz --target "$target" --execs "$execs" --seed "$seed"; then
    echo "== $target: FAILED (a crash above, or the process aborted)" >&2
    failed=1
  fi
done
echo "== $total inputs in all"
exit $failed
