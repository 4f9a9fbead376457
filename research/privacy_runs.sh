#!/usr/bin/env bash
# The training runs behind docs/privacy.md, scaled to a 2-core CPU: one thread a run, the first 10,000 rows of the
# FER2013 Training split and 3 epochs for the first DP, federated and centralised arms, all rows and 15 epochs for
# the `full-` arms. Usage: bash research/privacy_runs.sh [ARM...] (default: the 3-epoch arms and the pruning runs
# of the list at the end; the `full-` arms are named, see docs/privacy.md); then `python research/privacy_report.py
# [--series full]` writes the tables and the plot. A run that is restarted resumes.
set -uo pipefail
cd "$(dirname "$0")/.."
E=${EMOLENS_BIN:-.venv/bin/emolens}
R=${RUNS:-runs/privacy}
OLD=${OLD_MODEL:-$R/old/emotion-fer2013.onnx}  # the FER2013-only model of 07a48a3 (see the prune arms)
mkdir -p "$R"
# The same small `cnn` (GroupNorm, widths 8-16-32-64, 92k parameters) for every DP and federated arm, trained by
# AdamW at batch 64 without augmentation (at this budget of steps, augmentation only slows learning); PrivateTest is
# the validation split, and the last epoch is reported (nothing is selected on it).
COMMON=(--config fer2013-cnn --set norm=group --set 'arch_kwargs={"widths": [8, 16, 32, 64], "dropout": 0.1}'
  --set epochs=3 --set limit_train=10000 --set batch_size=64 --set warmup_epochs=0.1 --set optimizer=adamw
  --set lr=0.003 --set weight_decay=0.0001 --set label_smoothing=0
  --set 'augment={"rotate_deg": 0, "erase_p": 0, "scale": [1, 1], "shift": 0, "brightness": 0, "contrast": 0}'
  --set val=fer2013/private_test.npz --set threads=1 -q)

# The full-data series (2026-12-07): the same network, optimiser and no augmentation, on all 28,558 faces of the
# Training split for 15 epochs. The DP arms and their reference use an expected batch of 512 (DP-SGD needs large
# batches: the noise on a batch's mean gradient falls as 1/batch); the federated arms and theirs use 64, the usual
# local batch of FedAvg (a client of 2,900 rows then takes about 45 steps a round instead of 6).
FULL=("${COMMON[@]}" --set epochs=15 --set limit_train=0 --set warmup_epochs=0.5)
EF=${EMOLENS_FEDERATED_BIN:-.venv-federated/bin/emolens}  # Flower lives in its own environment (see .ci/run)

