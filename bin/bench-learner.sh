#!/usr/bin/env bash
# Benchmark: our SAC-N update (`sas-agent bench --json`: O = 256, A = 137, E = 2, batch 128, 256-256, the
# learner's 2 threads) and, with --with-torch, the same update in PyTorch 2.5.1 (bin/torch_sac_n.py, 2
# threads), run by turns in the same sitting. Prints each run, then the medians with [min-max] of updates/s,
# single-observation forward p50 and their ratios, and the CPU. On a shared machine only a ratio measured
# in the same run means anything.
#
# Usage: bin/bench-learner.sh [--with-torch] [--runs N (3)] [--updates N (300)] [--steps N (500)]
#   --with-torch  also run PyTorch; installs torch==2.5.1 into .cache/torch-venv on first use (about 5 GB:
#                 the CPU-only wheel is not on PyPI, so pip brings the CUDA libraries along, unused)
#   --steps       steps of the gRPC reply-latency measurement that `sas-agent bench` runs first
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"

with_torch=false
runs=3
updates=300
steps=500
while [ $# -gt 0 ]; do
  case "$1" in
    --with-torch) with_torch=true ;;
    --runs) runs=${2:?}; shift ;;
    --updates) updates=${2:?}; shift ;;
    --steps) steps=${2:?}; shift ;;
    *) die "arguments: unknown option $1 (see the usage at the top of $0)" ;;
  esac
  shift
done

TORCH_VENV=.cache/torch-venv

# Creates the PyTorch virtual environment unless it already holds torch 2.5.1.
ensure_torch() {
  if "$TORCH_VENV/bin/python" -W ignore -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.5.1")' \
      2>/dev/null; then
    return
  fi
  need python3 "install Python 3 with the venv module"
  echo "installing torch==2.5.1 into $TORCH_VENV (about 5 GB) ..." >&2
  python3 -m venv "$TORCH_VENV" || die "ensure_torch: python3 -m venv $TORCH_VENV failed"
  "$TORCH_VENV/bin/pip" install -q torch==2.5.1 || die "ensure_torch: pip install torch==2.5.1 failed"
}

# The CPU model as /proc/cpuinfo names it, with family/model and whether it has AVX-512.
cpu_model() {
  local name family model avx512
  name=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  family=$(awk -F': ' '/^cpu family/ {print $2; exit}' /proc/cpuinfo)
  model=$(awk -F': ' '/^model\t/ {print $2; exit}' /proc/cpuinfo)
  avx512=$(grep -qw avx512f /proc/cpuinfo && echo "AVX-512" || echo "no AVX-512")
  echo "$name (family $family, model $model, $avx512, $(nproc) CPUs)"
}

# Median and [min-max] of the numbers on stdin, one a line.
summary() {
  sort -g | awk '{v[NR] = $1} END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.3g [%.3g-%.3g]", m, v[1], v[NR] }'
}

need cargo "install Rust with rustup"
need jq "install jq"
cargo build --release -p sas-agent --bin sas-agent || die "build: cargo build failed"
if $with_torch; then
  ensure_torch
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "CPU: $(cpu_model)"
for run in $(seq 1 "$runs"); do
  ours=$(target/release/sas-agent bench --json --updates "$updates" --steps "$steps") \
    || die "run $run: sas-agent bench failed"
  ours_ups=$(jq -r .updates_per_s <<<"$ours")
  ours_fwd=$(jq -r .forward_p50_us <<<"$ours")
  reply=$(jq -r .reply_p99_us <<<"$ours")
  line=$(printf "run %d: ours %.1f updates/s, forward p50 %.1f us, reply p99 %.0f us" \
    "$run" "$ours_ups" "$ours_fwd" "$reply")
  if $with_torch; then
    torch=$("$TORCH_VENV/bin/python" -W ignore bin/torch_sac_n.py --updates "$updates" --threads 2) \
      || die "run $run: bin/torch_sac_n.py failed"
    torch_ups=$(jq -r .updates_per_s <<<"$torch")
    torch_fwd=$(jq -r .forward_p50_us <<<"$torch")
    line+=$(printf "; torch %.1f updates/s, forward p50 %.1f us; ratio %.2f (updates), %.3f (forward)" \
      "$torch_ups" "$torch_fwd" "$(jq -n "$ours_ups / $torch_ups")" "$(jq -n "$ours_fwd / $torch_fwd")")
    echo "$ours_ups $ours_fwd $reply $torch_ups $torch_fwd" >>"$results"
  else
    echo "$ours_ups $ours_fwd $reply" >>"$results"
  fi
  echo "$line"
done

echo "median [min-max] over $runs runs of $updates updates:"
echo "  ours:  $(cut -d' ' -f1 "$results" | summary) updates/s, forward p50 $(cut -d' ' -f2 "$results" | summary) us, reply p99 $(cut -d' ' -f3 "$results" | summary) us"
if $with_torch; then
  echo "  torch: $(cut -d' ' -f4 "$results" | summary) updates/s, forward p50 $(cut -d' ' -f5 "$results" | summary) us"
  echo "  ratio ours/torch, per run: updates/s $(awk '{print $1 / $4}' "$results" | summary)," \
    "forward p50 $(awk '{print $2 / $5}' "$results" | summary)"
fi
