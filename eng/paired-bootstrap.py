#!/usr/bin/python3
"""Compares trained runs on the same held-out subjects: accuracy of each, and the difference of each against the
first, with a 95% interval from a bootstrap over subjects (slice groups), not slices: the slices of one subject are
not independent, so a slice-level interval would be several times too narrow.

    eng/paired-bootstrap.py [--part both|val|test] RUN[:best|:final] RUN[:best|:final] ...
    (run folders of ./edgemed.sh train, same data, size and split)

The held-out part is the runs' validation and test slices together (or one of them: weights chosen by validation
accuracy, ":best", are only unbiased on the test part); groups come from the first run's split.csv.
"""
import csv
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "TrainerHost", "worker"))
import edgemed_worker as w  # noqa: E402

RESAMPLES = 10000


def weights(run, which):
    """A run's best-validation ("best") or last ("final") state dict."""
    return torch.load(os.path.join(run, "checkpoint.pt"), map_location="cpu")["best_model" if which == "best" else "model"]


def scored(cfg, state, indices):
    """Logits and labels of the samples at indices, from a state dict of cfg's architecture on cfg's tensor cache."""
    model = w.build_model(cfg["arch"], len(cfg["classes"]))
    model.load_state_dict(state)
    cache = w.TensorCache(cfg["cache_dir"], cfg["count"], cfg["size"])
    result = w.evaluate(model, cache, np.asarray(indices), w.ARCHITECTURES[cfg["arch"]].in_channels)
    return result["logits"], result["labels"].numpy()


def predictions(run, which, indices):
    cfg = json.load(open(os.path.join(run, "config.json")))
    logits, labels = scored(cfg, weights(run, which), indices)
    return cfg, logits.argmax(1).numpy(), labels


def subject_groups(run, cfg, held_out):
    """The subject (slice group) of each held-out sample, from the run's split.csv."""
    with open(os.path.join(run, "split.csv")) as f:
        groups_of_files = [row["group"] for row in csv.DictReader(f)]
    if len(groups_of_files) != cfg["count"]:
        raise SystemExit("split.csv does not list the cached samples one per row")
    return np.asarray([int(groups_of_files[i]) for i in held_out])


def report(part, held_out, groups, rows):
    """One line per (name, correct-per-sample) row: accuracy with its interval over subjects, and from the second
    row on its difference from the first, from the same resamples."""
    unique = np.unique(groups)
    rng = np.random.default_rng(0)
    members = [np.flatnonzero(groups == g) for g in unique]
    draws = [np.concatenate([members[i] for i in rng.integers(0, len(unique), len(unique))]) for _ in range(RESAMPLES)]
    print(f"{part}: {len(held_out)} slices of {len(unique)} subjects (groups); {RESAMPLES} bootstrap resamples of subjects")
    for name, c in rows:
        accuracies = np.asarray([c[d].mean() for d in draws])
        line = f"{name}  accuracy {c.mean():.4f} [{np.percentile(accuracies, 2.5):.4f}, {np.percentile(accuracies, 97.5):.4f}]"
        if c is not rows[0][1]:
            differences = np.asarray([c[d].mean() - rows[0][1][d].mean() for d in draws])
            line += f"  vs first {c.mean() - rows[0][1].mean():+.4f} [{np.percentile(differences, 2.5):+.4f}, {np.percentile(differences, 97.5):+.4f}]"
        print(line)


def main(arguments):
    torch.set_num_threads(2)
    part = "both"
    if arguments[:1] == ["--part"]:
        part, arguments = arguments[1], arguments[2:]
    specs = [(a.split(":")[0], a.split(":")[1] if ":" in a else "best") for a in arguments]
    first = json.load(open(os.path.join(specs[0][0], "config.json")))
    # Sorted: the worker's evaluate() sorts each batch, so only a sorted list keeps predictions in step with groups.
    held_out = sorted((list(first["split"]["val"]) if part != "test" else []) + (list(first["split"]["test"]) if part != "val" else []))
    groups = subject_groups(specs[0][0], first, held_out)
    rows = []
    for run, which in specs:
        cfg, predicted, labels = predictions(run, which, held_out)
        if cfg["split"]["val"] != first["split"]["val"] or cfg["split"]["test"] != first["split"]["test"]:
            raise SystemExit(f"{run}: a different split from {specs[0][0]}")
        rows.append((f"{os.path.basename(run.rstrip('/'))}:{which}", predicted == labels))
    report(part, held_out, groups, rows)


if __name__ == "__main__":
    main(sys.argv[1:])
