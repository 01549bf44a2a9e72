#!/usr/bin/env bash
# The prepared GPU check (issue 24): run as is, from the repository root, on a machine with CUDA.
#
#   bash bench/gpu_check.sh [OUT]                        # default OUT: runs/gpu_check
#   HYPERSIREN_GPU_CHECK_CPU=1 bash bench/gpu_check.sh /tmp/gpucheck   # dry run: every step on the CPU, tiny sizes
#   bash bench/gpu_check.sh --prepare-carry [DIR]        # here, beside ../shared: DIR (data/gpu_check) holds subsets
#                                                        # of the faces small enough to travel to a lent machine
#
# Steps, each with its own time limit, none stopping the others (the exit status is 1 if any failed):
#   1. card: nvidia-smi's cards, driver and CUDA, torch / CUDA / cuDNN, Accelerate, git -> OUT/card.json (first)
#   2. tests: HYPERSIREN_TEST_DEVICE=cuda pytest -x -q on the test files that take `device` or are marked gpu
#   3. eval: eval/inpaint.py --model celeba32 --mask center on the 32x32 test split (the bundled images without data)
#   4. train: HYPERSIREN_GPU_CHECK_STEPS steps of each config (the shipped priors' recipes and the paper's) with one
#      process; then with two (accelerate --multi_gpu) where nvidia-smi lists two GPUs or more; images/s (steady,
#      after the first log) from metrics.jsonl, peak memory from final_metrics.json and nvidia-smi samples
#   5. report: OUT/report.md and OUT/report.json, every number with its command; OUT/bundle.tar.gz (logs, metrics);
#      the last line printed is a one-line summary
# Data: HYPERSIREN_GPU_CHECK_DATA32 / _DATA64 (a folder of {train,val,test}.npz, or `synthetic`); by default
# ../shared/data/celeba32, else data/gpu_check/celeba32; data/celeba64 (unpacked from ../shared/data/celeba64 where
# that exists), else data/gpu_check/celeba64; else synthetic images of the right size in a temporary folder (said
# in the report). Limits (seconds): HYPERSIREN_GPU_CHECK_BUDGET_S (whole run, 540), _TESTS_S (150), _TRAIN_S (each
# run, 120; its --max_minutes is 40 s less), _EVAL_S (90). Also _STEPS (300), _LOG_EVERY (25), _CONFIGS,
# _PROCESSES (e.g. "1 2"), _TEST_FILES, _PYTEST_ARGS, _PYTEST_WORKERS (4 where pytest-xdist is), _COPY_TO (a folder
# that gets report.md, report.json and bundle.tar.gz: the device tool's $OUT), PYTHON (python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
HELPER=(bench/gpu_report.py)

if [[ ${1:-} == --prepare-carry ]]; then
  dest=${2:-data/gpu_check}
  "$PYTHON" "${HELPER[@]}" subset ../shared/data/celeba32 "$dest/celeba32" --train 2048 --val 512 --test 1000
  [[ -f data/celeba64/train.npz ]] || "$PYTHON" ../shared/data/celeba64/unpack.py data/celeba64
  "$PYTHON" "${HELPER[@]}" subset data/celeba64 "$dest/celeba64" --train 512 --val 256 --test 64
  echo "$(du -sh "$dest" | cut -f1) in $dest: carry it (git-ignored) to a lent machine"
  exit 0
fi

