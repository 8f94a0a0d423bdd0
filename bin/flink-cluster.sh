#!/usr/bin/env bash
# A local standalone Flink cluster (stock Flink, from PyPI's apache-flink + apache-flink-libraries) with
# the SaS router loader in its lib/.
#
# Usage: bin/flink-cluster.sh start|stop|status
#   SAS_FLINK_SLOTS      task slots of the TaskManager (default 16)
#   SAS_FLINK_REST_PORT  REST port (default 8081)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)
FLINK_HOME=$(flink_home)
SLOTS=${SAS_FLINK_SLOTS:-16}
REST_PORT=${SAS_FLINK_REST_PORT:-8081}

# Installs Flink once into .cache/ (pip, no dependencies: the two packages form a FLINK_HOME).
install_flink() {
  [ -x "$FLINK_HOME/bin/start-cluster.sh" ] && return 0
  need python3 "install Python 3"
  echo "Installing Flink $FLINK_VERSION into $(dirname "$FLINK_HOME") (once)..."
  python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --target "$(dirname "$FLINK_HOME")" "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION" \
    || die "install: pip could not install apache-flink==$FLINK_VERSION"
  chmod +x "$FLINK_HOME"/bin/*.sh "$FLINK_HOME/bin/flink"
}

# Writes conf/config.yaml from the shipped one: slots, memory, REST port, and where the router library is.
configure_flink() {
  local lib="$ROOT/target/release/libsas_router_jni.so"
  [ -f "$FLINK_HOME/conf/config.yaml.orig" ] || cp "$FLINK_HOME/conf/config.yaml" "$FLINK_HOME/conf/config.yaml.orig"
  sed -e "s|numberOfTaskSlots: 1|numberOfTaskSlots: $SLOTS|" \
      -e "s|size: 1728m|size: 3072m|" \
      -e "s|^\(      all: .*\)$|\1 -Dsas.router.library=$lib|" \
      -e "s|^rest:|rest:\n  port: $REST_PORT|" \
      "$FLINK_HOME/conf/config.yaml.orig" > "$FLINK_HOME/conf/config.yaml.new"
  grep -q "sas.router.library" "$FLINK_HOME/conf/config.yaml.new" \
    || die "configure: could not set env.java.opts.all in $FLINK_HOME/conf/config.yaml"
  mv "$FLINK_HOME/conf/config.yaml.new" "$FLINK_HOME/conf/config.yaml"
  cp "$ROOT/flink-job/native-loader/target/sas-native-loader-0.1.0.jar" "$FLINK_HOME/lib/"
}

# Waits until the REST endpoint answers and a TaskManager has registered.
wait_ready() {
  for _ in $(seq 1 60); do
    if curl -fsS "http://localhost:$REST_PORT/overview" 2>/dev/null | grep -q '"taskmanagers":[1-9]'; then
      return 0
    fi
    sleep 1
  done
  die "start: the cluster did not come up within 60 s (logs: $FLINK_HOME/log)"
}

case ${1:-} in
  start)
    install_flink
    build_artifacts
    configure_flink
    "$FLINK_HOME/bin/start-cluster.sh"
    wait_ready
    echo "Flink $FLINK_VERSION is up: http://localhost:$REST_PORT ($SLOTS slots)"
    ;;
  stop)
    [ -x "$FLINK_HOME/bin/stop-cluster.sh" ] || die "stop: Flink is not installed"
    "$FLINK_HOME/bin/stop-cluster.sh"
    ;;
  status)
    curl -fsS "http://localhost:$REST_PORT/overview" || { echo "no cluster on port $REST_PORT"; exit 1; }
    echo
    ;;
  *)
    die "usage: bin/flink-cluster.sh start|stop|status"
    ;;
esac
