#!/usr/bin/env bash
# Offline training: CQL-N on a dataset (from bin/collect-offline.sh or `sas-agent collect-sim`) into a
# checkpoint, with a learning curve (CSV + PNG) beside it.
#
# Usage: bin/train-offline.sh DATASET_DIR [--out CKPT_DIR] [sas-agent train-offline options...]
# Default CKPT_DIR: DATASET_DIR/../checkpoint.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)

[ $# -ge 1 ] || die "usage: bin/train-offline.sh DATASET_DIR [--out CKPT_DIR] [train-offline options]"
data=$1
shift
[ -f "$data/meta.json" ] || die "dataset: no meta.json in $data"
out=$(dirname "$data")/checkpoint
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
(cd "$ROOT" && cargo build --release -q --workspace) || die "build: cargo build failed"
"$ROOT/target/release/sas-agent" train-offline --data "$data" --out "$out" "${args[@]}"
