#!/usr/bin/python3
"""EdgeMed training worker: the training math only.

Driven by src/TrainerHost (C#), which owns data, splits, reports and packaging. It reads a run configuration
(JSON) and a tensor cache written by DicomIngest's SliceNormalizer, trains, keeps the best-validation weights,
exports them to ONNX and writes the test split's logits and features. It talks to the host in JSON lines on
stdout ({"event": ...}); anything else it prints goes to stderr.

Run with Debian's /usr/bin/python3 (PyTorch 1.13 from python3-torch / python3-torchvision).
"""
import argparse
import copy
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

_stdout = sys.stdout


def emit(event, **fields):
    _stdout.write(json.dumps({"event": event, **fields}) + "\n")
    _stdout.flush()


# ---------------------------------------------------------------- architectures
# Every model returns (logits, features): features are the pre-logits vector the report's PCA and the
# feature-smoothing loss use.

class SEVector(nn.Module):
    """Squeeze-excitation on a vector: FC C->max(8, C/16), ReLU, FC back to C, sigmoid, multiply."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = max(8, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x):
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x))))


class IConvNeXtTiny(nn.Module):
    """ConvNeXt-Tiny backbone -> [GAP, GMP] (2C) -> SEVector -> FC 256, ReLU (features) -> Dropout 0.3 -> FC classes."""
    in_channels = 3
    default_optimizer = "adam"
    default_lambda_fs = 0.05

    def __init__(self, classes, drop_path=0.0):
        super().__init__()
        self.features = torchvision.models.convnext_tiny(weights=None, stochastic_depth_prob=drop_path).features
        channels = 768
        self.se = SEVector(2 * channels)
        self.fc = nn.Linear(2 * channels, 256)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(256, classes)

    def forward(self, x):
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        features = F.relu(self.fc(self.se(pooled)))
        return self.head(self.dropout(features)), features


class ConvNeXtTiny(nn.Module):
    """torchvision ConvNeXt-Tiny; features are the normalized 768-d vector before the last Linear."""
    in_channels = 3
    default_optimizer = "adam"
    default_lambda_fs = 0.0

    def __init__(self, classes, drop_path=0.0):
        super().__init__()
        self.net = torchvision.models.convnext_tiny(weights=None, num_classes=classes, stochastic_depth_prob=drop_path)

    def forward(self, x):
        x = self.net.avgpool(self.net.features(x))
        features = self.net.classifier[1](self.net.classifier[0](x))
        return self.net.classifier[2](features), features


class BaseCnn(nn.Module):
    """A small baseline CNN: three conv-BN-ReLU-pool stages, global average pool (128-d features), FC."""
    in_channels = 3
    default_optimizer = "adam"
    default_lambda_fs = 0.0

    def __init__(self, classes):
        super().__init__()
        layers, c = [], 3
        for width in (32, 64, 128):
            layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(128, classes)

    def forward(self, x):
        features = self.body(x).mean(dim=(2, 3))
        return self.head(features), features


class _ResidualAttentionBlock(nn.Module):
    def __init__(self, cin, cout, attention=True, residual=True):
        super().__init__()
        self.attention, self.residual = attention, residual
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if residual:
            self.skip = nn.Identity() if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        if attention:
            hidden = max(8, cout // 8)
            self.gate1 = nn.Linear(cout, hidden)
            self.gate2 = nn.Linear(hidden, cout)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.attention:
            # Channel attention: a gate per channel from the block's pooled response.
            y = y * torch.sigmoid(self.gate2(F.relu(self.gate1(y.mean(dim=(2, 3))))))[:, :, None, None]
        return F.relu(y + self.skip(x) if self.residual else y)


class ArnCnn(nn.Module):
    """Attention-residual CNN for 64x64 single-channel images (MedNIST): 3 residual blocks with channel attention,
    GAP, dense 256 with GELU (features), dropout 0.45, FC classes. Adamax by default."""
    in_channels = 1
    default_optimizer = "adamax"
    default_lambda_fs = 0.0
    attention, residual = True, True

    def __init__(self, classes):
        super().__init__()
        a, r = self.attention, self.residual
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(
            _ResidualAttentionBlock(32, 32, a, r), nn.MaxPool2d(2),
            _ResidualAttentionBlock(32, 64, a, r), nn.MaxPool2d(2),
            _ResidualAttentionBlock(64, 128, a, r), nn.MaxPool2d(2))
        self.dense = nn.Linear(128, 256)
        self.dropout = nn.Dropout(0.45)
        self.head = nn.Linear(256, classes)

    def forward(self, x):
        pooled = self.blocks(self.stem(x)).mean(dim=(2, 3))
        features = F.gelu(self.dense(pooled))
        return self.head(self.dropout(features)), features


class ArnCnnNoAttention(ArnCnn):
    """Seed 003's first ablation: ARN-CNN without the channel-attention gates."""
    attention = False


