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
