#!/usr/bin/env bash
# Failover on the standalone cluster (issue #13, item 6, "Routing state survives failover"): starts the
# cluster of bin/flink-cluster.sh, submits a wordcount job with checkpoints whose results come back to the
# client (KeyedAggregationJob --verify), kills the TaskManager with SIGKILL once a checkpoint has completed,
# starts a new TaskManager, and checks that the job finishes with results equal to an in-memory aggregation
# of the same stream and that every router resumed from its checkpointed state. Prints PASS or FAIL and
# exits 0 or 1. Not part of CI: it installs Flink from PyPI once and takes a minute or two.
#
# Usage: bin/failover-test.sh [PARAMS.yaml] [--out DIR] [--set KEY=VALUE]...
#   PARAMS defaults to params/wordcount-zipf.yaml, run with d-choices, 2 routers, 240 000 records at
#   6 000 records/s and a checkpoint every second (--set overrides any of these).
#   SAS_FLINK_REST_PORT  REST port of the cluster (default 8081); nothing may answer on it before.
# Writes DIR/params.yaml, DIR/job.out (the job's summary) and DIR/pids/ (default DIR:
# results/<params>-failover-<time>); the cluster's logs stay in Flink's log/ folder.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)
REST_PORT=${SAS_FLINK_REST_PORT:-8081}
REST="http://localhost:$REST_PORT"

usage="usage: bin/failover-test.sh [PARAMS.yaml] [--out DIR] [--set KEY=VALUE]..."
params="$ROOT/params/wordcount-zipf.yaml"
if [ $# -ge 1 ] && [[ $1 != --* ]]; then
  params=$1
  shift
fi
[ -f "$params" ] || die "params: no file at $params"
parse_mode_args "" "$@"
[ "$where" = embedded ] || die "--cluster: this test always runs on the standalone cluster"
out=${out:-$ROOT/results/$(run_name "$params" failover)}
mkdir -p "$out/pids"
out=$(cd "$out" && pwd)
need curl "install curl"
need python3 "install Python 3"

# Flink writes its daemons' pid files here, so the TaskManager killed is the one this script started.
export FLINK_PID_DIR="$out/pids"
export SAS_FLINK_REST_PORT=$REST_PORT

# Polls `$2` (a shell command) every second until it succeeds, for at most $1 seconds; dies naming $3.
wait_for() {
  local seconds=$1 check=$2 what=$3
  for _ in $(seq 1 "$seconds"); do
    eval "$check" && return 0
    sleep 1
  done
  die "$what: not within $seconds s"
}

# The id of the running job ("" if none).
running_job() {
  curl -fsS "$REST/jobs/overview" 2>/dev/null | python3 -c 'import json, sys
jobs = [j["jid"] for j in json.load(sys.stdin)["jobs"] if j["state"] == "RUNNING"]
print(jobs[0] if jobs else "")' 2>/dev/null
}

# Completed checkpoints of job $1 (0 while the REST endpoint cannot tell).
completed_checkpoints() {
  curl -fsS "$REST/jobs/$1/checkpoints" 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["counts"]["completed"])' 2>/dev/null || echo 0
}

# Stops the cluster and the client on exit, whatever happened.
cleanup() {
  if [ -n "${CLIENT_PID:-}" ] && kill -0 "$CLIENT_PID" 2>/dev/null; then
    kill "$CLIENT_PID" 2>/dev/null || true
  fi
  "$ROOT/bin/flink-cluster.sh" stop >/dev/null 2>&1 || true
}

if curl -fsS "$REST/overview" >/dev/null 2>&1; then
  die "cluster: something already answers on $REST; stop it first (bin/flink-cluster.sh stop)"
fi
build_artifacts
derive_params "$params" "$out/params.yaml" partitioner=d-choices routers=2 records=240000 source_rate=6000 \
  checkpoint_interval_ms=1000 "${sets[@]}"
echo "== params: $out/params.yaml"
trap cleanup EXIT
"$ROOT/bin/flink-cluster.sh" start
FLINK_HOME=$(flink_home)
old_tm=$(cat "$FLINK_PID_DIR"/flink-*-taskexecutor.pid)
[[ $old_tm =~ ^[0-9]+$ ]] || die "taskmanager: expected one pid in $FLINK_PID_DIR, found '$old_tm'"

echo "== job: submitted, results verified by the client (log $out/job.out)"
SAS_ROUTER_LIBRARY="$ROOT/target/release/libsas_router_jni.so" "$FLINK_HOME/bin/flink" run -m "localhost:$REST_PORT" \
  "$ROOT/flink-job/job/target/sas-flink-job-0.1.0.jar" "$out/params.yaml" --verify > "$out/job.out" 2>&1 &
CLIENT_PID=$!
job=
wait_for 120 'job=$(running_job) && [ -n "$job" ]' "job: running"
wait_for 120 '[ "$(completed_checkpoints "$job")" -ge 1 ]' "job $job: a completed checkpoint"
checkpoints_before=$(completed_checkpoints "$job")
echo "== failover: $checkpoints_before checkpoint(s) completed; kill -9 TaskManager $old_tm, start a new one"
kill -9 "$old_tm"
"$FLINK_HOME/bin/taskmanager.sh" start
client_status=0
wait "$CLIENT_PID" || client_status=$?
CLIENT_PID=

restarts=$(curl -fsS "$REST/jobs/$job/exceptions" | python3 -c 'import json, sys
print(len(json.load(sys.stdin).get("exceptionHistory", {}).get("entries", [])))')
new_tm=$(grep -hv "^$old_tm\$" "$FLINK_PID_DIR"/flink-*-taskexecutor.pid | tail -1 || true)
# The new TaskManager's log: the newest one.
new_tm_log=$(ls -t "$FLINK_HOME"/log/flink-*-taskexecutor-*.log | head -1)
resumed=$(grep -c "resumed from its checkpointed state" "$new_tm_log" || true)

echo
cat "$out/job.out" | grep -E "^(task|partitioner|workers|records in|results out|router states|results exact)" || true
echo
failures=()
[ "$client_status" -eq 0 ] || failures+=("the client exited with $client_status (see $out/job.out)")
grep -q "^results exact  yes" "$out/job.out" || failures+=("results are not exact (see $out/job.out)")
routers=$(grep -E "^routers:" "$out/params.yaml" | awk '{print $2}')
grep -q "^router states restored  $routers of $routers" "$out/job.out" \
  || failures+=("not every router resumed from its checkpointed state")
[ "$restarts" -ge 1 ] || failures+=("the job recorded no failure: the TaskManager was killed too late?")
echo "failover summary"
echo "  killed TaskManager        pid $old_tm (after $checkpoints_before completed checkpoint(s))"
echo "  new TaskManager           pid ${new_tm:-?}"
echo "  job failures recorded     $restarts"
echo "  routers resumed           $resumed (log lines of $new_tm_log)"
if [ ${#failures[@]} -eq 0 ]; then
  echo "PASS: the job survived the TaskManager's loss with exact results, every router resuming from its state"
  exit 0
fi
for f in "${failures[@]}"; do
  echo "FAIL: $f"
done
exit 1
