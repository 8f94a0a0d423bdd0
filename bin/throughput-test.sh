#!/usr/bin/env bash
# The throughput test of one partitioner (docs/modes.md): the source rate ramps until the job no longer
# keeps up, then a stage at 80 % of the maximum sustained rate measures latency and balance. Writes
# results/<run>/throughput.json; progress on the terminal. Runs on an embedded MiniCluster unless
# --cluster (the standalone cluster of bin/flink-cluster.sh).
#
# Usage: bin/throughput-test.sh PARAMS.yaml --partitioner NAME [--cluster] [--out DIR] [--summary CSV]
#                               [--agent URI] [--artifacts DIR] [--<ramp setting> VALUE ...]
#   <run> defaults to <params stem>-<partitioner>-<timestamp>; --summary appends a row to a sweep's CSV;
#   --agent adds `agent: {address: URI, mode: serve}` to the params; ramp settings: docs/modes.md.
#   The run uses a copy of the router library and the jars (the JVM loads classes lazily, and a rebuild
#   of the tree during a run would pull them from under it): a fresh build copied to a temporary folder,
#   or, with --artifacts, the copy in DIR made by lib.sh's snapshot_artifacts (a sweep builds and copies once, so
#   every run uses the same router).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)
MAIN=org.sas.job.throughput.ThroughputTest

usage="usage: bin/throughput-test.sh PARAMS.yaml --partitioner NAME [--cluster] [--out DIR] [--summary CSV] [--agent URI] [--artifacts DIR] [--<ramp setting> VALUE ...]"
[ $# -ge 1 ] || die "$usage"
params=$1
shift
[ -f "$params" ] || die "params: no file at $params"
cluster=0
artifacts=
partitioner=
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --cluster) cluster=1; shift ;;
    --artifacts) [ $# -ge 2 ] || die "--artifacts needs a folder"; artifacts=$(realpath "$2"); shift 2 ;;
    --partitioner) [ $# -ge 2 ] || die "--partitioner needs a name"; partitioner=$2; args+=(--partitioner "$2"); shift 2 ;;
    --out|--summary) [ $# -ge 2 ] || die "$1 needs a path"; args+=("$1" "$(realpath -m "$2")"); shift 2 ;;
    --*) [ $# -ge 2 ] || die "$1 needs a value"; args+=("$1" "$2"); shift 2 ;;
    *) die "unknown argument: $1 ($usage)" ;;
  esac
done
[ -n "$partitioner" ] || die "$usage"

# Runs the test's main class on an embedded MiniCluster (the JVM flags of lib.sh's run_embedded), from
# the copied artifacts.
run_embedded_test() {
  need java "install a JDK 17"
  local cp
  cp=$(embedded_classpath)
  cp=${cp//"$ROOT/flink-job/native-loader/target/sas-native-loader-0.1.0.jar"/"$artifacts/sas-native-loader-0.1.0.jar"}
  cp=${cp//"$ROOT/flink-job/job/target/sas-flink-job-0.1.0.jar"/"$artifacts/sas-flink-job-0.1.0.jar"}
  java -Xmx3g --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
    -Dsas.router.library="$artifacts/libsas_router_jni.so" -cp "$cp" "$MAIN" "$@"
}

# Submits the test to the standalone cluster; the rate controller's progress lines go to the task
# manager's stdout, so they are followed from its .out file while the job runs.
run_on_cluster() {
  local flink_home port follower=
  flink_home=$(flink_home)
  port=${SAS_FLINK_REST_PORT:-8081}
  [ -x "$flink_home/bin/flink" ] || die "cluster: Flink is not installed; run bin/flink-cluster.sh start first"
  curl -fsS "http://localhost:$port/overview" >/dev/null 2>&1 \
    || die "cluster: no Flink REST endpoint on port $port; run bin/flink-cluster.sh start"
  local out
  out=$(ls -t "$flink_home"/log/*taskexecutor*.out 2>/dev/null | head -1 || true)
  if [ -n "$out" ]; then
    # $! is tail's pid: ending tail closes grep's input and grep ends with it.
    tail -n 0 -F "$out" 2>/dev/null > >(grep --line-buffered '^throughput:') &
    follower=$!
  fi
  # The client loads the router too (to validate the params and build the job graph). `flink run`
  # prints every accumulator; the latency histogram is left out (it is in throughput.json).
  local status=0
  SAS_ROUTER_LIBRARY="$artifacts/libsas_router_jni.so" "$flink_home/bin/flink" run \
    -m "localhost:$port" -c "$MAIN" "$artifacts/sas-flink-job-0.1.0.jar" "$@" 2>&1 \
    | grep -v '^- throughput-latency-buckets' || status=${PIPESTATUS[0]}
  [ -z "$follower" ] || kill "$follower" 2>/dev/null || true
  [ "$status" = 0 ] || die "cluster: the throughput test failed (flink run exited with $status)"
}

if [ -z "$artifacts" ]; then
  build_artifacts
  artifacts=$(mktemp -d)
  trap 'rm -rf "$artifacts"' EXIT
  snapshot_artifacts "$artifacts"
fi
[ -f "$artifacts/sas-flink-job-0.1.0.jar" ] || die "artifacts: no job jar in $artifacts"
if [ $cluster = 1 ]; then
  run_on_cluster "$(realpath "$params")" "${args[@]}"
else
  run_embedded_test "$(realpath "$params")" "${args[@]}"
fi
