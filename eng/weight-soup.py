#!/usr/bin/python3
"""Averages the weights of several runs fine-tuned from the same initial weights on the same split (a uniform "model
soup", Wortsman et al. 2022) and scores the average beside each run and beside the runs' averaged softmax (an
ensemble, which costs one inference per member), on held-out subjects with a bootstrap over subjects:

    eng/weight-soup.py [--part both|val|test] [--save SOUP.pt] RUN[:best|:final] RUN[:best|:final] ...

The soup is one model of the same shape, so it quantizes and ships like any run; --save writes its state dict
(usable with ./edgemed.sh train --init). Averaging only makes sense for runs that share their starting weights.
"""
import importlib.util
import json
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("paired_bootstrap", os.path.join(here, "paired-bootstrap.py"))
pb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pb)
w = pb.w


def main(arguments):
    torch.set_num_threads(2)
    part, save = "both", None
    while arguments[:1] in (["--part"], ["--save"]):
        if arguments[0] == "--part":
            part = arguments[1]
        else:
            save = arguments[1]
        arguments = arguments[2:]
    specs = [(a.split(":")[0], a.split(":")[1] if ":" in a else "final") for a in arguments]
    if len(specs) < 2:
        raise SystemExit("name at least two runs")
    configs = [json.load(open(os.path.join(run, "config.json"))) for run, _ in specs]
    first = configs[0]
    for (run, _), cfg in zip(specs, configs):
        if cfg["split"] != first["split"] or cfg["arch"] != first["arch"] or len(cfg["classes"]) != len(first["classes"]):
            raise SystemExit(f"{run}: a different split, architecture or class count from {specs[0][0]}")
    held_out = sorted((first["split"]["val"] if part != "test" else []) + (first["split"]["test"] if part != "val" else []))
    groups = pb.subject_groups(specs[0][0], first, held_out)
    cache = w.TensorCache(first["cache_dir"], first["count"], first["size"])
    channels = w.ARCHITECTURES[first["arch"]].in_channels

    states, probabilities, rows = [], [], []
    for run, which in specs:
        checkpoint = torch.load(os.path.join(run, "checkpoint.pt"), map_location="cpu")
        state = checkpoint["best_model" if which == "best" else "model"]
        states.append(state)
        model = w.build_model(first["arch"], len(first["classes"]))
        model.load_state_dict(state)
        result = w.evaluate(model, cache, np.asarray(held_out), channels)
        probabilities.append(torch.softmax(result["logits"].float(), 1))
        labels = result["labels"].numpy()
        rows.append((f"{os.path.basename(run.rstrip('/'))}:{which}", result["logits"].argmax(1).numpy() == labels))

    soup = {k: (sum(s[k].float() for s in states) / len(states)).to(v.dtype) if v.is_floating_point() else v for k, v in states[0].items()}
    model = w.build_model(first["arch"], len(first["classes"]))
    model.load_state_dict(soup)
    result = w.evaluate(model, cache, np.asarray(held_out), channels)
    rows.append(("weight soup", result["logits"].argmax(1).numpy() == labels))
    rows.append(("softmax ensemble", (sum(probabilities) / len(probabilities)).argmax(1).numpy() == labels))
    pb.report(part, held_out, groups, rows)
    if save:
        torch.save(soup, save)
        print(f"soup state dict: {save}")


if __name__ == "__main__":
    main(sys.argv[1:])
