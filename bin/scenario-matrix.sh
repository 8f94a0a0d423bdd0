#!/usr/bin/env bash
# The scenario matrix (docs/modes.md, issue #15): the fast throughput test of bin/throughput-test.sh for
# every scenario × partitioner × repeat on the embedded MiniCluster, each scenario a params file
# params/scenarios/<name>.yaml. One row per run in <out>/matrix.csv, then one table (per scenario and
# partitioner: median of_capacity and its spread over the repeats, median max_rate, p99 and λ) and one
# chart, <out>/matrix.png (a panel per scenario), both from `sas-agent plot-matrix`.
#
# Usage: bin/scenario-matrix.sh [--scenarios a,b] [--partitioners a,b] [--repeats N] [--jobs N] [--out DIR]
#                               [--policy-steps N | --checkpoint CKPT_DIR] [--<ramp setting> VALUE ...]
#   --scenarios     default: every file in params/scenarios/, those of DEFAULT_SCENARIOS below first, in
#                   that order
#   --partitioners  default: DEFAULT_PARTITIONERS below (the full default matrix, 210 runs, took about
#                   70 min with --jobs 2 on a 2-core machine: docs/results.md "Scenario matrix: the full
#                   default run")
#   --repeats       runs per scenario and partitioner (default 3)
#   --jobs          runs at a time (default 1). A run's job takes about 0.75 of a core, so two fit on two
#                   cores: docs/results.md "Two runs at a time" compares the maxima with one at a time.
#                   Policy training never overlaps a run, and saspartitioner's runs (on one agent) go
#                   one at a time.
#   --out           default results/matrix-<timestamp>. A rerun with the same --out resumes: every
#                   (scenario, partitioner, repeat) already in its matrix.csv is skipped
#   --policy-steps  saspartitioner's policy per scenario: SAC-N in the simulator of the scenario's world
#                   (lib.sh's train_sim_policy, default 3000 steps) into <out>/<scenario>/saspartitioner-policy,
#                   reused when the matrix resumes; the agent serves it deterministically
#   --checkpoint    serve this one policy in every scenario instead of training
#   ramp settings   go to every run (docs/modes.md) after `--preset fast`, the fast test (RampSettings.FAST:
#                   a probe at 1.3 C, 2-second stages, bisection to 3 %), each replacing the preset's
# Each run is in <out>/<scenario>/<partitioner>/<repeat>/ (throughput.json, log.txt). A failed run is
# listed at the end (exit status 2) and does not stop the others. A scenario whose workload.path file is
# missing runs bin/fetch-key-streams.sh once; if the file is still missing, the scenario is skipped and
# the reason printed at the end.
#   SAS_MATRIX_DRY_RUN=1  test hook: no build, no Flink, no policy; each run writes a synthetic
#                         throughput.json (none for a partitioner named `fail`), to test resume and reports.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(repo_root)

# The partitioners of a default matrix: the strong baselines of issue #15 and the sweep's best and worst.
DEFAULT_PARTITIONERS=hash,w-choices,flexd,dalton-metrics,local-global,busy-feedback,saspartitioner
# The order of the default scenarios (those with a params file); any other file in params/scenarios/ follows.
DEFAULT_SCENARIOS=(equal heterogeneous slowing-worker key-cost alpha-shift drifting-key two-routers text
  sotu-words spamassassin-words)
SCENARIO_DIR="$ROOT/params/scenarios"
HEADER=scenario,partitioner,repeat,max_rate,of_capacity,p50_ms,p99_ms,imbalance,hot_fragmentation,peak_partial_states

