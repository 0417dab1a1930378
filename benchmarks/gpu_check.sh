#!/usr/bin/env bash
# The GPU measurements of the "decode once, train from memory" work, in one go, most important
# first; each step has its own time limit, so one that hangs or fails leaves the others' results.
#
#   1. throughput.py --json                      ceiling / hpstudy / fastai default at batch 256
#   2. study_walltime.py --json --size 224       a whole 26-trial smoke-sized study at 224 px
#   3. throughput.py --json --batch 64 --compile the launch-bound batch 64, eager and CUDA graphs
#   4. optimizer_step.py --json                  the study's Adam against fastai's, per step
#
# At most about 9.5 minutes on an H200 (170 + 140 + 200 + 30 s plus the installs). Writes
# env.txt, one JSON file per step and log.txt to $OUT (default ./gpu-check). On an offline machine,
# first put the wheels of benchmarks/offline_wheels.sh in .whl/: they are installed into /tmp/site
# together with hpstudy and its plugins.
#
#   benchmarks/gpu_check.sh [--quick]   (--quick: small sizes, on the CPU where no GPU is visible,
#                                        to try the script itself)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check}
mkdir -p "$out"
exec > >(tee -a "$out/log.txt") 2>&1
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}

if [ -d .whl ]; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    "$py" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir \
        --target /tmp/site . ./plugins || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    export PATH=/tmp/site/bin:$PATH
fi

if [ "${1:-}" = "--quick" ]; then  # runs on a CPU-only machine too
    dev=$("$py" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
    big=(--images 200 --size 32 --batch 32 --arch resnet18 --epochs 1 --device "$dev")
    small=(--images 120 --size 32 --arch resnet18 --device "$dev")
else
    big=() small=()
fi
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$py" -c 'import torch, fastai, optuna; print("torch", torch.__version__, "cuda", torch.version.cuda,
        "gpu", torch.cuda.is_available(), "fastai", fastai.__version__, "optuna", optuna.__version__)'
    nproc
} > "$out/env.txt"
cat "$out/env.txt"

work=$(mktemp -d /tmp/hpstudy-gpu-check.XXXX)
step() {  # step NAME LIMIT_S COMMAND...
    local name=$1 limit=$2; shift 2
    echo "== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" > "$out/$name.json"
    local rc=$?
    echo "== $name: exit $rc after $((SECONDS - start))s"
    cat "$out/$name.json"
}
step throughput-256 170 "$py" benchmarks/throughput.py --json --workdir "$work/bench" "${big[@]}"
step study-224 140 "$py" benchmarks/study_walltime.py --json --workdir "$work/study" "${small[@]}"
step throughput-64-compiled 200 "$py" benchmarks/throughput.py --json --batch 64 --compile \
    --workdir "$work/bench" "${big[@]}"
step optimizer-step 30 "$py" benchmarks/optimizer_step.py --json ${1:+--steps 5}
rm -rf "$work"