arm() {
  case $1 in
    full-central-b512) $E train "${FULL[@]}" --set batch_size=512 --run-dir $R/$1 ;;
    full-central-b64) $E train "${FULL[@]}" --run-dir $R/$1 ;;
    full-dp-eps*) $E train "${FULL[@]}" --set batch_size=512 --dp-epsilon "${1#full-dp-eps}" --run-dir $R/$1 ;;
    full-pretrained-dp-eps*)
      $E train "${FULL[@]}" --set train=fer2013/public_test.npz --run-dir $R/full-public-pretrain &&
        $E train "${FULL[@]}" --set batch_size=512 --dp-epsilon "${1#full-pretrained-dp-eps}" \
          --set init_from=$R/full-public-pretrain/last.pt --set lr=0.0003 --run-dir $R/$1 ;;
    # 10 clients, Dirichlet(0.5) label skew over the whole Training split; 15 rounds of 1 local epoch.
    full-federated-*)
      $EF train "${FULL[@]}" --federated --clients 10 --alpha 0.5 --rounds 15 --strategy "${1#full-federated-}" \
        --run-dir $R/$1 ;;
    central) $E train "${COMMON[@]}" --run-dir $R/central ;;
    dp-eps*) $E train "${COMMON[@]}" --dp-epsilon "${1#dp-eps}" --run-dir $R/$1 ;;
    # Pre-training without DP on a disjoint public split (FER2013 PublicTest, 3,589 faces: neither the Training rows
    # the DP runs use nor the PrivateTest they are scored on), then DP fine-tuning on Training from its weights at a
    # tenth of the learning rate (the usual fine-tuning step).
    pretrained-dp-eps*)
      $E train "${COMMON[@]}" --set train=fer2013/public_test.npz --set limit_train=0 --set epochs=8 \
        --run-dir $R/public-pretrain &&
        $E train "${COMMON[@]}" --dp-epsilon "${1#pretrained-dp-eps}" --set init_from=$R/public-pretrain/last.pt \
          --set lr=0.0003 --run-dir $R/$1 ;;
    # The arms up to `prunesoft` ran on 2026-12-06/07 on the FER2013-only model then shipped (OLD: `git show
    # 07a48a3:src/emolens/models/emotion-fer2013.onnx > old.onnx`, with its .json beside it), any channel count
    # and FER2013 alone (`--round-to 1 --recipe fer2013-cnn`, the behaviour of that day).
    # The shipped model, pruned, fine-tuned for one pass over the first 5,000 Training rows, taught by itself.
    prune-*)
      $E prune "$OLD" --round-to 1 --recipe fer2013-cnn --ratio "0.${1#prune-}" --finetune 1 --limit-train 5000 --threads 1 \
        --output $R/pruned --run-dir $R/$1 ;;
    # The same, fine-tuned for 2 epochs over the whole Training split.
    prunelong-*)
      $E prune "$OLD" --round-to 1 --recipe fer2013-cnn --ratio "0.${1#prunelong-}" --finetune 2 --threads 1 \
        --name "emotion-fer2013-pruned-${1#prunelong-}0-ft2" --output $R/pruned --run-dir $R/$1 ;;
    # Channels ranked by batch-norm scale (chosen on PublicTest by scripts/prune_criteria.py), batch norms
    # re-estimated on 2,048 Training rows; no fine-tuning.
    prunezero-*)
      $E prune "$OLD" --round-to 1 --recipe fer2013-cnn --ratio "0.${1#prunezero-}" --importance bn --finetune 0 --threads 1 \
        --name "emotion-fer2013-pruned-${1#prunezero-}0-ft0" --output $R/pruned --run-dir $R/prune${1#prunezero-}0-ft0 ;;
    # The same, fine-tuned for 3 full epochs: cosine from lr 0.01, distillation from the unpruned model (0.5), weights
    # averaged (EMA 0.997), selected on PublicTest; `prunesoft` also takes the FER+ votes as 0.3 of the targets.
    prunehard-*)
      $E prune "$OLD" --round-to 1 --recipe fer2013-cnn --ratio "0.${1#prunehard-}" --importance bn --finetune 3 --lr 0.01 --distill 0.5 \
        --threads 1 --set ema_decay=0.997 \
        --name "emotion-fer2013-pruned-${1#prunehard-}0-ft3h" --output $R/pruned --run-dir $R/prune${1#prunehard-}0-ft3h ;;
    prunesoft-*)
      $E prune "$OLD" --round-to 1 --recipe fer2013-cnn --ratio "0.${1#prunesoft-}" --importance bn --finetune 3 --lr 0.01 --distill 0.5 \
        --threads 1 --set ema_decay=0.997 --set ferplus_soft=0.3 \
        --name "emotion-fer2013-pruned-${1#prunesoft-}0-ft3" --output $R/pruned --run-dir $R/prune${1#prunesoft-}0-ft3 ;;
    # The model shipped since 2026-12-07 (trained for breadth), each convolution keeping a multiple of 8 channels,
    # fine-tuned on its own recipe (fer2013-cnn-xsource2: FER2013 with the cached ExpW, SFEW and Taiwanese train
    # rows, epochs of 8,192 rows, selected on the mean of four validation sets), distilled from itself (0.5).
    # `prunex0-*`: no fine-tuning; `prunex1-*`: the same with any channel count, for the speed comparison.
    prunex0-*)
      $E prune emotion-fer2013 --ratio "0.${1#prunex0-}" --importance bn --finetune 0 --threads 1 \
        --name "emotion-fer2013-pruned-${1#prunex0-}0-r8-ft0" --output $R/pruned --run-dir $R/prunex${1#prunex0-}0-ft0 ;;
    prunex1-*)
      $E prune emotion-fer2013 --ratio "0.${1#prunex1-}" --importance bn --finetune 0 --round-to 1 --threads 1 \
        --name "emotion-fer2013-pruned-${1#prunex1-}0-r1-ft0" --output $R/pruned --run-dir $R/prunex${1#prunex1-}0-r1 ;;
    prunex12-*)
      $E prune emotion-fer2013 --ratio "0.${1#prunex12-}" --importance bn --finetune 12 --threads 1 \
        --name "emotion-fer2013-pruned-${1#prunex12-}0-ft12" --output $R/pruned --run-dir $R/prunex${1#prunex12-}0-ft12 ;;
    prunex30-*)
      $E prune emotion-fer2013 --ratio "0.${1#prunex30-}" --importance bn --finetune 30 --threads 1 \
        --name "emotion-fer2013-pruned-${1#prunex30-}0-ft30" --output $R/pruned --run-dir $R/prunex${1#prunex30-}0-ft30 ;;
    # `prunexferE-*`: the default model again, fine-tuned for E epochs (3 when E is left out) on FER2013 alone (full
    # Training epochs, selected on PublicTest) instead of its own breadth recipe: the trade from the other side.
    prunexfer*-*)
      ep=${1%%-*}; ep=${ep#prunexfer}; ep=${ep:-3}
      $E prune emotion-fer2013 --ratio "0.${1#*-}" --importance bn --recipe fer2013-cnn --finetune "$ep" \
        --threads 1 --name "emotion-fer2013-pruned-${1#*-}0-fer-ft$ep" --output $R/pruned \
        --run-dir $R/prunexfer${1#*-}0-ft$ep ;;
    # `prunexfer-breadth`: the FER2013-tuned 30% copy of `prunexfer8-3` given the default model's own breadth
    # recipe afterwards (10 epochs of 8,192 rows, FER2013 about half; taught by the unpruned model on its rows).
    prunexfer-breadth)
      $E train --config fer2013-cnn-xsource2 --set init_from=$R/pruned/emotion-fer2013-pruned-30-fer-ft8.onnx \
        --set 'arch_kwargs={"widths": [24, 48, 88, 176]}' --set 'teacher=["emotion-fer2013"]' \
        --run-dir $R/prunexfer-then-breadth -q \
        && $E export $R/prunexfer-then-breadth --name emotion-fer2013-pruned-30-fer-breadth --output $R/pruned ;;
    # 10 clients, Dirichlet(0.5) label skew over the same 10,000 rows; 3 rounds of 1 local epoch = 3 epochs in all.
    federated-*)
      $E train "${COMMON[@]}" --federated --clients 10 --alpha 0.5 --rounds 3 --strategy "${1#federated-}" \
        --run-dir $R/$1 ;;
  esac
}

arms=("$@")
[[ ${#arms[@]} -eq 0 ]] && arms=(central dp-eps8 dp-eps2 dp-eps0.5 prune-3 federated-fedavg pretrained-dp-eps0.5
  federated-fedmedian prune-5 prunelong-3 prunelong-5 prunezero-3 prunezero-5 prunesoft-3 prunehard-3)
for a in "${arms[@]}"; do
  echo "== $a $(date -u +%FT%TZ)"
  arm "$a" > "$R/$a.log" 2>&1 || echo "!! $a failed (see $R/$a.log)"
done
echo "== done $(date -u +%FT%TZ)"
