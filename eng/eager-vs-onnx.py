#!/usr/bin/python3
"""PyTorch 1.13 eager fp32 latency of IConvNeXt-Tiny at the shipped input (128 px), batch 1, next to the agent's bare
int8 figure from `agent bench` in the same sitting: the issue's "PyTorch eager fp32 / our int8" ratio. Weights are the
architecture's initial ones (time does not depend on them).
    eng/eager-vs-onnx.py AGENT_PROGRAM INT8_PACKAGE [SITTINGS]
"""
import os, re, statistics, subprocess, sys, time
import torch
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(root, "src", "TrainerHost", "worker"))
import edgemed_worker as w  # noqa: E402

agent, package = sys.argv[1:3]
sittings = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.set_num_threads(2)
model = w.build_model("iconvnext-tiny", 4).eval()
x = torch.randn(1, 3, 128, 128)


def eager_ms(runs=40):
    with torch.no_grad():
        for _ in range(5):
            model(x)
        times = []
        for _ in range(runs):
            t = time.perf_counter(); model(x); times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def onnx_int8_ms():
    out = subprocess.run([agent, "bench", os.path.join(root, "samples"), "--models", package, "--threads", "2", "--batch", "1", "--rounds", "3"],
                         capture_output=True, text=True, check=True).stdout
    return 1000 / float(re.search(r"^bare inference\s+([\d.]+) slices/s", out, re.M).group(1))


for s in range(sittings):
    e, o = eager_ms(), onnx_int8_ms()
    print(f"sitting {s + 1}: PyTorch eager fp32 {e:.1f} ms, ONNX Runtime int8 {o:.1f} ms per slice (batch 1, 2 threads): ratio {e / o:.1f}")