OUT=${1:-runs/gpu_check}
CPU=${HYPERSIREN_GPU_CHECK_CPU:-0}
BUDGET=${HYPERSIREN_GPU_CHECK_BUDGET_S:-540}
TESTS_S=${HYPERSIREN_GPU_CHECK_TESTS_S:-150}
TRAIN_S=${HYPERSIREN_GPU_CHECK_TRAIN_S:-120}
EVAL_S=${HYPERSIREN_GPU_CHECK_EVAL_S:-90}
CONFIGS=${HYPERSIREN_GPU_CHECK_CONFIGS:-celeba32-cpu celeba64-cpu celeba32}
RESERVE=15   # seconds kept for the report and the bundle
MIN_STEP=20  # a step that would get less is skipped (and counts as failed)
if [[ $CPU == 1 ]]; then
  DEVICE=cpu MODE="CPU dry run" STEPS=${HYPERSIREN_GPU_CHECK_STEPS:-6} LOG_EVERY=${HYPERSIREN_GPU_CHECK_LOG_EVERY:-2}
  HYPERSIREN_GPU_CHECK_TEST_FILES=${HYPERSIREN_GPU_CHECK_TEST_FILES:-tests/siren/test_siren.py}  # the plumbing only
  # configs/tiny.yaml's sizes over each config (image size and model kind kept)
  TRAIN_EXTRA=(--cpu=true --train_limit=64 --val_limit=8 --batch_size=4 --hidden_features=16 --latent_dim=16
               --hyper_hidden_features=16 --encoder_width=8 --grid_dim=8)
  EVAL_EXTRA=(--limit 16)
else
  DEVICE=cuda MODE=GPU STEPS=${HYPERSIREN_GPU_CHECK_STEPS:-300} LOG_EVERY=${HYPERSIREN_GPU_CHECK_LOG_EVERY:-25}
  TRAIN_EXTRA=() EVAL_EXTRA=()
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # the checkout's package, installed or not
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1} PYTHONUNBUFFERED=1

mkdir -p "$OUT"
rm -rf "$OUT/logs" "$OUT/runs" "$OUT/eval" "$OUT/steps.jsonl" "$OUT/report.md" "$OUT/report.json" "$OUT/bundle.tar.gz"
mkdir -p "$OUT/logs" "$OUT/runs"
echo "$MODE" >"$OUT/mode"
echo "$(env | grep '^HYPERSIREN_GPU_CHECK_' | sort | tr '\n' ' ')bash bench/gpu_check.sh $OUT" >"$OUT/command"
TMP=$(mktemp -d)
SMI_PID=
cleanup() {
  if [[ -n $SMI_PID ]]; then kill "$SMI_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
FAILED=0
START=$SECONDS

left() { echo $((BUDGET - (SECONDS - START) - RESERVE)); }
limit_for() { local l; l=$(left); echo $(($1 < l ? $1 : l)); }
report() { "$PYTHON" "${HELPER[@]}" report "$OUT" >/dev/null 2>&1 || true; }

# run_step NAME LIMIT_S [key=value ...] -- COMMAND ...: the command under `timeout`, its output in OUT/logs/NAME.log,
# its exit status, seconds, command and the key=value notes in OUT/steps.jsonl; a failure is counted, not raised.
run_step() {
  local name=$1 limit=$2 meta=() rc=0 t0 t1 seconds
  shift 2
  while [[ $1 != -- ]]; do meta+=(--meta "$1"); shift; done
  shift
  local log="$OUT/logs/$name.log"
  if ((limit < MIN_STEP)); then
    echo "skipped: ${limit} s of the ${BUDGET} s budget left" | tee "$log"
    "$PYTHON" "${HELPER[@]}" record "$OUT" "$name" 125 0 "$log" "${meta[@]}" --meta "note=skipped, out of time" -- "$@"
    FAILED=$((FAILED + 1)); report; return 0
  fi
  echo "== $name (limit ${limit} s): $*"
  t0=$(date +%s%N)
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1 || rc=$?
  t1=$(( ($(date +%s%N) - t0) / 1000000 ))  # ms
  local note=()
  if ((rc == 124 || rc == 137)); then note=(--meta "note=timed out after ${limit} s"); fi
  seconds=$((t1 / 1000)).$(printf %03d $((t1 % 1000)))
  "$PYTHON" "${HELPER[@]}" record "$OUT" "$name" "$rc" "$seconds" "$log" "${meta[@]}" "${note[@]}" -- "$@"
  if ((rc != 0)); then
    FAILED=$((FAILED + 1))
    echo "   FAILED (rc $rc); last lines of $log:"; tail -n 5 "$log" | sed 's/^/   | /'
  else
    echo "   ok: $(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-200)"
  fi
  report
}

# 1. the card, first: a later failure still leaves it
run_step card "$(limit_for 60)" kind=card -- "$PYTHON" "${HELPER[@]}" card "$OUT"
GPUS=0
if command -v nvidia-smi >/dev/null; then GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true); fi
if [[ $CPU == 1 ]]; then PROCESSES=${HYPERSIREN_GPU_CHECK_PROCESSES:-1 2}  # gloo processes prove the plumbing
elif ((GPUS >= 2)); then PROCESSES=${HYPERSIREN_GPU_CHECK_PROCESSES:-1 2}
else PROCESSES=${HYPERSIREN_GPU_CHECK_PROCESSES:-1}; fi
echo "mode: $MODE; GPUs listed: $GPUS; processes: $PROCESSES; budget ${BUDGET} s"