usage="usage: bin/scenario-matrix.sh [--scenarios a,b] [--partitioners a,b] [--repeats N] [--jobs N] [--out DIR] [--policy-steps N | --checkpoint CKPT_DIR] [--<ramp setting> VALUE ...] (--help)"
scenarios=
partitioners=$DEFAULT_PARTITIONERS
repeats=3
jobs=1
out=
policy_steps=
checkpoint=
declare -A ramp=()
ramp_order=()
# Fills `ramp` (flag → value) keeping the flags' first order, so a flag given again replaces its value.
set_ramp() {
  [ -n "${ramp[$1]+set}" ] || ramp_order+=("$1")
  ramp[$1]=$2
}
set_ramp --preset fast   # the fast throughput test (RampSettings.FAST), about 25-35 s a run
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    --scenarios) [ -n "${2:-}" ] || die "--scenarios needs a list"; scenarios=$2; shift 2 ;;
    --partitioners) [ -n "${2:-}" ] || die "--partitioners needs a list"; partitioners=$2; shift 2 ;;
    --repeats) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--repeats needs a positive integer, got '${2:-}'"; repeats=$2; shift 2 ;;
    --jobs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive integer, got '${2:-}'"; jobs=$2; shift 2 ;;
    --out) [ -n "${2:-}" ] || die "--out needs a folder"; out=$(realpath -m "$2"); shift 2 ;;
    --policy-steps) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--policy-steps needs a positive integer, got '${2:-}'"; policy_steps=$2; shift 2 ;;
    --checkpoint) [ -n "${2:-}" ] || die "--checkpoint needs a directory"; checkpoint=$(realpath -m "$2"); shift 2 ;;
    --partitioner | --summary | --agent | --artifacts | --cluster)
      die "$1: set by the matrix for each run, not an option of it ($usage)" ;;
    --*) [ -n "${2:-}" ] || die "$1 needs a value"; set_ramp "$1" "$2"; shift 2 ;;
    *) die "unknown argument: $1 ($usage)" ;;
  esac
done
[ -z "$checkpoint" ] || [ -z "$policy_steps" ] || die "give --checkpoint or --policy-steps, not both"
[ -z "$checkpoint" ] || [ -f "$checkpoint/config.json" ] || die "checkpoint: no config.json in $checkpoint"
policy_steps=${policy_steps:-3000}
ramp_args=()
for flag in "${ramp_order[@]}"; do ramp_args+=("$flag" "${ramp[$flag]}"); done
dry_run=${SAS_MATRIX_DRY_RUN:-0}

