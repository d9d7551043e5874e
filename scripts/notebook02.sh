#!/usr/bin/env bash
# Notebook 02 of the paper on this machine: the 1-layer, 4-head, width-256 model without LayerNorm before
# attention, pretrained on "random", then one adapter per task and method, each scored on all four tasks.
# Usage: scripts/notebook02.sh [ITERS] [LR] [METHODS...]   (defaults: 30000, the method's paper default,
# prefix soft-prompt prefix-kv); TASKS="descending" trains only those tasks (every adapter is still scored
# on all four). Finished runs are skipped, so an interrupted script resumes; results are
# appended to runs/nb02/results.tsv (method, task, iters, lr, tune seconds, accuracy on ↑ ↓ +1 +2).
set -euo pipefail
cd "$(dirname "$0")/.."
# PREFIXLAB=path/to/prefixlab runs a fixed build (e.g. a copy, so that rebuilding the tree mid-run is safe).
pl=${PREFIXLAB:-./prefixlab}
iters=${1:-30000}
lr=${2:-}
shift $(( $# > 2 ? 2 : $# ))
methods=("${@:-prefix soft-prompt prefix-kv}")
read -r -a methods <<< "${methods[*]}"
dir=runs/nb02
model=$dir/random.safetensors
tasks=(ascending descending plus1 plus2)
read -r -a train_tasks <<< "${TASKS:-${tasks[*]}}"
mkdir -p "$dir"
if [[ ! -f $model ]]; then
  "$pl" pretrain --task random --layers 1 --heads 4 --width 256 --prefix-size 1 --no-attn-layernorm \
    --iters 20000 --seed 1 --out "$model" --resume
fi
results=$dir/results.tsv
[[ -f $results ]] || printf 'method\ttask\titers\tlr\tseconds\tascending\tdescending\tplus1\tplus2\n' > "$results"
for method in "${methods[@]}"; do
  for task in "${train_tasks[@]}"; do
    tag=$method-$task-$iters${lr:+-lr$lr}
    adapter=$dir/$tag.safetensors
    [[ -f $adapter ]] && continue
    start=$(date +%s)
    "$pl" tune --model "$model" --method "$method" --task "$task" --iters "$iters" ${lr:+--lr $lr} \
      --seed 1 --out "$adapter" --resume
    seconds=$(( $(date +%s) - start ))
    row="$method	$task	$iters	${lr:-default}	$seconds"
    for t in "${tasks[@]}"; do
      acc=$("$pl" eval --model "$model" --adapter "$adapter" --task "$t" --json | sed -E 's/.*"accuracy":([0-9.eE+-]+).*/\1/')
      row+="	$acc"
    done
    printf '%s\n' "$row" | tee -a "$results"
  done
done
