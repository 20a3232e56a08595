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

import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("paired_bootstrap", os.path.join(here, "paired-bootstrap.py"))
pb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pb)


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
    states, probabilities, rows = [], [], []
    for run, which in specs:
        states.append(pb.weights(run, which))
        logits, labels = pb.scored(first, states[-1], held_out)
        probabilities.append(torch.softmax(logits.float(), 1))
        rows.append((f"{os.path.basename(run.rstrip('/'))}:{which}", logits.argmax(1).numpy() == labels))

    soup = {k: (sum(s[k].float() for s in states) / len(states)).to(v.dtype) if v.is_floating_point() else v for k, v in states[0].items()}
    logits, _ = pb.scored(first, soup, held_out)
    rows.append(("weight soup", logits.argmax(1).numpy() == labels))
    rows.append(("softmax ensemble", (sum(probabilities) / len(probabilities)).argmax(1).numpy() == labels))
    pb.report(part, held_out, groups, rows)
    if save:
        torch.save(soup, save)
        print(f"soup state dict: {save}")


if __name__ == "__main__":
    main(sys.argv[1:])
