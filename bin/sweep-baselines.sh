#!/usr/bin/env bash
# The baseline sweep (docs/modes.md): the throughput test of bin/throughput-test.sh for every partitioner
# on one params file, then one table (results/<run>/summary.csv, printed at the end) and one chart
# (results/<run>/throughput.png: maximum sustained rate per partitioner against the total capacity).
#
# Usage: bin/sweep-baselines.sh PARAMS.yaml [--cluster] [--partitioners a,b,c] [--out DIR]
#                               [--checkpoint CKPT_DIR] [--policy-steps N] [--<ramp setting> VALUE ...]
#   saspartitioner is served by an agent (deterministic actions, no learning) from --checkpoint; without
#   one, its policy is first trained in the simulator of the params' world (`sas-agent simulate --params`,
#   --policy-steps steps, default 15 000, about 7 minutes on 2 cores) into <run>/saspartitioner-policy.
#   The agent appends every step's λ and NMAD on busy time to <run>/saspartitioner/steps.csv.
#   --partitioners defaults to every partitioner the router knows; <run> to <params stem>-sweep-<timestamp>;
#   each partitioner's run is in <run>/<partitioner>/ (throughput.json, log.txt).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)

usage="usage: bin/sweep-baselines.sh PARAMS.yaml [--cluster] [--partitioners a,b,c] [--out DIR] [--checkpoint CKPT_DIR] [--policy-steps N] [--<ramp setting> VALUE ...]"
[ $# -ge 1 ] || die "$usage"
params=$(realpath "$1")
shift
[ -f "$params" ] || die "params: no file at $params"
out=
partitioners=
checkpoint=
policy_steps=15000
test_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --cluster) test_args+=(--cluster); shift ;;
    --partitioners) [ $# -ge 2 ] || die "--partitioners needs a list"; partitioners=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$(realpath -m "$2"); shift 2 ;;
    --checkpoint) [ $# -ge 2 ] || die "--checkpoint needs a directory"; checkpoint=$(realpath -m "$2"); shift 2 ;;
    --policy-steps) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--policy-steps needs a positive integer"; policy_steps=$2; shift 2 ;;
    --*) [ $# -ge 2 ] || die "$1 needs a value"; test_args+=("$1" "$2"); shift 2 ;;
    *) die "unknown argument: $1 ($usage)" ;;
  esac
done

# Every partitioner name the router knows, comma-separated (the Java entry asks the router itself).
all_partitioners() {
  java -Dsas.router.library="$ROOT/target/release/libsas_router_jni.so" -cp "$(embedded_classpath)" \
    org.sas.job.throughput.ThroughputTest --list-partitioners | paste -sd, - \
    || die "partitioners: could not list them"
}

# Built and copied once: every run of the sweep uses the same router, whatever changes in the tree meanwhile.
build_artifacts
[ -n "$partitioners" ] || partitioners=$(all_partitioners)
[ -n "$out" ] || out="$ROOT/results/$(basename "${params%.yaml}")-sweep-$(date +%Y%m%d-%H%M%S)"
snapshot_artifacts "$out/artifacts"
rm -f "$out/summary.csv"

agent_args=()
if [[ ,$partitioners, == *,saspartitioner,* ]]; then
  if [ -z "$checkpoint" ]; then
    checkpoint="$out/saspartitioner-policy"
    echo "== saspartitioner's policy: SAC-N in the simulator of $(basename "$params"), $policy_steps steps -> $checkpoint"
    train_sim_policy "$params" "$policy_steps" "$checkpoint"
  fi
  [ -f "$checkpoint/config.json" ] || die "checkpoint: no config.json in $checkpoint"
  mkdir -p "$out/saspartitioner"
  printf 'checkpoint: %s\nstep_log: %s\n' "$checkpoint" "$out/saspartitioner/steps.csv" > "$out/agent.yaml"
  start_agent "$out/agent.yaml" "$out/agent.log"
  echo "agent: $AGENT_URI serving $checkpoint (log $out/agent.log)"
  agent_args=(--agent "$AGENT_URI")
fi

IFS=, read -r -a names <<< "$partitioners"
failed=()
start=$SECONDS
for i in "${!names[@]}"; do
  name=${names[$i]}
  echo "== $name ($((i + 1))/${#names[@]}, $((SECONDS - start)) s so far)"
  mkdir -p "$out/$name"
  # The run's output goes to its log; the controller's progress lines also to the terminal.
  if "$ROOT/bin/throughput-test.sh" "$params" --partitioner "$name" --artifacts "$out/artifacts" --out "$out/$name" \
      --summary "$out/summary.csv" "${test_args[@]}" \
      $([ "$name" = saspartitioner ] && echo "${agent_args[@]}") 2>&1 | tee "$out/$name/log.txt" \
      | grep --line-buffered -E '^throughput:|^error|Exception' ; then
    :
  fi
  [ -f "$out/$name/throughput.json" ] || failed+=("$name")
done

echo
echo "== Sweep of $(basename "$params"): $((SECONDS - start)) s for ${#names[@]} partitioners"
[ -f "$out/summary.csv" ] || die "sweep: no run finished (logs in $out/*/log.txt)"
"$ROOT/target/release/sas-agent" plot-sweep --summary "$out/summary.csv" --out "$out/throughput.png" \
  || die "plot: sas-agent plot-sweep failed on $out/summary.csv"
echo
echo "wrote $out/summary.csv and $out/throughput.png"
[ ${#failed[@]} -eq 0 ] || die "sweep: no result for ${failed[*]} (see their log.txt)"
