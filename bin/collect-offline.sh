#!/usr/bin/env bash
# Offline data collection on Flink: the `dalton-offline` behaviour policy routes the job while the agent
# records one transition per interval (observation, the behaviour's per-pair routing as the action,
# reward, next observation) into an offline dataset (docs/agent-env.md has the format).
#
# Usage: bin/collect-offline.sh PARAMS.yaml [--cluster] [--out DIR] [--set KEY=VALUE]...
# Writes DIR/dataset (default DIR: results/<params>-collect-<time>), the agent's log and the params used.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)

usage="usage: bin/collect-offline.sh PARAMS.yaml [--cluster] [--out DIR] [--set KEY=VALUE]..."
[ $# -ge 1 ] || die "$usage"
params=$1
shift
[ -f "$params" ] || die "params: no file at $params"
parse_mode_args "" "$@"
out=${out:-$ROOT/results/$(run_name "$params" collect)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
build_artifacts

printf 'offline_dir: %s\n' "$out/sessions" > "$out/agent.yaml"
start_agent "$out/agent.yaml" "$out/agent.log"
echo "agent: $AGENT_URI (log $out/agent.log)"
derive_params "$params" "$out/params.yaml" partitioner=dalton-offline "agent.address=$AGENT_URI" \
  agent.mode=collect agent.job_name=collect "agent.session_key=$(basename "$out")" "${sets[@]}"
run_job "$out/params.yaml" "$where"
stop_agent

dataset=$(find "$out/sessions" -mindepth 1 -maxdepth 1 -type d | head -1)
[ -n "$dataset" ] || die "collect: the agent recorded no session; see $out/agent.log"
rm -rf "$out/dataset"
mv "$dataset" "$out/dataset"
rmdir "$out/sessions" 2>/dev/null || true
lines=$(wc -l < "$out/dataset/transitions.jsonl")
[ "$lines" -gt 0 ] || die "collect: the dataset is empty (did the job run for at least two intervals?); see $out/agent.log"
echo "dataset: $out/dataset ($lines transitions)"
