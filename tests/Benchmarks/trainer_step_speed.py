#!/usr/bin/python3
"""Seconds per training image for IConvNeXt-Tiny, measured side by side in one run (alternating rounds).

Usage: /usr/bin/python3 tests/Benchmarks/trainer_step_speed.py [ROUNDS] [STEPS]
Variants: the paper's plain loop (224 px, batch 4, fp32, Adam), and the shipped recipe's step (128 px, batch 32,
AdamW, stochastic depth 0.1, label smoothing) in fp32 and in bf16-mixed (worker.MixedPrecision). Each round times
STEPS steps of each variant after one warm-up step; prints the median seconds per image of every variant and the
ratios. Absolute times vary between days on this machine; the ratios are the result.
"""
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src", "TrainerHost", "worker"))
import edgemed_worker as w  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
torch.set_num_threads(2)


def variant(size, batch, optimizer, lr, drop_path, mixed, smoothing):
    torch.manual_seed(0)
    model = w.build_model("iconvnext-tiny", 4, drop_path)
    model.train()
    opt = w.make_optimizer(optimizer, model, lr, 0.05 if optimizer == "adamw" else 0.0)
    mp = w.MixedPrecision(model) if mixed else None
    if mp:
        mp.train()
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 4, (batch,))

    def step():
        logits, features = mp.forward(x) if mp else model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=smoothing) + 0.05 * w.feature_smoothing_loss(features, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if mp:
            mp.after_backward()
        opt.step()
        if mp:
            mp.after_step()

    return step, batch


variants = {
    "paper loop (224 px, batch 4, fp32, Adam)": variant(224, 4, "adam", 1e-3, 0.0, False, 0.0),
    "recipe fp32 (128 px, batch 32, AdamW)": variant(128, 32, "adamw", 3e-4, 0.1, False, 0.1),
    "recipe bf16-mixed (128 px, batch 32, AdamW)": variant(128, 32, "adamw", 3e-4, 0.1, True, 0.1),
}
times = {name: [] for name in variants}
for name, (step, _) in variants.items():
    step()  # warm-up: allocator, OpenBLAS/oneDNN kernels
for r in range(ROUNDS):
    for name, (step, batch) in variants.items():
        started = time.perf_counter()
        for _ in range(STEPS):
            step()
        times[name].append((time.perf_counter() - started) / (STEPS * batch))
medians = {name: statistics.median(t) for name, t in times.items()}
for name, m in medians.items():
    print(f"{name:48s} {m * 1000:7.1f} ms/image  (rounds: {', '.join(f'{t * 1000:.1f}' for t in times[name])})")
names = list(medians)
print(f"bf16-mixed / fp32 at the recipe's size: {medians[names[2]] / medians[names[1]]:.3f}")
print(f"recipe bf16-mixed / paper loop:          {medians[names[2]] / medians[names[0]]:.3f}")
