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
  (cd "$root" && cargo build --release -p sas-router -p sas-agent) || die "build: cargo build failed"
  local jar="$root/flink-job/job/target/sas-flink-job-0.1.0.jar"
  if [ ! -f "$jar" ] || [ -n "$(find "$root/flink-job" -name '*.java' -newer "$jar" -print -quit)" ] \
      || [ "$root/flink-job/job/pom.xml" -nt "$jar" ]; then
    mvn -B -q -f "$root/flink-job/pom.xml" package -DskipTests || die "build: mvn package failed"
  fi
}

# The classpath that runs the job on an embedded MiniCluster: Flink's jars (provided scope), the job
# jar and the native loader jar. Cached in flink-job/job/target/classpath.txt.
embedded_classpath() {
  local root cp_file
  root=$(repo_root)
  cp_file="$root/flink-job/job/target/classpath.txt"
  if [ ! -f "$cp_file" ] || [ "$root/flink-job/job/pom.xml" -nt "$cp_file" ]; then
    # Maven's output goes to stderr: stdout is the classpath.
    mvn -B -q -f "$root/flink-job/pom.xml" -pl native-loader -am install -DskipTests >&2 \
      || die "classpath: could not install the native loader jar"
    mvn -B -q -f "$root/flink-job/pom.xml" -pl job dependency:build-classpath \
      -Dmdep.includeScope=compile -Dmdep.outputFile="$cp_file" >&2 \
      || die "classpath: mvn dependency:build-classpath failed"
  fi
  # The loader jar from this build first, then Flink's jars, then the job.
  echo "$root/flink-job/native-loader/target/sas-native-loader-0.1.0.jar:$(cat "$cp_file"):$root/flink-job/job/target/sas-flink-job-0.1.0.jar"
}

# Runs the keyed-aggregation job on an embedded MiniCluster (no cluster needed).
run_embedded() {
  local root
  root=$(repo_root)
  need java "install a JDK 17"
  java -Xmx2g --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
    -Dsas.router.library="$root/target/release/libsas_router.so" \
    -cp "$(embedded_classpath)" org.sas.job.KeyedAggregationJob "$@"
}
