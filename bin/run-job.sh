#!/usr/bin/env bash
# Submits the keyed-aggregation job to the standalone cluster of bin/flink-cluster.sh, waits for it to
# finish and prints its summary (records in, results out, records per worker, imbalance λ). With
# --embedded it runs on an embedded MiniCluster instead (no cluster needed).
#
# Usage: bin/run-job.sh PARAMS.yaml [--partitioner NAME] [--embedded]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)

[ $# -ge 1 ] || die "usage: bin/run-job.sh PARAMS.yaml [--partitioner NAME] [--embedded]"
params=$1
shift
[ -f "$params" ] || die "params: no file at $params"
partitioner_args=()
embedded=0
while [ $# -gt 0 ]; do
  case $1 in
    --partitioner) [ $# -ge 2 ] || die "--partitioner needs a name"; partitioner_args=(--partitioner "$2"); shift 2 ;;
    --embedded) embedded=1; shift ;;
    *) die "unknown argument: $1" ;;
  esac
done

if [ $embedded = 1 ]; then
  build_artifacts
  run_embedded "$(realpath "$params")" "${partitioner_args[@]}"
  exit 0
fi

FLINK_HOME=$(flink_home)
[ -x "$FLINK_HOME/bin/flink" ] || die "cluster: Flink is not installed; run bin/flink-cluster.sh start first"
curl -fsS "http://localhost:${SAS_FLINK_REST_PORT:-8081}/overview" >/dev/null 2>&1 \
  || die "cluster: no Flink REST endpoint on port ${SAS_FLINK_REST_PORT:-8081}; run bin/flink-cluster.sh start"

build_artifacts
# The client loads the router too (to validate the params and build the job graph).
export SAS_ROUTER_LIBRARY="$ROOT/target/release/libsas_router_jni.so"
"$FLINK_HOME/bin/flink" run -m "localhost:${SAS_FLINK_REST_PORT:-8081}" \
  "$ROOT/flink-job/job/target/sas-flink-job-0.1.0.jar" "$(realpath "$params")" "${partitioner_args[@]}"
