#!/usr/bin/env bash
# The notebook's overfitting figure: 20 epochs on the validation split, where
# training loss keeps falling and validation loss turns upward after 3-4 epochs.
# Runs as a DVC experiment outside the workspace, keeps it as the git branch
# `overfitting`, then copies its figures here.
#
#   experiments/overfitting.sh        (about 30 seconds)
set -euo pipefail
here=$(dirname "$0")
dvc exp remove overfitting 2>/dev/null || true
git branch -D overfitting 2>/dev/null || true
dvc exp run --temp -n overfitting -S train.epochs=20 -S train.refit=false
dvc exp branch overfitting overfitting
for figure in loss accuracy; do
    git show "overfitting:reports/figures/$figure.png" > "$here/overfitting-$figure.png"
done
git show "overfitting:reports/history.csv" > "$here/overfitting-history.csv"
echo "wrote $here/overfitting-{loss,accuracy}.png and overfitting-history.csv;"
echo "compare with the committed run: dvc plots diff HEAD overfitting"
