#!/usr/bin/env bash
# The α-shift test (docs/modes.md): an agent serves a policy deterministically to saspartitioner on a job
# whose key skew shifts (a `zipf-sequence` params file) and logs λ of busy time per step; the report gives
# each phase's steady-state λ and the steps λ takes to come back under 0.1 after each shift.
#
# Usage: bin/shift-test.sh [PARAMS.yaml] [--checkpoint CKPT_DIR] [--policy-steps N] [--cluster] [--out DIR]
#                          [--set KEY=VALUE]...
#   PARAMS defaults to params/shift-zipf-p16.yaml. Without --checkpoint the policy is first trained in the
#   simulator of the params' world, its skew cycling through the phases (`sas-agent simulate --params`,
#   --policy-steps steps, default 15 000).
# Writes DIR/shift.json, DIR/lambda.png and DIR/steps.csv (default DIR: results/<params>-shift-<time>).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)

usage="usage: bin/shift-test.sh [PARAMS.yaml] [--checkpoint CKPT_DIR] [--policy-steps N] [--cluster] [--out DIR] [--set KEY=VALUE]..."
params="$ROOT/params/shift-zipf-p16.yaml"
if [ $# -ge 1 ] && [[ $1 != --* ]]; then
  params=$1
  shift
fi
[ -f "$params" ] || die "params: no file at $params"
checkpoint=
policy_steps=15000
parse_mode_args "--checkpoint --policy-steps" "$@"
out=${out:-$ROOT/results/$(run_name "$params" shift)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
build_artifacts

if [ -z "$checkpoint" ]; then
  checkpoint="$out/policy"
  echo "== policy: SAC-N in the simulator of $(basename "$params"), $policy_steps steps -> $checkpoint"
  train_sim_policy "$params" "$policy_steps" "$checkpoint"
fi
checkpoint=$(cd "$checkpoint" && pwd)
rm -f "$out/steps.csv"
printf 'checkpoint: %s\nstep_log: %s\n' "$checkpoint" "$out/steps.csv" > "$out/agent.yaml"
start_agent "$out/agent.yaml" "$out/agent.log"
echo "agent: $AGENT_URI serving $checkpoint (log $out/agent.log)"
derive_params "$params" "$out/params.yaml" partitioner=saspartitioner "agent.address=$AGENT_URI" \
  agent.mode=serve agent.job_name=shift-test "agent.session_key=$(basename "$out")" "${sets[@]}"
run_job "$out/params.yaml" "$where" > "$out/job.log" 2>&1 || die "job: failed; see $out/job.log"
stop_agent
echo
"$ROOT/target/release/sas-agent" shift-report --steps "$out/steps.csv" --params "$out/params.yaml" --out "$out" \
  || die "report: sas-agent shift-report failed on $out/steps.csv"
echo "wrote $out/shift.json and $out/lambda.png"
