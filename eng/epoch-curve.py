#!/usr/bin/python3
"""Accuracy per epoch pooled over split repeats: what a fixed epoch count for a retrain on every subject rests on.

    eng/epoch-curve.py RUN [RUN ...]     (run folders of eng/split-repeats.sh, trained with --test-every-epoch)

For each epoch it prints each run's validation and test accuracy and their mean over every held-out slice of every
run (validation and test halves together: 40 subjects per run, none of them trained on). Runs without test scores
(e.g. m1, trained before --test-every-epoch) count with their validation half only. Reads the history from
checkpoint.pt, so a run still training shows the epochs it finished.
"""
import json
import os
import sys

import torch


def history(run):
    checkpoint = torch.load(os.path.join(run, "checkpoint.pt"), map_location="cpu")
    config = json.load(open(os.path.join(run, "config.json")))
    return checkpoint["history"], len(config["split"]["val"]), len(config["split"]["test"])


def main(runs):
    if not runs:
        raise SystemExit(__doc__)
    tables = [(os.path.basename(run.rstrip("/")), *history(run)) for run in runs]
    epochs = max(len(h) for _, h, _, _ in tables)
    print("epoch  " + "  ".join(f"{name:>22}" for name, _, _, _ in tables) + "   pooled (slices)")
    for e in range(epochs):
        cells, correct, seen = [], 0.0, 0
        for _, h, n_val, n_test in tables:
            if e >= len(h):
                cells.append(f"{'':>22}")
                continue
            r = h[e]
            test = r.get("test_accuracy")
            cells.append(f"val {r['val_accuracy']:.3f} test {test:.3f}" if test is not None else f"val {r['val_accuracy']:.3f} test   —  ")
            correct += r["val_accuracy"] * n_val + (test * n_test if test is not None else 0)
            seen += n_val + (n_test if test is not None else 0)
        print(f"{e + 1:>5}  " + "  ".join(cells) + f"   {correct / seen:.3f} ({seen})")


if __name__ == "__main__":
    main(sys.argv[1:])