class ArnCnnNoResidual(ArnCnn):
    """Seed 003's second ablation: ARN-CNN without the residual connections."""
    residual = False


class ResNet50(nn.Module):
    in_channels = 3
    default_optimizer = "adam"
    default_lambda_fs = 0.0
    factory = staticmethod(torchvision.models.resnet50)

    def __init__(self, classes):
        super().__init__()
        self.net = self.factory(weights=None, num_classes=classes)

    def forward(self, x):
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer4(n.layer3(n.layer2(n.layer1(x))))
        features = torch.flatten(n.avgpool(x), 1)
        return n.fc(features), features


class ResNet18(ResNet50):
    """The baseline the issue measures against, and a convnet teacher for distillation (--teacher)."""
    factory = staticmethod(torchvision.models.resnet18)


class Vgg16(nn.Module):
    in_channels = 3
    default_optimizer = "adam"
    default_lambda_fs = 0.0

    def __init__(self, classes):
        super().__init__()
        self.net = torchvision.models.vgg16(weights=None, num_classes=classes)

    def forward(self, x):
        x = torch.flatten(self.net.avgpool(self.net.features(x)), 1)
        features = self.net.classifier[:-1](x)
        return self.net.classifier[-1](features), features


ARCHITECTURES = {
    "iconvnext-tiny": IConvNeXtTiny,
    "convnext-tiny": ConvNeXtTiny,
    "base-cnn": BaseCnn,
    "arn-cnn": ArnCnn,
    "arn-cnn-no-attention": ArnCnnNoAttention,
    "arn-cnn-no-residual": ArnCnnNoResidual,
    "resnet18": ResNet18,
    "resnet50": ResNet50,
    "vgg16": Vgg16,
}


def feature_smoothing_loss(features, labels):
    """For each class present in the batch: mean over its samples of the squared L2 distance to the class's
    batch mean; averaged over those classes."""
    per_class = []
    for c in torch.unique(labels):
        f = features[labels == c]
        per_class.append(((f - f.mean(dim=0, keepdim=True)) ** 2).sum(dim=1).mean())
    return torch.stack(per_class).mean()


def distillation_loss(student_logits, teacher_logits, temperature):
    """Hinton et al.'s soft-target term: KL(teacher || student) of the temperature-softened distributions, times
    T squared so its gradients keep their scale as T changes."""
    t = temperature
    return F.kl_div(F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1), reduction="batchmean") * t * t


class Teacher:
    """A finished run's best-validation weights, frozen; runs in bfloat16 when the student does."""

    def __init__(self, spec, classes, bf16):
        self.model = build_model(spec["arch"], classes)
        state = torch.load(spec["checkpoint"], map_location="cpu")
        self.model.load_state_dict(state.get("best_model", state))
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.model.to(self.dtype)
        self.channels = ARCHITECTURES[spec["arch"]].in_channels
        self.weight, self.temperature = spec["weight"], spec["temperature"]
        self.features_weight = spec.get("features_weight") or 0.0

    def logits(self, x):
        if x.shape[1] != self.channels:
            x = x[:, :1].expand(-1, self.channels, -1, -1)
        with torch.no_grad():
            return self.model(x.to(self.dtype))[0].float()


def stage_modules(model):
    """The four stride-4/8/16/32 stages whose outputs feature distillation matches (--distill-features)."""
    if isinstance(model, IConvNeXtTiny):
        return [model.features[i] for i in (1, 3, 5, 7)]
    if isinstance(model, ConvNeXtTiny):
        return [model.net.features[i] for i in (1, 3, 5, 7)]
    if isinstance(model, ResNet50):
        return [model.net.layer1, model.net.layer2, model.net.layer3, model.net.layer4]
    raise ValueError(f"feature distillation needs a four-stage network (ConvNeXt or ResNet), not {type(model).__name__}")


