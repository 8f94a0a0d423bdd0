#!/usr/bin/env bash
# Online training on Flink: the agent serves sampled actions of a checkpoint (from bin/train-offline.sh)
# or of fresh networks, routes the live job with `saspartitioner`, and trains SAC-N on every step; the
# learned weights are saved as a checkpoint when the job ends.
#
# Usage: bin/train-online.sh PARAMS.yaml [--checkpoint CKPT_DIR] [--cluster] [--out DIR] [--set KEY=VALUE]...
# Writes DIR/checkpoint (default DIR: results/<params>-online-<time>), the agent's log and the params used.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)

usage="usage: bin/train-online.sh PARAMS.yaml [--checkpoint CKPT_DIR] [--cluster] [--out DIR] [--set KEY=VALUE]..."
[ $# -ge 1 ] || die "$usage"
params=$1
shift
[ -f "$params" ] || die "params: no file at $params"
checkpoint=
parse_mode_args "--checkpoint" "$@"
out=${out:-$ROOT/results/$(run_name "$params" online)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
build_artifacts

{
  printf 'train_out: %s\n' "$out"
  [ -z "$checkpoint" ] || printf 'checkpoint: %s\n' "$(cd "$checkpoint" && pwd)"
  # Offline-trained actors keep learning at the rate they were trained with.
  printf 'learner:\n  publish_every: 5\n'
} > "$out/agent.yaml"
start_agent "$out/agent.yaml" "$out/agent.log"
echo "agent: $AGENT_URI (log $out/agent.log)"
derive_params "$params" "$out/params.yaml" partitioner=saspartitioner "agent.address=$AGENT_URI" \
  agent.mode=train agent.job_name=checkpoint "agent.session_key=$(basename "$out")" "${sets[@]}"
run_job "$out/params.yaml" "$where"
stop_agent
[ -f "$out/checkpoint/config.json" ] || die "train-online: no checkpoint was saved; see $out/agent.log"
echo "checkpoint: $out/checkpoint"
