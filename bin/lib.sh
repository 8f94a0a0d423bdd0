# Shared helpers of the bin/ scripts. Source it; do not run it.

# Stops the script with a message naming the step and the value that stopped it.
die() {
  echo "error: $*" >&2
  exit 2
}

# The repository root, whatever directory the script was started from.
repo_root() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

# Checks that a command is on PATH; names the command and how to get it otherwise.
need() {
  command -v "$1" >/dev/null 2>&1 || die "need: \`$1\` is not installed ($2)"
}

# The Flink version of the standalone cluster: the same 1.20.x as flink-job/pom.xml.
FLINK_VERSION=1.20.5

# Where the standalone Flink is installed (once) and run from.
flink_home() {
  echo "$(repo_root)/.cache/flink-${FLINK_VERSION}/pyflink"
}

# Builds the Rust router and the two jars unless they are newer than their sources.
build_artifacts() {
  local root
  root=$(repo_root)
  (cd "$root" && cargo build --release --workspace) || die "build: cargo build failed"
  local jar="$root/flink-job/job/target/sas-flink-job-0.1.0.jar"
  if [ ! -f "$jar" ] || [ -n "$(find "$root/flink-job" -name '*.java' -newer "$jar" -print -quit)" ] \
      || [ "$root/flink-job/job/pom.xml" -nt "$jar" ]; then
    mvn -B -q -f "$root/flink-job/pom.xml" package -DskipTests || die "build: mvn package failed"
  fi
}

# Builds what the job module's benchmarks (`mvn -pl job exec:exec@bench-...`) run: the Rust workspace, the
# native loader and API jars installed into the local repository (the job module resolves them from there
# when run alone) and the job's test classes, where the benchmarks live.
build_job_benchmarks() {
  local root
  root=$(repo_root)
  need cargo "install Rust with rustup"
  need mvn "install Maven 3"
  (cd "$root" && cargo build --release --workspace)
  # cargo ran above: -Dexec.skip=true skips the modules' own cargo step.
  mvn -B -q -f "$root/flink-job/pom.xml" -pl native-loader,api -am install -DskipTests -Dexec.skip=true
  mvn -B -q -f "$root/flink-job/pom.xml" test-compile -DskipTests -Dexec.skip=true
}

# The classpath that runs the job on an embedded MiniCluster: the native loader jar, the job jar (which
# bundles the API module) and Flink's jars (provided scope). Cached in flink-job/job/target/classpath.txt.
embedded_classpath() {
  local root cp_file
  root=$(repo_root)
  cp_file="$root/flink-job/job/target/classpath.txt"
  if [ ! -f "$cp_file" ] || [ "$root/flink-job/job/pom.xml" -nt "$cp_file" ]; then
    # Maven's output goes to stderr: stdout is the classpath. The job's own modules are installed so that
    # Maven can resolve the job's dependencies outside a reactor build (cargo already ran).
    mvn -B -q -f "$root/flink-job/pom.xml" -pl native-loader,api -am install -DskipTests -Dexec.skip=true >&2 \
      || die "classpath: could not install the native loader and API jars"
    mvn -B -q -f "$root/flink-job/pom.xml" -pl job dependency:build-classpath \
      -Dmdep.includeScope=compile -Dmdep.outputFile="$cp_file" >&2 \
      || die "classpath: mvn dependency:build-classpath failed"
  fi
  # The loader jar from this build first, then the job jar (its bundled API classes are this build's, ahead
  # of an installed copy), then Flink's jars.
  echo "$root/flink-job/native-loader/target/sas-native-loader-0.1.0.jar:$root/flink-job/job/target/sas-flink-job-0.1.0.jar:$(cat "$cp_file")"
}

# Runs the keyed-aggregation job on an embedded MiniCluster (no cluster needed).
run_embedded() {
  local root
  root=$(repo_root)
  need java "install a JDK 17"
  java -Xmx2g --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
    -Dsas.router.library="$root/target/release/libsas_router_jni.so" \
    -cp "$(embedded_classpath)" org.sas.job.KeyedAggregationJob "$@"
}

# A free TCP port on 127.0.0.1 at or above $1.
free_port() {
  local port=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}

# Starts `sas-agent serve` in the background with the YAML settings file $1, logging to $2; sets
# AGENT_PID and AGENT_URI and waits (up to 30 s) until it answers health checks. The settings file must
# not set `bind` or `metrics_bind`: free ports are chosen here. stop_agent stops it; an EXIT trap makes
# sure it never outlives the script.
start_agent() {
  local settings=$1 log=$2 root port metrics_port config
  root=$(repo_root)
  port=$(free_port 50051)
  metrics_port=$(free_port 9464)
  config="${settings%.yaml}.resolved.yaml"
  { cat "$settings"; echo "bind: 127.0.0.1:$port"; echo "metrics_bind: 127.0.0.1:$metrics_port"; } > "$config"
  "$root/target/release/sas-agent" serve --config "$config" >"$log" 2>&1 &
  AGENT_PID=$!
  AGENT_URI="http://127.0.0.1:$port"
  AGENT_METRICS="http://127.0.0.1:$metrics_port/metrics"
  trap 'stop_agent' EXIT
  local waited=0
  until "$root/target/release/sas-agent" health --addr "$AGENT_URI" >/dev/null 2>&1; do
    kill -0 "$AGENT_PID" 2>/dev/null || die "agent: it exited at start; see $log:
$(tail -5 "$log")"
    [ $waited -lt 300 ] || die "agent: no answer on $AGENT_URI after 30 s; see $log"
    sleep 0.1
    waited=$((waited + 1))
  done
}

