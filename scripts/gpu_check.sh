#!/usr/bin/env bash
# The GPU check, in one go (under 8 minutes on an H100 with 16 cores):
#   1. makes `import cropperhead` work offline (pip install -e ., or wheels carried in
#      $WHEELS, default dist/device-wheels), or stops at once saying what is missing;
#   2. smoke run: `python train.py trainer=gpu` for 2 epochs on a generated library;
#   3. benchmarks/gpu.py with the time that is left.
# Results go to $OUT (default ./gpu_check_out): gpu_check.log, env.txt, smoke_metrics.json,
# smoke_val.png, smoke_train.log, gpu_benchmark.md, gpu_benchmark.json.
#
#   bash scripts/gpu_check.sh                     # on the GPU machine
#   CPU_DRY_RUN=1 bash scripts/gpu_check.sh       # the same plumbing on a CPU, toy sizes
#   bash scripts/gpu_check.sh --dry-run           # same as CPU_DRY_RUN=1
# BUDGET_S (default 450) caps the whole script; PYTHON picks the interpreter.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
[[ "${1:-}" == "--dry-run" ]] && CPU_DRY_RUN=1
DRY=${CPU_DRY_RUN:-0}
OUT=${OUT:-$REPO/gpu_check_out}
WHEELS=${WHEELS:-$REPO/dist/device-wheels}
BUDGET_S=${BUDGET_S:-450}
PY=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cropperhead-gpu-check.XXXXXX")
START=$(date +%s)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline CROPPERHEAD_CACHE_DIR="$WORK/cache"
# This checkout's package wins over any installed copy, also for benchmarks/*.py.
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
LOG="$OUT/gpu_check.log"
: >"$LOG"

