#!/bin/bash
# GPU check of the paper-scale path: ResNet-18 with seed 000's paper recipe (SGD 0.1, cosine,
# weight decay 5e-4, augmentation, batch 128, rewind to epoch 2) through the stage modules on CUDA:
# train target and shadow, one-shot ticket at 80%, posteriors (with SAMIA's sensitivity), attacks.
# 2,500 members of the CIFAR-10 copy and 15 epochs (the paper scale is 12,500 and 60).
#
# The GPU machine has PyTorch but neither DVC nor dvclive, and no copy of ../shared, so:
#   here:  cp benchmarks/gpu_check/params.yaml params.yaml && python stages/validate.py \
#            && python stages/prepare.py && mkdir -p .gpu && cp -r data/prepared .gpu/prepared \
#            && git checkout params.yaml          (.gpu/ ignored via .git/info/exclude)
#   there: bash benchmarks/gpu_check/run.sh     (carrying .gpu; results under $OUT/r)
# shim/dvclive stands in for dvclive's Live (per-epoch metrics to live/metrics.jsonl).
set -e
export PYTHONPATH=$PWD:$PWD/benchmarks/gpu_check/shim PYTHONUNBUFFERED=1
python3 -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: run this on the GPU machine (it replaces params.yaml, data/prepared, models, posteriors and results)')"
cp benchmarks/gpu_check/params.yaml params.yaml
rm -rf data/prepared models posteriors results && cp -r .gpu/prepared data/prepared
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
t() { local s=$(date +%s); "$@"; echo "TIME $(( $(date +%s) - s )) s: $*"; }
t python3 stages/validate.py
t python3 stages/train.py --seed 0 --defense none
t python3 stages/train.py --seed 0 --defense none --shadow 0
t python3 stages/prune.py --seed 0 --defense none --method lth_oneshot --sparsity 0.8
t python3 stages/prune.py --seed 0 --defense none --method lth_oneshot --sparsity 0.8 --shadow 0
t python3 stages/posteriors.py --seed 0 --defense none --level dense
t python3 stages/posteriors.py --seed 0 --defense none --level lth_oneshot-0.8
t python3 stages/attack.py --seed 0 --defense none --level dense
t python3 stages/attack.py --seed 0 --defense none --level lth_oneshot-0.8
mkdir -p "${OUT:-out}/r" && cp results/seed-0/none/dense.json results/seed-0/none/lth_oneshot-0.8.json "${OUT:-out}/r/"
cp models/seed-0/none/dense/target/live/metrics.jsonl "${OUT:-out}/r/target-live.jsonl"
