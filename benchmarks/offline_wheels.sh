#!/usr/bin/env bash
# Wheels for running the benchmarks on an offline CUDA machine whose Python already has PyTorch,
# torchvision, numpy, scipy, pandas, scikit-learn, matplotlib, pillow, click and rich (a typical
# CUDA PyTorch image): hpstudy's other runtime dependencies, at the versions installed here, for
# that machine's Python. Copy DIR there with the repository, then run benchmarks/gpu_check.sh.
#
#   benchmarks/offline_wheels.sh [DIR=.whl] [PYTHON_VERSION=3.12]
set -euo pipefail
dir=${1:-.whl}
py=${2:-3.12}
names=(alembic beartype colorlog fastai fastcore fastdownload fastprogress fasttransform filelock
       itsdangerous Mako optuna plum-dispatch python-fasthtml python-multipart sniffio SQLAlchemy
       starlette)
pins=$(python - "${names[@]}" <<'PY'
import importlib.metadata as md, sys
print(" ".join(f"{n}=={md.version(n)}" for n in sys.argv[1:]))
PY
)
mkdir -p "$dir"
# shellcheck disable=SC2086
python -m pip download --quiet --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$dir" $pins
echo "$(ls "$dir" | wc -l) wheels, $(du -sh "$dir" | cut -f1) in $dir"