say() { echo "== $(date +%T) [+$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }
left() { echo $((BUDGET_S - ($(date +%s) - START))); }
fail() {
    say "FAILED: $*"
    exit "${2:-1}"
}

say "GPU check in $REPO (dry run: $DRY, budget ${BUDGET_S}s, work $WORK)"
{
    echo "python: $($PY -c 'import sys; print(sys.version)' 2>&1)"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || true
    nproc
    $PY -m pip list 2>/dev/null | grep -iE '^(torch|torchvision|pytorch-lightning|numpy|pillow|opencv|hydra|omegaconf|albu)' || true
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt" | tee -a "$LOG"

# -- 1. imports, offline ------------------------------------------------------------------
NEEDED="cropperhead torch torchvision pytorch_lightning torchmetrics hydra omegaconf albumentations cv2 PIL numpy yaml tqdm"
missing() {
    $PY - "$@" <<'EOF'
import importlib, sys
bad = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001
        bad.append(f"{name} ({type(exc).__name__}: {exc})")
print("; ".join(bad))
EOF
}
gone=$(missing $NEEDED)
if [[ -n "$gone" ]]; then
    say "missing: $gone; installing offline"
    if [[ -d "$WHEELS" ]] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        say "installing $(ls "$WHEELS"/*.whl | wc -l) carried wheels from $WHEELS"
        $PY -m pip install -q --no-index --no-deps --no-compile "$WHEELS"/*.whl >>"$LOG" 2>&1 ||
            say "some carried wheels did not install (see the log)"
    fi
    # With every dependency there this is all it takes; else the package alone (the
    # training path needs no rawpy / wandb); the source tree is on PYTHONPATH anyway.
    $PY -m pip install -q --no-index -e . >>"$LOG" 2>&1 ||
        $PY -m pip install -q --no-index --no-deps --no-build-isolation -e . >>"$LOG" 2>&1 ||
        say "pip could not install the package; using the source tree (PYTHONPATH)"
    gone=$(missing $NEEDED)
    if [[ -n "$gone" ]]; then
        say "still missing: $gone"
        say "carry them as wheels: on a machine with pip, in the repository root:"
        say "  pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d dist/device-wheels hydra-core omegaconf albumentations albucore pydantic pydantic-core annotated-types typing-inspection stringzilla simsimd"
        say "  (antlr4-python3-runtime==4.9.3 has no wheel on PyPI: pip wheel --no-deps -w dist/device-wheels antlr4-python3-runtime==4.9.3)"
        fail "cannot import what training needs" 3
    fi
fi
say "imports ok: $($PY -c 'import cropperhead, torch, pytorch_lightning as pl; print("cropperhead", cropperhead.__version__, "torch", torch.__version__, "lightning", pl.__version__)')"
if [[ "$DRY" != "1" ]]; then
    $PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
        fail "torch sees no CUDA GPU (CPU_DRY_RUN=1 checks the plumbing without one)" 4
fi

# -- 2. smoke run: python train.py trainer=gpu --------------------------------------------
say "smoke: generating a small library"
if [[ "$DRY" == "1" ]]; then
    PHOTOS=24 SIZE=64 BATCH=8 EXTRA=(trainer.accelerator=cpu trainer.precision=32-true data.num_workers=1 trainer.max_epochs=1)
else
    PHOTOS=512 SIZE=224 BATCH=64 EXTRA=(trainer.max_epochs=2)
fi
$PY benchmarks/gpu.py --make-dataset "$WORK/smoke_ds" --photos "$PHOTOS" --copies 1 >>"$LOG" 2>&1 ||
    fail "could not generate the smoke library"
say "smoke: python train.py trainer=gpu (${PHOTOS} photos, ${SIZE} px)"
SMOKE="$WORK/smoke_run"
timeout $(($(left) - 30)) $PY train.py trainer=gpu data=library "data.root=$WORK/smoke_ds" \
    "data.image_size=$SIZE" "data.batch_size=$BATCH" model=resnet34 model.pretrained=false \
    "hydra.run.dir=$SMOKE" "${EXTRA[@]}" >"$OUT/smoke_train.log" 2>&1
rc=$?
cp "$SMOKE/metrics.json" "$OUT/smoke_metrics.json" 2>/dev/null
cp "$SMOKE/val_pictures/latest.png" "$OUT/smoke_val.png" 2>/dev/null
if [[ $rc -ne 0 ]] || ! grep -q '"status": "finished"' "$OUT/smoke_metrics.json" 2>/dev/null; then
    tail -30 "$OUT/smoke_train.log" | tee -a "$LOG"
    fail "smoke run failed (exit $rc); see smoke_train.log" 5
fi
[[ -f "$SMOKE/checkpoints/last.ckpt" ]] || fail "smoke run wrote no checkpoints/last.ckpt" 5
say "smoke ok: $($PY -c "import json; m = json.load(open('$OUT/smoke_metrics.json')); print('val/iou %.3f, best %s, %d epochs' % (m['metrics'].get('val/iou', float('nan')), m['best_model_path'], m['epochs']))")"
grep -E "precision|GPU available|cache" "$OUT/smoke_train.log" | head -5 | tee -a "$LOG"

# -- 3. benchmark -------------------------------------------------------------------------
BENCH_S=$(($(left) - 25))
if [[ $BENCH_S -lt 60 ]]; then
    say "no time left for the benchmark (${BENCH_S}s)"
    exit 0
fi
say "benchmark: benchmarks/gpu.py with ${BENCH_S}s"
DRY_FLAG=()
[[ "$DRY" == "1" ]] && DRY_FLAG=(--dry-run)
timeout $((BENCH_S + 20)) $PY benchmarks/gpu.py --out "$OUT" --budget-s "$BENCH_S" "${DRY_FLAG[@]}" \
    >>"$LOG" 2>&1
rc=$?
[[ -f "$OUT/gpu_benchmark.md" ]] && cat "$OUT/gpu_benchmark.md"
rm -rf "$WORK" /tmp/cropperhead-gpu-bench-* 2>/dev/null
say "done in $(($(date +%s) - START))s (benchmark exit $rc)"
exit $rc