class FeatureHints(nn.Module):
    """FitNets-style hints from the teacher's four stages, on top of the soft-target term: a 1x1 convolution per stage
    maps the student's stage output to the teacher's channels, and the loss is its mean squared distance to the
    teacher's output normalized over channels (parameter-free layer norm per position, as in Wei et al. 2022's
    feature distillation, so stages of any scale weigh alike). The projections train with the student and are not
    part of the exported model. Stage outputs are caught by forward hooks on both networks."""

    def __init__(self, student, teacher, size):
        """student and teacher in float32; a probe forward reads their stage shapes at this input size."""
        super().__init__()
        self.active, self._student, self._teacher = False, [], []
        s_shapes = self._shapes(student, size)
        t_shapes = self._shapes(teacher, size)
        self.proj = nn.ModuleList(nn.Conv2d(s[0], t[0], 1) for s, t in zip(s_shapes, t_shapes))
        self.shapes = [(tuple(s), tuple(t)) for s, t in zip(s_shapes, t_shapes)]

    @staticmethod
    def _shapes(model, size):
        caught, training = [], model.training
        hooks = [m.register_forward_hook(lambda _m, _i, out: caught.append(out.shape[1:])) for m in stage_modules(model)]
        try:
            model.eval()  # a probe must not move batch-norm statistics
            with torch.no_grad():
                model(torch.zeros(1, type(model).in_channels, size, size))
        finally:
            model.train(training)
            for h in hooks:
                h.remove()
        return caught

    def attach(self, student, teacher):
        """Hooks on the networks that actually run (the bfloat16 working copy under bf16-mixed)."""
        # Only the training step's forwards are caught (active), not validation or the export.
        for module in stage_modules(student):
            module.register_forward_hook(lambda _m, _i, out: self._student.append(out) if self.active else None)
        for module in stage_modules(teacher):
            module.register_forward_hook(lambda _m, _i, out: self._teacher.append(out) if self.active else None)

    def loss(self):
        """The hint term of the last student and teacher forwards; empties the caught outputs."""
        student, teacher, self._student, self._teacher, self.active = self._student, self._teacher, [], [], False
        if len(student) != len(self.proj) or len(teacher) != len(self.proj):
            raise RuntimeError(f"feature distillation caught {len(student)} student and {len(teacher)} teacher stages, expected {len(self.proj)}")
        total = 0.0
        for proj, s, t in zip(self.proj, student, teacher):
            s = proj(s.float())
            t = t.float()
            if s.shape[-2:] != t.shape[-2:]:
                s = F.adaptive_avg_pool2d(s, t.shape[-2:])
            t = F.layer_norm(t.permute(0, 2, 3, 1), t.shape[1:2]).permute(0, 3, 1, 2)
            total = total + F.mse_loss(s, t)
        return total / len(self.proj)


# ---------------------------------------------------------------- data

class TensorCache:
    """The host's cache: images.f32 [N, S, S] (normalized, one channel), labels.i64 [N]."""

    def __init__(self, folder, count, size):
        self.images = np.memmap(os.path.join(folder, "images.f32"), dtype="<f4", mode="r", shape=(count, size, size))
        self.labels = np.fromfile(os.path.join(folder, "labels.i64"), dtype="<i8")
        if len(self.labels) != count:
            raise ValueError(f"labels.i64 has {len(self.labels)} entries, expected {count}")

    def batch(self, indices, channels):
        order = np.sort(indices)  # sequential reads from the memory map
        x = torch.from_numpy(np.ascontiguousarray(self.images[order]))[:, None]
        y = torch.from_numpy(self.labels[order].astype(np.int64))
        if channels != 1:
            x = x.expand(-1, channels, -1, -1).contiguous()
        return x, y


AUGMENTATIONS = {
    # name: (max rotation in degrees, scale range, max shift as a fraction of the size, intensity jitter)
    "basic": (10.0, (0.9, 1.1), 0.0, 0.0),
    "strong": (15.0, (0.85, 1.15), 0.08, 0.2),
}


