#!/usr/bin/env bash
# The real-scale LM experiment in one device call: the sweep within its time budget, `pack`, then the MFU bench.
# Run from the repository root on the GPU machine, with the data exported on this one first
# (`python -m lm_experiments export --config gpu-270m --out shipped`, carried with the call):
#   benchmarks/real_scale.sh OUT [BUDGET_MINUTES]        writes OUT/packed.tgz, OUT/bench.json, OUT/log.txt
# Dry run on a CPU (model and steps shrunk, same data, tables and files):
#   DEVICE=cpu CONFIG=lm_experiments/configs/gpu_270m_dryrun.toml BENCH_PRESET=tiny BENCH_STEPS=1 benchmarks/real_scale.sh OUT 9
set -uo pipefail
OUT=${1:?usage: benchmarks/real_scale.sh OUT [BUDGET_MINUTES]}
BUDGET=${2:-7.5}
PY=${PY:-python3}
CONFIG=${CONFIG:-gpu-270m}
DEVICE=${DEVICE:-cuda}
BENCH_PRESET=${BENCH_PRESET:-openelm-270m-like}
BENCH_SECONDS=${BENCH_SECONDS:-100}
BENCH_STEPS=${BENCH_STEPS:-10}
WORK=${WORK:-/tmp/real_scale}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TQDM_MININTERVAL=15
mkdir -p "$OUT" "$WORK"
log() { tr '\r' '\n' | tee -a "$OUT/log.txt"; }
t0=$(date +%s)
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')" 2>&1 | log
$PY -m lm_experiments sweep --config "$CONFIG" --data shipped --out "$WORK/sweep" --budget-minutes "$BUDGET" 2>&1 | log
echo "sweep rc ${PIPESTATUS[0]} after $(( $(date +%s) - t0 )) s" | log
$PY -m lm_experiments pack --sweep "$WORK/sweep" --out "$WORK/packed" 2>&1 | log
cp "$WORK/sweep/plan.csv" "$OUT/plan.csv" 2>/dev/null
tar czf "$OUT/packed.tgz" -C "$WORK" packed
echo "pack done after $(( $(date +%s) - t0 )) s" | log
timeout "$BENCH_SECONDS" $PY -m lm_experiments bench --preset "$BENCH_PRESET" --vocab-size 32000 --device "$DEVICE" \
    --batch-sizes 64,128 --modes eager,compiled --steps "$BENCH_STEPS" --json "$OUT/bench.json" 2>&1 | log
echo "bench rc ${PIPESTATUS[0]}; all done after $(( $(date +%s) - t0 )) s" | log