# Every scenario with a params file: those of DEFAULT_SCENARIOS in that order, then the others by name.
default_scenarios() {
  local name file listed=" ${DEFAULT_SCENARIOS[*]} " names=()
  for name in "${DEFAULT_SCENARIOS[@]}"; do
    [ ! -f "$SCENARIO_DIR/$name.yaml" ] || names+=("$name")
  done
  for file in "$SCENARIO_DIR"/*.yaml; do
    [ -f "$file" ] || continue
    name=$(basename "$file" .yaml)
    [[ $listed == *" $name "* ]] || names+=("$name")
  done
  [ ${#names[@]} -gt 0 ] || die "scenarios: no params file in $SCENARIO_DIR"
  (IFS=,; echo "${names[*]}")
}

# Checks that comma-separated list $2 (of what $1 names) has names fit for a CSV cell and a folder, once each.
check_names() {
  local what=$1 name seen=" "
  IFS=, read -r -a list <<< "$2"
  [ ${#list[@]} -gt 0 ] || die "$what: the list is empty"
  for name in "${list[@]}"; do
    [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "$what: '$name' is not a name (letters, digits, . _ -)"
    [[ $seen != *" $name "* ]] || die "$what: '$name' is listed twice"
    seen+="$name "
  done
}

# Every partitioner name the router knows, one a line (the Java entry asks the router itself).
known_partitioners() {
  java -Dsas.router.library="$ROOT/target/release/libsas_router_jni.so" -cp "$(embedded_classpath)" \
    org.sas.job.throughput.ThroughputTest --list-partitioners || die "partitioners: could not list them"
}

# The `workload.path` of params file $1 resolved as the params loader resolves it (against the parent of
# the file's folder), or nothing when it has none. Read from the YAML text: the loader itself refuses a
# file whose stream is missing, which is what is asked here.
workload_path() {
  local path
  path=$(awk '/^[^[:space:]#]/ { section = $1 }
    section == "workload:" && /^[[:space:]]+path:/ {
      sub(/^[[:space:]]+path:[[:space:]]*/, ""); sub(/[[:space:]]+#.*$/, ""); gsub(/^["'\'']|["'\'']$/, "")
      print; exit }' "$1")
  [ -n "$path" ] || return 0
  [[ $path == /* ]] || path="$(dirname "$(dirname "$1")")/$path"
  realpath -m "$path"
}

# Writes a synthetic throughput.json into folder $1 for partitioner $2 (SAS_MATRIX_DRY_RUN; none for `fail`).
fake_run() {
  [ "$2" != fail ] || { echo "error: dry run: partitioner 'fail' fails"; return 1; }
  python3 - "$1/throughput.json" "$2" <<'PY'
import json, random, sys
path, partitioner = sys.argv[1:]
rnd = random.Random(path)
of = rnd.uniform(0.15, 1.02)
run = {"partitioner": partitioner, "max_rate": of * 12000, "total_capacity": 12000.0, "capacity_fraction": of,
       "p50_ms": rnd.uniform(8, 12), "p99_ms": rnd.uniform(15, 60), "imbalance": rnd.uniform(0, 2),
       "hot_fragmentation": rnd.uniform(1, 16)}
if partitioner != "hash":  # hash's row shows a field the JSON lacks as an empty cell
    run["peak_partial_states"] = rnd.randint(10000, 160000)
json.dump(run, open(path, "w"))
PY
  echo "throughput: dry run, synthetic $1/throughput.json"
}

# Prints the matrix.csv row of the run whose throughput.json is $1 (scenario $2, partitioner $3, repeat $4);
# a field absent or null in the JSON is an empty cell.
csv_row() {
  python3 - "$@" <<'PY'
import json, sys
path, scenario, partitioner, repeat = sys.argv[1:]
with open(path) as f:
    run = json.load(f)
def cell(field, digits):
    value = run.get(field)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        sys.exit(f"{path}: `{field}` = {value!r} is not a number")
    return f"{value:.{digits}f}"
print(",".join([scenario, partitioner, repeat, cell("max_rate", 0), cell("capacity_fraction", 4),
                cell("p50_ms", 2), cell("p99_ms", 2), cell("imbalance", 4), cell("hot_fragmentation", 2),
                cell("peak_partial_states", 0)]))
PY
}

# Runs the throughput test of scenario params $1 for partitioner $2 into folder $3 (the rest: extra
# arguments of bin/throughput-test.sh); its output goes to $3/log.txt, its progress lines to the terminal.
# Returns the test's exit status.
run_one() {
  local params=$1 name=$2 dir=$3
  shift 3
  if [ "$dry_run" = 1 ]; then
    fake_run "$dir" "$name" > "$dir/log.txt" 2>&1
    local status=$?
    grep -E '^throughput:|^error' "$dir/log.txt" || true
    return $status
  fi
  "$ROOT/bin/throughput-test.sh" "$params" --partitioner "$name" --artifacts "$out/artifacts" --out "$dir" \
    "${ramp_args[@]}" "$@" 2>&1 | tee "$dir/log.txt" | grep --line-buffered -E '^throughput:|^error|Exception' \
    | if [ "$jobs" -gt 1 ]; then sed -u "s|^|[${dir#"$out/"}] |"; else cat; fi
  return "${PIPESTATUS[0]}"
}

# Runs run_one for scenario $1, partitioner $2, repeat $3 (params $4, the rest: its extra arguments) and
# appends its row to the CSV, or its name to the failed list; in the background when --jobs is above 1,
# once fewer than --jobs runs are under way. One line appended at a time: rows of parallel runs never mix.
launch() {
  local s=$1 p=$2 r=$3 params=$4
  shift 4
  if [ "$jobs" -gt 1 ]; then
    prune_runs
    while [ ${#run_pids[@]} -ge "$jobs" ]; do
      wait -n "${run_pids[@]}" 2>/dev/null || true
      prune_runs
    done
    measure_one "$s" "$p" "$r" "$params" "$@" &
    run_pids+=($!)
  else
    measure_one "$s" "$p" "$r" "$params" "$@"
  fi
}

# Runs launched in the background (not the agent, which start_agent also starts in the background).
run_pids=()
prune_runs() {
  local pid live=()
  for pid in "${run_pids[@]}"; do
    ! kill -0 "$pid" 2>/dev/null || live+=("$pid")
  done
  run_pids=("${live[@]}")
}

# Waits for every run launched in the background.
wait_runs() {
  local pid
  for pid in "${run_pids[@]}"; do wait "$pid" || true; done
  run_pids=()
}

measure_one() {
  local s=$1 p=$2 r=$3 params=$4 row dir="$out/$1/$2/$3"
  shift 4
  mkdir -p "$dir"
  rm -f "$dir/throughput.json"   # left by an interrupted earlier attempt, never counted
  if run_one "$params" "$p" "$dir" "$@" && [ -f "$dir/throughput.json" ] \
      && row=$(csv_row "$dir/throughput.json" "$s" "$p" "$r"); then
    echo "$row" >> "$csv"
  else
    echo "error: $s · $p · repeat $r failed (see $dir/log.txt)"
    echo "$s/$p/$r" >> "$failed_list"
  fi
}

# -- What to run --------------------------------------------------------------------------------------------
[ -n "$scenarios" ] || scenarios=$(default_scenarios)
check_names scenarios "$scenarios"
check_names partitioners "$partitioners"
IFS=, read -r -a scenario_names <<< "$scenarios"
IFS=, read -r -a partitioner_names <<< "$partitioners"
for name in "${scenario_names[@]}"; do
  [ -f "$SCENARIO_DIR/$name.yaml" ] || die "scenarios: no params file $SCENARIO_DIR/$name.yaml (have: $(default_scenarios))"
done
[ -n "$out" ] || out="$ROOT/results/matrix-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
csv="$out/matrix.csv"

# Resume: the rows already measured.
declare -A done_rows=()
if [ -s "$csv" ]; then
  [ "$(head -1 "$csv")" = "$HEADER" ] || die "resume: $csv does not start with the header $HEADER"
  while IFS=, read -r s p r _; do done_rows["$s,$p,$r"]=1; done < <(tail -n +2 "$csv")
else
  echo "$HEADER" > "$csv"
fi
skipped_rows=0
pending=0
declare -A pending_of=()   # scenario → runs still to do
for s in "${scenario_names[@]}"; do
  pending_of[$s]=0
  for p in "${partitioner_names[@]}"; do
    for ((r = 1; r <= repeats; r++)); do
      if [ -n "${done_rows["$s,$p,$r"]+set}" ]; then
        skipped_rows=$((skipped_rows + 1))
      else
        pending_of[$s]=$((pending_of[$s] + 1))
      fi
    done
  done
done

# Key streams: a scenario whose workload file is missing gets one bin/fetch-key-streams.sh for all.
declare -A skip_reason=()
fetched=
for s in "${scenario_names[@]}"; do
  [ "${pending_of[$s]}" -gt 0 ] || continue
  stream=$(workload_path "$SCENARIO_DIR/$s.yaml")
  [ -n "$stream" ] && [ ! -f "$stream" ] || continue
  if [ -z "$fetched" ]; then
    echo "== $stream is missing: bin/fetch-key-streams.sh (log $out/fetch-key-streams.log)"
    if "$ROOT/bin/fetch-key-streams.sh" > "$out/fetch-key-streams.log" 2>&1; then fetched=ok; else fetched=failed; fi
  fi
  [ -f "$stream" ] && continue
  if [ "$fetched" = failed ]; then
    skip_reason[$s]="its stream $stream is missing and bin/fetch-key-streams.sh failed: $(tail -1 "$out/fetch-key-streams.log")"
  else
    skip_reason[$s]="its stream $stream is missing and bin/fetch-key-streams.sh does not make it"
  fi
  echo "== skipping scenario $s: ${skip_reason[$s]}"
done
for s in "${scenario_names[@]}"; do
  [ -n "${skip_reason[$s]+set}" ] || pending=$((pending + pending_of[$s]))
done

echo "== matrix: ${#scenario_names[@]} scenarios × ${#partitioner_names[@]} partitioners × $repeats repeats into $out"
echo "== ramp of every run: ${ramp_args[*]}"
echo "== $pending runs to do; skipped $skipped_rows already in $csv"

# -- Runs ---------------------------------------------------------------------------------------------------
failed_list="$out/.failed-runs"   # the runs of this invocation that failed, one a line (background runs too)
: > "$failed_list"
start=$SECONDS
if [ "$pending" -gt 0 ] && [ "$dry_run" != 1 ]; then
  # Built and copied once: every run uses the same router, whatever changes in the tree meanwhile.
  build_artifacts
  known=" $(known_partitioners | paste -sd' ' -) "
  for p in "${partitioner_names[@]}"; do
    [[ $known == *" $p "* ]] || die "partitioners: the router knows no '$p' (it knows:$known)"
  done
  snapshot_artifacts "$out/artifacts"
fi
done_runs=0
for s in "${scenario_names[@]}"; do
  [ -z "${skip_reason[$s]+set}" ] && [ "${pending_of[$s]}" -gt 0 ] || continue
  params="$SCENARIO_DIR/$s.yaml"
  for p in "${partitioner_names[@]}"; do
    todo=()
    for ((r = 1; r <= repeats; r++)); do
      [ -n "${done_rows["$s,$p,$r"]+set}" ] || todo+=("$r")
    done
    [ ${#todo[@]} -gt 0 ] || continue
    agent_args=()
    if [ "$p" = saspartitioner ] && [ "$dry_run" != 1 ]; then
      policy=$checkpoint
      if [ -z "$policy" ]; then
        policy="$out/$s/saspartitioner-policy"
        if [ -f "$policy/config.json" ] && [ -s "$policy.json" ]; then
          echo "== saspartitioner's policy for $s: $policy (trained before)"
        else
          wait_runs   # training takes both cores: never beside a run
          echo "== saspartitioner's policy for $s: SAC-N in the simulator, $policy_steps steps -> $policy"
          mkdir -p "$out/$s"
          # In a subshell: a failed training (lib.sh's die) fails this scenario's saspartitioner runs only.
          (train_sim_policy "$params" "$policy_steps" "$policy") || rm -f "$policy.json"
        fi
      fi
      if [ ! -f "$policy/config.json" ] || { [ -z "$checkpoint" ] && [ ! -s "$policy.json" ]; }; then
        echo "error: no policy for saspartitioner in $s (see $policy.json)"
        for r in "${todo[@]}"; do echo "$s/$p/$r (no policy)" >> "$failed_list"; done
        continue
      fi
      mkdir -p "$out/$s/saspartitioner"
      wait_runs   # one run at a time on the agent: parallel runs would share its session and step log
      printf 'checkpoint: %s\nstep_log: %s\n' "$policy" "$out/$s/saspartitioner/steps.csv" > "$out/$s/agent.yaml"
      start_agent "$out/$s/agent.yaml" "$out/$s/agent.log"
      echo "agent: $AGENT_URI serving $policy (log $out/$s/agent.log)"
      agent_args=(--agent "$AGENT_URI")
    fi
    for r in "${todo[@]}"; do
      done_runs=$((done_runs + 1))
      echo "== $s · $p · repeat $r/$repeats (run $done_runs/$pending, $((SECONDS - start)) s so far)"
      if [ ${#agent_args[@]} -gt 0 ]; then
        measure_one "$s" "$p" "$r" "$params" "${agent_args[@]}"
      else
        launch "$s" "$p" "$r" "$params"
      fi
    done
    [ ${#agent_args[@]} -eq 0 ] || stop_agent
  done
done
wait_runs
failed=()
while read -r run; do failed+=("$run"); done < "$failed_list"
rm -f "$failed_list"

# -- Report -------------------------------------------------------------------------------------------------
echo
echo "== Scenario matrix: $done_runs runs in $((SECONDS - start)) s; skipped $skipped_rows already in $csv"
for s in "${scenario_names[@]}"; do
  [ -z "${skip_reason[$s]+set}" ] || echo "skipped scenario $s: ${skip_reason[$s]}"
done
if [ "$(wc -l < "$csv")" -gt 1 ]; then
  "$ROOT/target/release/sas-agent" plot-matrix --csv "$csv" --out "$out/matrix.png" --table \
    || die "plot: sas-agent plot-matrix failed on $csv"
  echo
  echo "wrote $csv and $out/matrix.png"
else
  echo "no row in $csv: no table, no chart"
fi
[ ${#failed[@]} -eq 0 ] || die "matrix: ${#failed[@]} runs failed: ${failed[*]} (see their log.txt)"
