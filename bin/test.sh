#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration, property and doc tests; the
# criterion benches run once each in test mode so they cannot rot), then the Flink job's Maven build with
# its MiniCluster tests (Maven fetches its own dependencies; the Rust router is built by cargo first).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
need cargo "install Rust with rustup"
need mvn "install Maven 3 (Debian: apt-get install maven)"
need java "install a JDK 17 (Debian: apt-get install openjdk-17-jdk)"

cargo test --workspace --all-targets --release
cargo test --workspace --doc --release
# The Flink tests start the real agent (AgentFailureTest) and load the router library.
cargo build --workspace --release
mvn -B -f flink-job/pom.xml verify
