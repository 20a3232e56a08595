#!/usr/bin/python3
"""Plain PyTorch epoch over a training run's tensors, for measuring what the C# host adds.

Usage: /usr/bin/python3 trainer_baseline.py RUNDIR
Reads RUNDIR/config.json (written by ./edgemed.sh train), builds the same model, optimizer and batch order from
the worker module, and times one training epoch with no host, no events and no checkpoint. Compare with the
"seconds" of epoch 1 in RUNDIR/history.json.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src", "TrainerHost", "worker"))
import edgemed_worker as w  # noqa: E402

cfg = json.load(open(os.path.join(sys.argv[1], "config.json")))
torch.set_num_threads(cfg["threads"])
torch.manual_seed(cfg["seed"])
arch = w.ARCHITECTURES[cfg["arch"]]
model = arch(len(cfg["classes"]))
optimizer = w.make_optimizer(cfg.get("optimizer") or arch.default_optimizer, model, cfg["lr"], cfg.get("weight_decay") or 0.0)
lambda_fs = cfg["lambda_fs"] if cfg.get("lambda_fs") is not None else arch.default_lambda_fs
images = np.memmap(os.path.join(cfg["cache_dir"], "images.f32"), dtype="<f4", mode="r", shape=(cfg["count"], cfg["size"], cfg["size"]))
labels = np.fromfile(os.path.join(cfg["cache_dir"], "labels.i64"), dtype="<i8")
train = np.asarray(cfg["split"]["train"], dtype=np.int64)
order = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg["seed"])).numpy()]
batch = cfg["batch"]
model.train()
started = time.time()
for b in range(math.ceil(len(order) / batch)):
    idx = np.sort(order[b * batch:(b + 1) * batch])
    x = torch.from_numpy(np.ascontiguousarray(images[idx]))[:, None].expand(-1, arch.in_channels, -1, -1).contiguous()
    y = torch.from_numpy(labels[idx])
    logits, features = model(x)
    loss = F.cross_entropy(logits, y)
    if lambda_fs > 0:
        loss = loss + lambda_fs * w.feature_smoothing_loss(features, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
print(json.dumps({"plain_epoch_seconds": time.time() - started, "batches": math.ceil(len(order) / batch)}))