# Stops the agent started by start_agent with Ctrl-C's signal, so learners save and datasets are flushed.
stop_agent() {
  if [ -n "${AGENT_PID:-}" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -INT "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  AGENT_PID=
}

# Writes params file $1 with `--set` overrides ($3...) applied, validated and normalised, to $2.
derive_params() {
  local src=$1 out=$2
  shift 2
  local sets=()
  for kv in "$@"; do sets+=(--set "$kv"); done
  "$(repo_root)/target/release/sas-agent" params "$src" "${sets[@]}" > "$out" \
    || die "params: $src with overrides $* is invalid"
}

# Runs the keyed-aggregation job with params file $1 on the embedded MiniCluster, or on the standalone
# cluster of bin/flink-cluster.sh when $2 is `cluster`.
run_job() {
  local params=$1 where=${2:-embedded} root
  root=$(repo_root)
  if [ "$where" = cluster ]; then
    local flink
    flink="$(flink_home)/bin/flink"
    [ -x "$flink" ] || die "cluster: Flink is not installed; run bin/flink-cluster.sh start first"
    SAS_ROUTER_LIBRARY="$root/target/release/libsas_router_jni.so" "$flink" run \
      -m "localhost:${SAS_FLINK_REST_PORT:-8081}" "$root/flink-job/job/target/sas-flink-job-0.1.0.jar" "$params"
  else
    run_embedded "$params"
  fi
}

# Parses the options the mode scripts share into globals: --cluster (where=cluster, else embedded),
# --out DIR (out), --set KEY=VALUE (appended to sets), and those of $1 (a space-separated list) among
# --checkpoint DIR (checkpoint, which must hold a config.json) and --policy-steps N (policy_steps). The
# rest of the arguments follow $1; anything else is an error quoting the caller's $usage.
parse_mode_args() {
  local extra=" $1 "
  shift
  where=embedded
  sets=()
  out=
  while [ $# -gt 0 ]; do
    case $1 in
      --cluster) where=cluster; shift ;;
      --set) [ $# -ge 2 ] || die "--set needs KEY=VALUE"; sets+=("$2"); shift 2 ;;
      --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
      --checkpoint | --policy-steps)
        [[ $extra == *" $1 "* ]] || die "unknown argument: $1 ($usage)"
        [ $# -ge 2 ] || die "$1 needs a value"
        if [ "$1" = --checkpoint ]; then
          [ -f "$2/config.json" ] || die "checkpoint: no config.json in $2"
          checkpoint=$2
        else
          [[ $2 =~ ^[1-9][0-9]*$ ]] || die "--policy-steps needs a positive integer"
          policy_steps=$2
        fi
        shift 2 ;;
      *) die "unknown argument: $1 ($usage)" ;;
    esac
  done
}

# Trains saspartitioner's policy with SAC-N in the simulator of params $1's world (workers, keys, mask,
# capacity factors) for $2 steps into checkpoint directory $3, each episode at a utilisation drawn from
# [0.7, 1.2]; the summary goes to $3.json and its λ lines to the terminal.
train_sim_policy() {
  local params=$1 steps=$2 out=$3
  "$(repo_root)/target/release/sas-agent" simulate --params "$params" --steps "$steps" --utilisation-max 1.2 \
      --out "$out" --json > "$out.json" || die "policy: sas-agent simulate failed (see $out.json)"
  grep -E '"(initial|final)_imbalance"' "$out.json"
}

# A run directory name: <stem of params $1>-<what $2>-<UTC timestamp>.
run_name() {
  echo "$(basename "${1%.yaml}")-$2-$(date -u +%Y%m%dT%H%M%S)"
}

# Copies the router library and the two jars into folder $1, so a long run uses one build even if the tree
# is rebuilt meanwhile (the JVM loads classes from its jars lazily).
snapshot_artifacts() {
  local root
  root=$(repo_root)
  mkdir -p "$1"
  cp "$root/target/release/libsas_router_jni.so" "$root/flink-job/native-loader/target/sas-native-loader-0.1.0.jar" \
    "$root/flink-job/job/target/sas-flink-job-0.1.0.jar" "$1/" || die "artifacts: could not copy them to $1"
}
