#!/usr/bin/env bash
# Runs an example job of flink-job/examples (written against the public API alone) on the standalone
# cluster of bin/flink-cluster.sh, or with --local on a MiniCluster in one JVM, and prints its summary
# (records, distinct keys, results, records per worker; with --verify whether the results equal a plain
# keyBy().window().aggregate() in the same job, exit 1 when not). The same jar runs in both places.
#
# Usage: bin/run-example.sh EXAMPLE [--local] [FLAGS...]
#   EXAMPLE  word-count-text | key-stream-file    (counts per key of a file's keys)
#            word-histogram | quantile-digest     (the job's benchmark tasks over generated Zipf records)
#   FLAGS    --path FILE (file examples) | --records N (generated, default 200 000)
#            --partitioner NAME --workers P --params FILE --set KEY=VALUE --routers N
#            --rate RECORDS_PER_S --window-ms MS --checkpoint-ms MS --verify (org.sas.examples.ExampleArgs)
#   SAS_FLINK_REST_PORT  REST port of the cluster (default 8081)
# Example:
#   bin/flink-cluster.sh start
#   bin/run-example.sh key-stream-file --path .cache/key-streams/sotu-words.txt --partitioner w-choices --workers 4 --verify
#   bin/run-example.sh quantile-digest --records 100000 --partitioner d-choices --verify
#   bin/flink-cluster.sh stop
# Relative paths resolve against the current directory; word-count-text reads data/pg1342.txt by default.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)
EXAMPLES="$ROOT/flink-job/examples"
EXAMPLES_JAR="$EXAMPLES/target/sas-flink-examples-0.1.0.jar"
LIBRARY="$ROOT/target/release/libsas_router_jni.so"

# Builds the router library (cargo, as bin/run-job.sh does), then the example jar and the MiniCluster's
# classpath (Flink's jars, scope provided; cached in examples/target/classpath.txt) unless the jar is newer
# than the sources of the API and the examples.
build_example() {
  (cd "$ROOT" && cargo build --release --workspace) || die "build: cargo build failed"
  if [ ! -f "$EXAMPLES_JAR" ] || [ ! -f "$EXAMPLES/target/classpath.txt" ] \
      || [ -n "$(find "$ROOT/flink-job/api" "$EXAMPLES" -path '*/target' -prune -o \( -name '*.java' -o -name pom.xml \) \
                 -newer "$EXAMPLES_JAR" -print -quit)" ]; then
    # cargo ran above: -Dexec.skip=true skips the api module's own cargo step. Each module writes its
    # classpath into its own target/.
    mvn -B -q -f "$ROOT/flink-job/pom.xml" -pl examples -am package dependency:build-classpath \
      -DskipTests -Dexec.skip=true -DincludeScope=compile -Dmdep.outputFile=target/classpath.txt \
      || die "build: mvn package of the examples failed"
  fi
}

# Runs the example on a MiniCluster in this JVM: the example jar (with the API) before Flink's jars and
# the native loader's, so that the API is this build's.
run_local() {
  need java "install a JDK 17"
  java -Xmx2g --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
    -Dsas.router.library="$LIBRARY" -cp "$EXAMPLES_JAR:$(cat "$EXAMPLES/target/classpath.txt")" \
    org.sas.examples.Examples "$@"
}

# Submits the example to the standalone cluster and waits for it; the client loads the router too (to
# validate the params and build the job graph). The loader jar and the library's path are in the cluster's
# lib/ and config.yaml (bin/flink-cluster.sh), Flink's file connector in its lib/ already.
run_on_cluster() {
  local flink port=${SAS_FLINK_REST_PORT:-8081}
  flink="$(flink_home)/bin/flink"
  [ -x "$flink" ] || die "cluster: Flink is not installed; run bin/flink-cluster.sh start first"
  curl -fsS "http://localhost:$port/overview" >/dev/null 2>&1 \
    || die "cluster: no Flink REST endpoint on port $port; run bin/flink-cluster.sh start"
  SAS_ROUTER_LIBRARY="$LIBRARY" "$flink" run -m "localhost:$port" "$EXAMPLES_JAR" "$@"
}

usage="usage: bin/run-example.sh word-count-text|key-stream-file|word-histogram|quantile-digest [--local] [FLAGS...]"
[ $# -ge 1 ] || die "$usage"
example=$1
shift
case $example in
  word-count-text | key-stream-file | word-histogram | quantile-digest) ;;
  *) die "example: unknown example \`$example\` ($usage)" ;;
esac
local=0
flags=()
for arg in "$@"; do
  if [ "$arg" = --local ]; then local=1; else flags+=("$arg"); fi
done

build_example
if [ $local = 1 ]; then
  run_local "$example" "${flags[@]}"
else
  run_on_cluster "$example" "${flags[@]}"
fi