def augment(x, background, generator, kind="basic", mean=0.5, std=0.5):
    """Random affine (rotation, horizontal flip, scale, shift) on already-normalized tensors; "strong" also jitters
    brightness, contrast and gamma in [0, 1] intensity space, since scanners and windowing differ between sites."""
    degrees, (low, high), shift, jitter = AUGMENTATIONS[kind]
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * degrees * math.pi / 180
    scale = torch.rand(n, generator=generator) * (high - low) + low
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    tx, ty = ((torch.rand(2, n, generator=generator) * 2 - 1) * shift * 2)  # affine_grid coordinates span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Pad with the image background (black after normalization), not with zero.
    x = F.grid_sample(x - background, grid, align_corners=False, padding_mode="zeros") + background
    if jitter > 0:
        raw = (x * std + mean).clamp(0, 1)
        gamma = torch.exp((torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * jitter)
        contrast = 1 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * jitter
        brightness = (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * jitter / 2
        raw = ((raw ** gamma) * contrast + brightness).clamp(0, 1)
        x = (raw - mean) / std
    return x


# ---------------------------------------------------------------- training

def make_optimizer(name, model, lr, weight_decay=0.0):
    """Weight decay applies to weight matrices and kernels only: biases, norm scales and layer scales keep theirs."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    keep = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]
    return {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adamax": torch.optim.Adamax}[name](groups, lr=lr)


def lr_factor(step, total_steps, warmup_steps, schedule):
    """Learning-rate multiplier at an optimizer step: linear warm-up, then constant or cosine decay to zero."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule != "cosine":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def class_weights(train_labels, classes, mode):
    """Loss weights per class from the training part's counts, or None. inverse: N / (K * count); on the Alzheimer
    data's split seed 1 it weighs ModerateDemented (2 subjects) 19.7 against 0.50 for NonDemented, and training
    collapsed onto it (docs/RESULTS.md, b1). sqrt: the square root of inverse, a gentler tilt (4.4 against 0.71)."""
    if not mode:
        return None
    counts = np.bincount(train_labels, minlength=classes).astype(np.float64)
    inverse = counts.sum() / (classes * np.maximum(counts, 1))
    if mode == "inverse":
        return torch.tensor(inverse, dtype=torch.float32)
    if mode == "sqrt":
        return torch.tensor(np.sqrt(inverse), dtype=torch.float32)
    raise ValueError(f"unknown class weighting {mode!r}")


def load_init(model, state):
    """Initial weights from a checkpoint or state dict: every tensor whose name and shape match is copied; the rest
    keep their fresh initialization. Shapes differ where the class count does (pre-training on MedNIST's six classes,
    fine-tuning on four), so the classifier starts fresh and the backbone carries over. Returns (loaded names,
    skipped names, unexpected names)."""
    state = state.get("model", state)
    own = model.state_dict()
    loaded = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape)
    unexpected = sorted(k for k in state if k not in own)
    if len(loaded) < len(own) / 2:
        raise ValueError(f"--init: only {len(loaded)} of the model's {len(own)} tensors match by name and shape "
                         "(is it a checkpoint of another --arch?)")
    model.load_state_dict(loaded, strict=False)
    return sorted(loaded), skipped, unexpected


def imagenet_resnet_state(model_path, preprocess_path, mean, std):
    """A torchvision-layout ResNet state dict ("net." names, as ResNet18 holds it) from the ImageNet-trained ResNet in
    ML.NET's DnnImageFeaturizer package: a CNTK export to ONNX with 2-2-2-3 basic blocks, BGR input on a 0-255 scale
    minus a mean image (its preprocessing model). The input convention is folded into the stem: our input is
    x = (v - mean) / std with v in [0, 1], so the CNTK input p - mu_c = 255 std x + (255 mean - mu_c); the stem's
    kernel takes the factor and the constant goes into bn1's running mean (exact except at the zero-padded border).
    layer4's third block has no place in ResNet-18; load_init leaves it out as unexpected."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(model_path).graph
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    mean_image = next(numpy_helper.to_array(t) for t in onnx.load(preprocess_path).graph.initializer if t.name == "MeanImage")
    bn_after = {n.input[0]: n for n in graph.node if n.op_type == "BatchNormalization"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    # The graph lists a projection block's 1x1 shortcut before its two 3x3 convolutions, as torchvision orders them.
    names = ["conv1"]
    for layer, blocks in zip(range(1, 5), (2, 2, 2, 3)):
        for block in range(blocks):
            if layer > 1 and block == 0:
                names.append(f"layer{layer}.0.downsample.0")
            names += [f"layer{layer}.{block}.conv1", f"layer{layer}.{block}.conv2"]
    if len(names) != len(convs) or any(n.output[0] not in bn_after for n in convs):
        raise ValueError(f"{model_path}: not the expected 2-2-2-3 ResNet ({len(convs)} convolutions)")
    state = {}
    for name, conv in zip(names, convs):
        kernel = initializers[conv.input[1]].astype(np.float64)
        if (kernel.shape[2] == 1) != name.endswith("downsample.0"):
            raise ValueError(f"{model_path}: convolution {conv.name or conv.output[0]} is not where a {name} belongs")
        gamma, beta, running_mean, running_var = (initializers[k].astype(np.float64) for k in bn_after[conv.output[0]].input[1:])
        if name == "conv1":
            kernel = kernel[:, ::-1]  # BGR -> RGB (our three channels are one grey channel repeated, but stay exact)
            mu = mean_image.reshape(3, -1).mean(axis=1)[::-1].astype(np.float64)
            running_mean = running_mean - (kernel * (255 * mean - mu)[None, :, None, None]).sum(axis=(1, 2, 3))
            kernel = kernel * 255 * std
        norm = name[:-1] + "1" if name.endswith("downsample.0") else name.replace("conv", "bn")
        state[f"net.{name}.weight"] = torch.tensor(np.ascontiguousarray(kernel), dtype=torch.float32)
        for key, value in zip(("weight", "bias", "running_mean", "running_var"), (gamma, beta, running_mean, running_var)):
            state[f"net.{norm}.{key}"] = torch.tensor(value, dtype=torch.float32)
        state[f"net.{norm}.num_batches_tracked"] = torch.tensor(0)
    return state


def build_model(name, classes, drop_path=0.0):
    arch = ARCHITECTURES[name]
    if drop_path > 0:
        if name not in ("iconvnext-tiny", "convnext-tiny"):
            raise ValueError(f"drop_path (stochastic depth) applies to the ConvNeXt architectures, not {name}")
        return arch(classes, drop_path=drop_path)
    return arch(classes)


class MixedPrecision:
    """bfloat16 compute with float32 master weights (PyTorch 1.13's CPU autocast fails in LayerNorm).

    A bfloat16 copy of the model runs forward and backward; its gradients are copied to the float32 model, whose
    optimizer steps in float32, and the new weights are copied back. LayerNorm runs in float32 inside the bfloat16
    copy. bfloat16 keeps float32's exponent range, so no loss scaling is needed. The float32 model is the one that is
    evaluated, checkpointed and exported."""

    def __init__(self, model):
        self.master = model
        self.work = copy.deepcopy(model).to(torch.bfloat16)
        for module in self.work.modules():
            if isinstance(module, nn.LayerNorm):
                module.float()
                module.register_forward_pre_hook(lambda _m, inputs: tuple(t.float() for t in inputs))
                module.register_forward_hook(lambda _m, _inputs, out: out.to(torch.bfloat16))
        self.pairs = list(zip(self.master.parameters(), self.work.parameters()))

    def train(self):
        self.work.train()

    def forward(self, x):
        logits, features = self.work(x.to(torch.bfloat16))
        return logits.float(), features.float()

    def after_backward(self):
        for master, work in self.pairs:
            master.grad = None if work.grad is None else work.grad.float()
            work.grad = None

    def after_step(self):
        with torch.no_grad():
            for master, work in self.pairs:
                work.copy_(master)
            for master, work in zip(self.master.buffers(), self.work.buffers()):
                master.copy_(work)


class WeightAverage:
    """Exponential moving average of the float32 weights, the copy that is validated, kept and exported.

    Validation on 20 subjects moves by 5 points per subject, so choosing one epoch's raw weights picks noise; the
    average is a flatter point that follows the last few epochs. The decay ramps up as (1 + t) / (10 + t) so the
    early average is not dominated by the initial weights. Buffers (batch-norm statistics) are averaged alike; the
    ConvNeXt models have none."""

    def __init__(self, model, decay):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).float().eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def update(self, model):
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            for mine, theirs in zip(self.model.state_dict().values(), model.state_dict().values()):
                if mine.dtype.is_floating_point:
                    mine.mul_(d).add_(theirs.detach().float(), alpha=1 - d)
                else:
                    mine.copy_(theirs)

    def state(self):
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load(self, state):
        self.model.load_state_dict(state["model"])
        self.updates = state["updates"]


def keeps_epoch(score, best, validated):
    """Whether an epoch's weights replace the kept ones: the best validation accuracy so far; without a validation
    part the epoch count was fixed beforehand and the last epoch is kept (training accuracy under augmentation and
    drop path says little about which epoch generalizes)."""
    return score > best or not validated


def evaluate(model, cache, indices, channels, batch_size=32):
    model.eval()
    logits_all, features_all, labels_all = [], [], []
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            part = np.sort(indices[start:start + batch_size])
            x, y = cache.batch(part, channels)
            logits, features = model(x)
            logits_all.append(logits)
            features_all.append(features)
            labels_all.append(y)
    if not logits_all:
        return None
    logits = torch.cat(logits_all)
    labels = torch.cat(labels_all)
    return {
        "loss": F.cross_entropy(logits, labels).item(),
        "accuracy": (logits.argmax(1) == labels).float().mean().item(),
        "logits": logits, "features": torch.cat(features_all), "labels": labels,
    }


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(cfg):
    out = cfg["out_dir"]
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    arch = ARCHITECTURES[cfg["arch"]]
    classes = len(cfg["classes"])
    model = build_model(cfg["arch"], classes, cfg.get("drop_path") or 0.0)
    channels = arch.in_channels
    optimizer_name = cfg.get("optimizer") or arch.default_optimizer
    lambda_fs = cfg["lambda_fs"] if cfg.get("lambda_fs") is not None else arch.default_lambda_fs
    cache = TensorCache(cfg["cache_dir"], cfg["count"], cfg["size"])
    split = {k: np.asarray(v, dtype=np.int64) for k, v in cfg["split"].items()}
    train_idx, val_idx, test_idx = split["train"], split["val"], split["test"]
    if len(train_idx) == 0:
        raise ValueError("the training split is empty")

    if cfg.get("init"):
        if cfg.get("init_preprocess"):  # the ImageNet ResNet's ONNX model and its preprocessing (--init imagenet)
            initial = imagenet_resnet_state(cfg["init"], cfg["init_preprocess"], cfg["mean"], cfg["std"])
        else:
            initial = torch.load(cfg["init"], map_location="cpu")
        loaded, skipped, unexpected = load_init(model, initial)
        emit("init", path=cfg["init"], loaded=len(loaded), skipped=skipped, unexpected=len(unexpected))

    weights = class_weights(cache.labels[train_idx], classes, cfg.get("class_weights"))
    if weights is not None:
        emit("class_weights", mode=cfg["class_weights"], weights=[round(float(v), 4) for v in weights])

    teacher = Teacher(cfg["teacher"], classes, cfg.get("precision") == "bf16-mixed") if cfg.get("teacher") else None
    hints = None
    if teacher is not None:
        checked = evaluate(teacher.model.float(), cache, val_idx, teacher.channels) if len(val_idx) else None
        if teacher.features_weight:
            hints = FeatureHints(model, teacher.model, cfg["size"])
        teacher.model.to(teacher.dtype)
        emit("teacher", arch=cfg["teacher"]["arch"], val_accuracy=checked["accuracy"] if checked else None,
             weight=teacher.weight, temperature=teacher.temperature, features_weight=teacher.features_weight,
             stages=[[list(s), list(t)] for s, t in hints.shapes] if hints else None)

    optimizer = make_optimizer(optimizer_name, model, cfg["lr"], cfg.get("weight_decay") or 0.0)
    if hints is not None:
        optimizer.add_param_group({"params": list(hints.parameters()), "weight_decay": 0.0})
    batch_size = cfg["batch"]
    batches = math.ceil(len(train_idx) / batch_size)
    max_steps = cfg.get("max_steps") or 0
    steps_per_epoch = min(batches, max_steps) if max_steps else batches
    schedule, warmup = cfg.get("schedule") or "constant", round((cfg.get("warmup_epochs") or 0) * steps_per_epoch)
    step_scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, (cfg.get("schedule_epochs") or cfg["epochs"]) * steps_per_epoch, warmup, schedule))
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=2) if cfg.get("reduce_lr_on_plateau") else None
    generator = torch.Generator().manual_seed(cfg["seed"])
    checkpoint_path = os.path.join(out, "checkpoint.pt")
    history, best, best_epoch, start_epoch, stopped = [], -1.0, 0, 1, False
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    average = WeightAverage(model, cfg["ema"]) if cfg.get("ema") else None
    if cfg.get("resume") and os.path.exists(checkpoint_path):
        ck = torch.load(checkpoint_path, map_location="cpu")
        if ck.get("fingerprint") != cfg["fingerprint"]:
            raise ValueError("--resume: this run was started with other data, split or settings "
                             f"({ck.get('fingerprint')} != {cfg['fingerprint']}); start a new run instead")
        model.load_state_dict(ck["model"])
        if hints is not None:
            hints.load_state_dict(ck["hints"])
        best_state = ck["best_model"]
        stopped = ck.get("stopped", False)
        optimizer.load_state_dict(ck["optimizer"])
        if scheduler is not None and ck.get("scheduler"):
            scheduler.load_state_dict(ck["scheduler"])
        step_scheduler.load_state_dict(ck["step_scheduler"])
        if average is not None:
            average.load(ck["ema"])
        generator.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        history, best, best_epoch, start_epoch = ck["history"], ck["best"], ck["best_epoch"], ck["epoch"] + 1
        emit("resumed", epoch=ck["epoch"])

    parameters = sum(p.numel() for p in model.parameters())
    emit("start", arch=cfg["arch"], parameters=parameters, optimizer=optimizer_name, lambda_fs=lambda_fs,
         train=len(train_idx), val=len(val_idx), test=len(test_idx), threads=torch.get_num_threads(), start_epoch=start_epoch)
    patience = cfg.get("early_stopping") or 0
    smoothing = cfg.get("label_smoothing") or 0.0
    augmentation = cfg.get("augment") or "none"
    mixed = MixedPrecision(model) if cfg.get("precision") == "bf16-mixed" else None
    if hints is not None:
        hints.attach(mixed.work if mixed else model, teacher.model)
    for epoch in range(start_epoch, cfg["epochs"] + 1):
        if stopped:
            break  # an early-stopped run that is resumed (e.g. after a failed export) trains no further
        model.train()
        if mixed:
            mixed.train()
        started = time.time()
        order = train_idx[torch.randperm(len(train_idx), generator=generator).numpy()]
        total_loss, total_hints, correct, seen, last_emit = 0.0, 0.0, 0, 0, 0.0
        for b in range(batches):
            if max_steps and b >= max_steps:
                break
            x, y = cache.batch(order[b * batch_size:(b + 1) * batch_size], channels)
            if augmentation != "none":
                x = augment(x, cfg["background"], generator, augmentation, cfg.get("mean", 0.5), cfg.get("std", 0.5))
            if hints is not None:
                hints.active = True
            logits, features = mixed.forward(x) if mixed else model(x)
            loss = F.cross_entropy(logits, y, weight=weights, label_smoothing=smoothing)
            if teacher is not None:
                loss = (1 - teacher.weight) * loss + teacher.weight * distillation_loss(logits, teacher.logits(x), teacher.temperature)
            if hints is not None:
                hint_loss = hints.loss()
                loss = loss + teacher.features_weight * hint_loss
                total_hints += hint_loss.item() * len(y)
            if lambda_fs > 0:
                loss = loss + lambda_fs * feature_smoothing_loss(features, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if mixed:
                mixed.after_backward()
            optimizer.step()
            step_scheduler.step()
            if mixed:
                mixed.after_step()
            if average is not None:
                average.update(model)
            total_loss += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            now = time.time()
            if now - last_emit >= 1.0 or b == batches - 1:
                emit("batch", epoch=epoch, batch=b + 1, batches=batches, loss=total_loss / seen, accuracy=correct / seen)
                last_emit = now
        kept = average.model if average is not None else model
        val = evaluate(kept, cache, val_idx, channels)
        record = {"epoch": epoch, "train_loss": total_loss / max(seen, 1), "train_accuracy": correct / max(seen, 1),
                  "val_loss": val["loss"] if val else None, "val_accuracy": val["accuracy"] if val else None,
                  "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - started}
        if hints is not None:
            record["hint_loss"] = total_hints / max(seen, 1)
        if average is not None and len(val_idx):
            # The raw weights' validation too, so a report shows what the average bought.
            record["raw_val_accuracy"] = evaluate(model, cache, val_idx, channels)["accuracy"]
        if cfg.get("test_every_epoch") and len(test_idx):
            record["test_accuracy"] = evaluate(kept, cache, test_idx, channels)["accuracy"]
        history.append(record)
        score = val["accuracy"] if val else record["train_accuracy"]
        if keeps_epoch(score, best, validated=bool(val)):
            best, best_epoch = score, epoch
            best_state = {k: v.detach().clone() for k, v in kept.state_dict().items()}
        if scheduler is not None:
            scheduler.step(score)
        stopped = bool(patience and epoch - best_epoch >= patience)
        # One atomic file holds the epoch's state and the best weights, so they can never disagree after a crash.
        save_atomic({"model": model.state_dict(), "best_model": best_state, "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict() if scheduler else None,
                     "step_scheduler": step_scheduler.state_dict(), "ema": average.state() if average else None,
                     "hints": hints.state_dict() if hints else None, "generator": generator.get_state(),
                     "torch_rng": torch.get_rng_state(), "history": history, "best": best, "best_epoch": best_epoch,
                     "epoch": epoch, "stopped": stopped, "fingerprint": cfg["fingerprint"]}, checkpoint_path)
        emit("epoch", **record, best_epoch=best_epoch)
        if os.environ.get("EDGEMED_WORKER_HOLD_AFTER_EPOCH") == str(epoch):
            # Test hook: wait here to be killed, so a crash test hits a known point instead of racing the run.
            emit("held", epoch=epoch)
            while True:
                time.sleep(1)
        if stopped:
            emit("early_stop", epoch=epoch, best_epoch=best_epoch)
            break

    model.load_state_dict(best_state)
    model.eval()
    size = cfg["size"]
    onnx_path = os.path.join(out, "model.onnx")
    torch.onnx.export(model, torch.zeros(1, channels, size, size), onnx_path + ".tmp", opset_version=17,
                      input_names=["input"], output_names=["logits", "features"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}})
    os.replace(onnx_path + ".tmp", onnx_path)
    # The host checks ONNX against these logits on the same samples (the test split, or what it chose instead).
    test = evaluate(model, cache, np.asarray(cfg["check"], dtype=np.int64), channels)
    if test is not None:
        test["logits"].numpy().astype("<f4").tofile(os.path.join(out, "check_logits.f32"))
        test["features"].numpy().astype("<f4").tofile(os.path.join(out, "check_features.f32"))
    with open(os.path.join(out, "history.json"), "w") as f:
        json.dump(history, f, indent=1)
    emit("done", best_epoch=best_epoch, best_val_accuracy=best, onnx=onnx_path, channels=channels,
         features=int(test["features"].shape[1]) if test is not None else 0,
         test_accuracy=test["accuracy"] if test is not None else None, parameters=parameters)


def describe(size):
    """Output shapes and parameter counts of every architecture, for the host's tests."""
    for name, arch in ARCHITECTURES.items():
        model = arch(4).eval()
        s = 64 if name.startswith("arn-cnn") else size
        with torch.no_grad():
            logits, features = model(torch.zeros(2, arch.in_channels, s, s))
        emit("architecture", name=name, input=[2, arch.in_channels, s, s], logits=list(logits.shape), features=list(features.shape),
             parameters=sum(p.numel() for p in model.parameters()), default_optimizer=arch.default_optimizer,
             default_lambda_fs=arch.default_lambda_fs)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", help="run configuration written by the host")
    parser.add_argument("--describe", type=int, metavar="SIZE", help="print every architecture's shapes at SIZE and exit")
    args = parser.parse_args()
    # Nothing but events on stdout: libraries that print go to stderr.
    sys.stdout = sys.stderr
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if args.describe:
            describe(args.describe)
        else:
            with open(args.config) as f:
                train(json.load(f))
        return 0
    except KeyboardInterrupt:
        emit("interrupted")
        return 130
    except Exception as e:  # reported to the host as data, with the traceback on stderr
        import traceback
        traceback.print_exc()
        emit("error", message=f"{type(e).__name__}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
