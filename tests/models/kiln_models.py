"""Model definitions and builders for Kiln's generated model repositories (the
folder writing lives in model_files.py, the attention models of torch 2.x in
attention_models.py).

Imported lazily by make_repository.py (importing torch costs seconds; the
up-to-date check must not pay it). Every model is built from a fixed seed, so a
repository generated twice from the same source holds the same weights.

Each builder writes one model folder: <out>/<name>/config.pbtxt and
<out>/<name>/<version>/model.pt. See README.md for what each model is for.
"""

import random
from pathlib import Path
from typing import Dict, Tuple

import torch
from torch import Tensor

import attention_models
from model_files import (FP32, config_text, script_module, seeded, trace_module,
                         write_model)

# -------------------------------------------------------------------- modules


class TwoInTwoOut(torch.nn.Module):
    def forward(self, a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
        return a + b, a * b


class Int64Embed(torch.nn.Module):
    VOCAB = 100

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(self.VOCAB, 8)

    def forward(self, ids: Tensor) -> Tensor:
        return self.emb(ids).mean(dim=1)


class TinyCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.pool = torch.nn.MaxPool2d(2)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.fc = torch.nn.Linear(16, 10)
        with torch.no_grad():  # non-trivial running stats, so BN folding matters
            self.bn1.running_mean.uniform_(-0.5, 0.5)
            self.bn1.running_var.uniform_(0.5, 2.0)
            self.bn1.weight.uniform_(0.5, 1.5)
            self.bn1.bias.uniform_(-0.2, 0.2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = torch.relu(self.conv2(x))
        x = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class AllDtypes(torch.nn.Module):
    def forward(self, x0: Tensor, x1: Tensor, x2: Tensor, x3: Tensor, x4: Tensor,
                x5: Tensor, x6: Tensor, x7: Tensor, x8: Tensor, x9: Tensor
                ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor,
                           Tensor, Tensor, Tensor, Tensor, Tensor]:
        return (torch.logical_not(x0), x1 + 1, x2 + 1, x3 + 1, x4 + 1,
                x5 + 1, x6 + 1, x7 + 1, x8 + 1, x9 + 1)


class DictOutput(torch.nn.Module):
    def forward(self, x: Tensor, y: Tensor) -> Dict[str, Tensor]:
        return {"sum": x + y, "prod": x * y}


class DictInput(torch.nn.Module):
    def forward(self, inputs: Dict[str, Tensor]) -> Tensor:
        return inputs["x"] * 2.0 + inputs["y"]


class RuntimeErrorModel(torch.nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        if bool((x < 0).any()):
            raise RuntimeError("negative input not allowed")
        return x * 2


class Slow(torch.nn.Module):
    """~300 ms per request with 2 intra-op threads on the 2-core dev machines
    (1000 iterations: 280-330 ms there, plain or frozen; ~490 ms on 1 thread). The map
    a <- tanh(a @ w + a0) with ||w||_2 = 0.9 is a contraction, so results stay
    well-conditioned (tiny rounding differences shrink, not grow)."""

    ITERATIONS = 1000

    def __init__(self):
        super().__init__()
        w = torch.randn(256, 256)
        w = w / torch.linalg.matrix_norm(w, 2) * 0.9
        self.w = torch.nn.Parameter(w, requires_grad=False)
        self.iterations = self.ITERATIONS

    def forward(self, x: Tensor) -> Tensor:
        a0 = x.repeat(1024).view(256, 256)
        a = a0
        for _ in range(self.iterations):
            a = torch.tanh(torch.mm(a, self.w) + a0)
        return a[0, :64] + a[255, 64:128]


class AddConst(torch.nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        return x + self.value


@torch.jit.interface
class _TensorFn(torch.nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        pass


class _PlusOne(torch.nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x + 1


class NoFreeze(torch.nn.Module):
    """Sets attributes at run time: a call counter, and an interface-typed
    submodule. torch.jit.freeze rejects it (1.13: "failed to freeze interface
    attribute 'impl'"; 2.15: "Freezing does not support SetAttr on an
    interface type"); TorchScript runs it fine."""

    impl: _TensorFn

    def __init__(self):
        super().__init__()
        self.impl = _PlusOne()
        self.spare = _PlusOne()
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        self.impl = self.spare
        return self.impl(x)


class _Relu(torch.nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x)


class NoFreezeCnn(torch.nn.Module):
    """Two 3x3 convolutions + relu, then a pluggable activation that forward()
    re-points (an interface-typed attribute), plus a call counter:
    torch.jit.freeze fails ("failed to freeze interface attribute 'act'"), yet
    the convolution weights are never assigned, so plans may capture them.
    [1,3,32,32] -> [1,16,32,32]."""

    act: _TensorFn

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.act = _Relu()
        self.spare = _Relu()
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.calls += 1
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        y = self.act(x)
        self.act = self.spare
        return y


class NamedArgs(torch.nn.Module):
    def forward(self, image: Tensor, scale: Tensor) -> Tensor:
        return image * 2.0 - scale


class ModulatedConv(torch.nn.Module):
    """StyleGAN2's modulated convolution: the 3x3 weight is scaled per input
    channel by an affine map of the style vector and demodulated, so it is
    computed from the inputs on every call (nothing to prepack); the batch is
    folded into groups (one conv2d with groups=batch). Then leaky_relu(0.2)
    and a plain conv 3x3 + relu."""

    def __init__(self, in_ch: int = 8, out_ch: int = 16, style_dim: int = 32):
        super().__init__()
        self.affine = torch.nn.Linear(style_dim, in_ch)
        with torch.no_grad():
            self.affine.bias.fill_(1.0)  # StyleGAN2's bias_init=1: scales near 1
        self.weight = torch.nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.bias = torch.nn.Parameter(torch.randn(out_ch) * 0.1)
        self.conv = torch.nn.Conv2d(out_ch, out_ch, 3, padding=1)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        b, c, h, wd = x.shape
        styles = self.affine(w)                                          # [b, in]
        weight = self.weight.unsqueeze(0) * styles.view(b, 1, c, 1, 1)   # [b, out, in, 3, 3]
        demod = torch.rsqrt(weight.pow(2).sum(dim=[2, 3, 4]) + 1e-8)    # [b, out]
        weight = weight * demod.view(b, -1, 1, 1, 1)
        out_ch = weight.shape[1]
        y = torch.nn.functional.conv2d(x.reshape(1, b * c, h, wd),
                                       weight.reshape(b * out_ch, c, 3, 3),
                                       padding=1, groups=b)
        y = y.reshape(b, out_ch, h, wd) + self.bias.view(1, -1, 1, 1)
        y = torch.nn.functional.leaky_relu(y, 0.2)
        return torch.relu(self.conv(y))


class Conv1dAudio(torch.nn.Module):
    """A demucs-style 1-D encoder/decoder: two strided conv1d + relu, two
    strided conv_transpose1d. [1, 1, 4096] -> [1, 1, 4084]
    (4096 -> 1023 -> 254 -> 1020 -> 4084)."""

    def __init__(self):
        super().__init__()
        self.enc1 = torch.nn.Conv1d(1, 16, 8, stride=4)
        self.enc2 = torch.nn.Conv1d(16, 32, 8, stride=4)
        self.dec1 = torch.nn.ConvTranspose1d(32, 16, 8, stride=4)
        self.dec2 = torch.nn.ConvTranspose1d(16, 1, 8, stride=4)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu(self.enc1(x))
        x = torch.relu(self.enc2(x))
        x = torch.relu(self.dec1(x))
        return self.dec2(x)


class Detector(torch.nn.Module):
    """torchvision's fasterrcnn_resnet50_fpn (random weights) on one image
    [3, H, W]: (boxes [n, 4], scores [n], labels [n] int64) of that image.
    box_score_thresh 0 so random weights still give detections (up to
    box_detections_per_img = 100)."""

    def __init__(self):
        super().__init__()
        import torchvision
        self.model = torchvision.models.detection.fasterrcnn_resnet50_fpn(
            weights=None, weights_backbone=None, min_size=224, max_size=224, num_classes=5,
            box_score_thresh=0.0)

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        # Scripted, the detection model returns (losses, detections).
        losses, detections = self.model([image])
        found = detections[0]
        return found["boxes"], found["scores"], found["labels"]


# ------------------------------------------------------------------- builders

def build_torchvision(out: Path, name: str, seed: int, dynamic_batching: bool = True):
    import torchvision  # only the vision builders need it

    seeded(seed)
    net = getattr(torchvision.models, name)(weights=None)
    traced = trace_module(net, torch.randn(1, 3, 224, 224))
    extra = "dynamic_batching {\n  max_queue_delay_microseconds: 500\n}\n" if dynamic_batching else ""
    cfg = config_text(name, 8, [("INPUT__0", FP32, [3, 224, 224])],
                      [("OUTPUT__0", FP32, [1000])], extra=extra)
    write_model(out, name, cfg, {1: traced})


def build_two_in_two_out(out: Path):
    seeded(1)
    # backend: "pytorch" instead of platform: both spellings must be accepted.
    cfg = config_text("two_in_two_out", 8, [("a", FP32, [4]), ("b", FP32, [4])],
                      [("OUTPUT__0", FP32, [4]), ("OUTPUT__1", FP32, [4])], backend="pytorch")
    write_model(out, "two_in_two_out", cfg, {1: script_module(TwoInTwoOut())})


def build_int64_embed(out: Path):
    seeded(2)
    cfg = config_text("int64_embed", 8, [("INPUT__0", "TYPE_INT64", [16])],
                      [("OUTPUT__0", FP32, [8])])
    write_model(out, "int64_embed", cfg, {1: script_module(Int64Embed())})


def build_tiny_cnn(out: Path):
    seeded(3)
    traced = trace_module(TinyCnn(), torch.randn(1, 3, 32, 32))
    extra = ("dynamic_batching {\n  max_queue_delay_microseconds: 500\n}\n"
             "instance_group [\n  {\n    count: 1\n    kind: KIND_CPU\n  }\n]\n")
    cfg = config_text("tiny_cnn", 8, [("INPUT__0", FP32, [3, 32, 32])],
                      [("OUTPUT__0", FP32, [10])], extra=extra)
    write_model(out, "tiny_cnn", cfg, {1: traced})


ALL_DTYPES = ["TYPE_BOOL", "TYPE_UINT8", "TYPE_INT8", "TYPE_INT16", "TYPE_INT32",
              "TYPE_INT64", "TYPE_FP16", "TYPE_BF16", "TYPE_FP32", "TYPE_FP64"]


def build_all_dtypes(out: Path):
    inputs = [(f"INPUT__{i}", t, [2, 3]) for i, t in enumerate(ALL_DTYPES)]
    outputs = [(f"OUTPUT__{i}", t, [2, 3]) for i, t in enumerate(ALL_DTYPES)]
    write_model(out, "all_dtypes", config_text("all_dtypes", 0, inputs, outputs),
                {1: script_module(AllDtypes())})


def build_dict_output(out: Path):
    # Config lists "prod" before "sum": outputs are matched by name, not order.
    cfg = config_text("dict_output", 8, [("INPUT__0", FP32, [4]), ("INPUT__1", FP32, [4])],
                      [("prod", FP32, [4]), ("sum", FP32, [4])])
    write_model(out, "dict_output", cfg, {1: script_module(DictOutput())})


def build_dict_input(out: Path):
    cfg = config_text("dict_input", 8, [("x", FP32, [4]), ("y", FP32, [4])],
                      [("OUTPUT__0", FP32, [4])])
    write_model(out, "dict_input", cfg, {1: script_module(DictInput())})


def build_runtime_error(out: Path):
    cfg = config_text("runtime_error", 4, [("INPUT__0", FP32, [4])], [("OUTPUT__0", FP32, [4])])
    write_model(out, "runtime_error", cfg, {1: script_module(RuntimeErrorModel())})


def build_slow(out: Path):
    seeded(4)
    cfg = config_text("slow", 0, [("INPUT__0", FP32, [64])], [("OUTPUT__0", FP32, [64])])
    write_model(out, "slow", cfg, {1: script_module(Slow())})


def build_multi_version(out: Path):
    extra = "version_policy {\n  latest {\n    num_versions: 2\n  }\n}\n"
    cfg = config_text("multi_version", 8, [("INPUT__0", FP32, [4])],
                      [("OUTPUT__0", FP32, [4])], extra=extra)
    model_dir = write_model(out, "multi_version", cfg,
                            {v: script_module(AddConst(float(v))) for v in (1, 2, 3)})
    # Ignored folders: a name starting with "0" and a non-numeric one. If the
    # server served "01" as a version, it would answer x + 100.
    (model_dir / "01").mkdir()
    torch.jit.save(script_module(AddConst(100.0)), str(model_dir / "01" / "model.pt"))
    (model_dir / "notes").mkdir()
    (model_dir / "notes" / "README.txt").write_text("not a version folder\n")


def build_specific_version(out: Path):
    extra = "version_policy {\n  specific {\n    versions: [ 1, 3 ]\n  }\n}\n"
    cfg = config_text("specific_version", 8, [("INPUT__0", FP32, [4])],
                      [("OUTPUT__0", FP32, [4])], extra=extra)
    write_model(out, "specific_version", cfg,
                {v: script_module(AddConst(float(v))) for v in (1, 2, 3)})


def build_no_freeze(out: Path):
    cfg = config_text("no_freeze", 8, [("INPUT__0", FP32, [4])], [("OUTPUT__0", FP32, [4])])
    write_model(out, "no_freeze", cfg, {1: script_module(NoFreeze())})


def build_no_freeze_cnn(out: Path):
    seeded(23)
    cfg = config_text("no_freeze_cnn", 0, [("INPUT__0", FP32, [1, 3, 32, 32])],
                      [("OUTPUT__0", FP32, [1, 16, 32, 32])])
    write_model(out, "no_freeze_cnn", cfg, {1: script_module(NoFreezeCnn())})


def build_named_args(out: Path):
    # Config order (scale, image) differs from forward()'s (image, scale).
    # Also carries valid engine options, Kiln's and Triton's spellings.
    params = ('parameters: {\n  key: "KILN_OPT_LEVEL"\n  value: { string_value: "0" }\n}\n'
              'parameters: {\n  key: "INTRA_OP_THREAD_COUNT"\n'
              '  value: { string_value: "1" }\n}\n')
    cfg = config_text("named_args", 8, [("scale", FP32, [1]), ("image", FP32, [4])],
                      [("OUTPUT__0", FP32, [4])], extra=params)
    write_model(out, "named_args", cfg, {1: script_module(NamedArgs())})


def _simple_cfg(name, **kw):
    return config_text(name, 8, [("INPUT__0", FP32, [4])], [("OUTPUT__0", FP32, [4])], **kw)


def build_broken(out: Path):
    """Models that must end UNAVAILABLE while the rest serve."""
    good = script_module(_PlusOne())

    # A config.pbtxt that protobuf's text format cannot parse (unclosed list).
    bad = 'name: "broken_config"\nplatform: "pytorch_libtorch"\nmax_batch_size: 8\n' \
          'input [\n  {\n    name: "INPUT__0"\n    data_type: TYPE_FP32\n    dims: [ 4 \n'
    model_dir = write_model(out, "broken_config", _simple_cfg("broken_config"), {1: good})
    (model_dir / "config.pbtxt").write_text(bad)

    model_dir = write_model(out, "corrupt_model", _simple_cfg("corrupt_model"), {})
    (model_dir / "1").mkdir()
    (model_dir / "1" / "model.pt").write_bytes(random.Random(5).randbytes(4096))

    model_dir = write_model(out, "not_torchscript", _simple_cfg("not_torchscript"), {})
    (model_dir / "1").mkdir()
    seeded(6)
    torch.save(TinyCnn().state_dict(), str(model_dir / "1" / "model.pt"))

    cfg = config_text("signature_mismatch", 8,
                      [("x", FP32, [4]), ("y", FP32, [4]), ("z", FP32, [4])],
                      [("OUTPUT__0", FP32, [4])])
    write_model(out, "signature_mismatch", cfg, {1: good})

    write_model(out, "bad_platform", _simple_cfg("bad_platform", platform="tensorflow_savedmodel"),
                {1: good})

    # An engine option with a value Kiln does not know: refused, not ignored.
    option = ('parameters: {\n  key: "KILN_PRECISION"\n'
              '  value: { string_value: "fp16" }\n}\n')
    write_model(out, "bad_engine_option", _simple_cfg("bad_engine_option", extra=option),
                {1: good})


def build_modulated_conv(out: Path):
    seeded(20)
    cfg = config_text("modulated_conv", 0,
                      [("INPUT__0", FP32, [1, 8, 16, 16]), ("INPUT__1", FP32, [1, 32])],
                      [("OUTPUT__0", FP32, [1, 16, 16, 16])])
    write_model(out, "modulated_conv", cfg, {1: script_module(ModulatedConv())})


def build_conv1d_audio(out: Path):
    seeded(21)
    cfg = config_text("conv1d_audio", 0, [("INPUT__0", FP32, [1, 1, 4096])],
                      [("OUTPUT__0", FP32, [1, 1, 4084])])
    write_model(out, "conv1d_audio", cfg, {1: script_module(Conv1dAudio())})


def build_detector(out: Path):
    seeded(22)
    cfg = config_text("detector", 0, [("INPUT__0", FP32, [3, 224, 224])],
                      [("OUTPUT__0", FP32, [-1, 4]), ("OUTPUT__1", FP32, [-1]),
                       ("OUTPUT__2", "TYPE_INT64", [-1])])
    write_model(out, "detector", cfg, {1: script_module(Detector())})


# ---------------------------------------------------------------------- kinds


def build(kind: str, out: Path):
    torch.set_num_threads(2)
    if kind == "demo":
        build_torchvision(out, "resnet18", seed=10)
        build_torchvision(out, "mobilenet_v2", seed=11)
        build_two_in_two_out(out)
        build_int64_embed(out)
    elif kind == "test":
        build_tiny_cnn(out)
        build_torchvision(out, "resnet18", seed=10)
        build_torchvision(out, "mobilenet_v2", seed=11, dynamic_batching=False)
        build_two_in_two_out(out)
        build_int64_embed(out)
        build_all_dtypes(out)
        build_dict_output(out)
        build_dict_input(out)
        build_runtime_error(out)
        build_slow(out)
        build_multi_version(out)
        build_specific_version(out)
        build_no_freeze(out)
        build_no_freeze_cnn(out)
        build_named_args(out)
        build_modulated_conv(out)
        build_conv1d_audio(out)
        build_detector(out)
        attention_models.build_sdpa_encoder(out)
        attention_models.build_bert_tiny(out)
        attention_models.build_vit_tiny(out)
        build_broken(out)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return sorted(p.name for p in out.iterdir() if p.is_dir())
