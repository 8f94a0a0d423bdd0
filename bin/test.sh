#!/usr/bin/env bash
# Runs every test of the project: the Rust workspace (unit, integration, property and doc tests; the
# criterion benches run once each in test mode so they cannot rot).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(repo_root)"
need cargo "install Rust with rustup"

cargo test --workspace --all-targets
cargo test --workspace --doc