# 2. the tests that take the device, and the gpu-marked ones
if [[ -n ${HYPERSIREN_GPU_CHECK_TEST_FILES:-} ]]; then read -r -a TEST_FILES <<<"$HYPERSIREN_GPU_CHECK_TEST_FILES"
else mapfile -t TEST_FILES < <("$PYTHON" "${HELPER[@]}" device-tests tests || true); fi
read -r -a PYTEST_ARGS <<<"${HYPERSIREN_GPU_CHECK_PYTEST_ARGS:-}"
# pytest-xdist (in the lent machine's image) spreads the files over WORKERS processes; serial without it
WORKERS=${HYPERSIREN_GPU_CHECK_PYTEST_WORKERS:-$([[ $CPU == 1 ]] && echo 0 || echo 4)}
if ((WORKERS > 0)) && "$PYTHON" -c "import xdist" 2>/dev/null; then PYTEST_ARGS+=(-n "$WORKERS"); fi
TESTS_LIMIT=$(limit_for "$TESTS_S")
if ((${#TEST_FILES[@]} == 0)); then TESTS_LIMIT=0; echo "tests: no test file takes the device (helper failed?)"; fi
run_step tests "$TESTS_LIMIT" kind=tests device="$DEVICE" -- \
  env HYPERSIREN_TEST_DEVICE="$DEVICE" "$PYTHON" -m pytest -x -q -p no:cacheprovider -m "not slow and not browser" \
  "${PYTEST_ARGS[@]}" "${TEST_FILES[@]}"

# data: a folder of {train,val,test}.npz per size, or synthetic faces of that size
resolve_data() {  # VAR SIZE FORCED CANDIDATE...: sets VAR to the folder and VAR_KIND to real or synthetic
  local var=$1 size=$2 forced=$3 dir counts=(--train 2048 --val 512 --test 1000)
  shift 3
  if [[ -z $forced ]]; then
    for dir in "$@"; do
      if [[ -f $dir/train.npz && -f $dir/val.npz ]]; then forced=$dir; break; fi
    done
  fi
  if [[ -n $forced && $forced != synthetic ]]; then
    printf -v "$var" %s "$forced"
    printf -v "${var}_KIND" real
    return
  fi
  if [[ $CPU == 1 ]]; then counts=(--train 64 --val 16 --test 16); fi
  printf -v "$var" %s "$TMP/synthetic$size"
  printf -v "${var}_KIND" synthetic
  "$PYTHON" "${HELPER[@]}" synth "$TMP/synthetic$size" --size "$size" "${counts[@]}" || echo "synthetic data: FAILED"
}
if [[ -z ${HYPERSIREN_GPU_CHECK_DATA64:-} && ! -f data/celeba64/train.npz && -f ../shared/data/celeba64/unpack.py ]]
then
  run_step unpack-celeba64 "$(limit_for 120)" kind=prepare -- "$PYTHON" ../shared/data/celeba64/unpack.py data/celeba64
fi
resolve_data DATA32 32 "${HYPERSIREN_GPU_CHECK_DATA32:-}" ../shared/data/celeba32 data/gpu_check/celeba32
resolve_data DATA64 64 "${HYPERSIREN_GPU_CHECK_DATA64:-}" data/celeba64 data/gpu_check/celeba64
echo "data: 32x32 $DATA32 ($DATA32_KIND), 64x64 $DATA64 ($DATA64_KIND)"

# 3. one evaluation (the shipped 32x32 prior, the centre hole), before the training runs that may use up the budget
EVAL_DATA=()
if [[ $DATA32_KIND == real && -f $DATA32/test.npz ]]; then EVAL_DATA=(--data "$DATA32/test.npz"); fi
run_step eval "$(limit_for "$EVAL_S")" kind=eval eval_dir="$OUT/eval" -- \
  "$PYTHON" eval/inpaint.py --model celeba32 "${EVAL_DATA[@]}" --mask center --device "$DEVICE" --out "$OUT/eval" \
  "${EVAL_EXTRA[@]}"

# 4. training: each config with one process
train() {  # CONFIG PROCESSES
  local config=$1 procs=$2 data=$DATA32 kind=$DATA32_KIND limit minutes precision
  if grep -q '^image_size: *64' "configs/$config.yaml"; then data=$DATA64 kind=$DATA64_KIND; fi
  precision=$(sed -n 's/^mixed_precision: *\([a-z0-9]*\).*/\1/p' "configs/$config.yaml")
  limit=$(limit_for "$TRAIN_S")
  local s=$((limit > 46 ? limit - 40 : 6))  # the run stops (validates, saves) this long after its start
  minutes=$((s / 60)).$(printf %02d $((s % 60 * 100 / 60)))
  local run="$OUT/runs/$config-x$procs" mem="$OUT/logs/$config-x$procs.gpumem"
  local launch=("$PYTHON" -m accelerate.commands.launch --num_machines 1 --num_processes "$procs"
                --mixed_precision "${precision:-no}" --dynamo_backend no)
  if ((procs > 1)); then launch+=(--multi_gpu); fi
  rm -rf "$run"
  SMI_PID=
  if ((GPUS > 0)) && ((limit >= MIN_STEP)); then
    nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms 250 >"$mem" 2>/dev/null &
    SMI_PID=$!
  fi
  run_step "train-$config-x$procs" "$limit" kind=train config="$config" processes="$procs" data="$data" \
    data_kind="$kind" run_dir="$run" mem_file="$mem" -- \
    "${launch[@]}" train/celeba.py --config "configs/$config.yaml" --data="$data" --output_dir="$run" \
    --max_steps="$STEPS" --max_minutes="$minutes" --log_every="$LOG_EVERY" --eval_every=100000000 \
    --checkpoint_every=100000000 --keep_checkpoints=1 "${TRAIN_EXTRA[@]}"
  if [[ -n $SMI_PID ]]; then kill "$SMI_PID" 2>/dev/null || true; wait "$SMI_PID" 2>/dev/null || true; fi
  SMI_PID=
}
for config in $CONFIGS; do train "$config" 1; done

# 4b. two processes (where there are two GPUs), last: a short budget loses these first
for procs in $PROCESSES; do
  if ((procs == 1)); then continue; fi
  for config in $CONFIGS; do train "$config" "$procs"; done
done

# 5. the report; the bundle holds what a lent machine's $OUT can take back (no weights)
report
(cd "$OUT" && find . \( -name '*.safetensors' -o -name 'checkpoint-*' -o -name '*.png' -o -name '*.csv' \) -prune \
  -o -type f ! -name bundle.tar.gz -print | tar czf bundle.tar.gz -T -) || echo "bundle: FAILED"
if [[ -n ${HYPERSIREN_GPU_CHECK_COPY_TO:-} ]]; then
  mkdir -p "$HYPERSIREN_GPU_CHECK_COPY_TO"
  cp "$OUT/report.md" "$OUT/report.json" "$OUT/bundle.tar.gz" "$HYPERSIREN_GPU_CHECK_COPY_TO"/ || true
fi
"$PYTHON" "${HELPER[@]}" report "$OUT"
((FAILED == 0))
