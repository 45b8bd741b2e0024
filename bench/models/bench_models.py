#!/usr/bin/env python3
"""Generates the engine bench's models with random weights (fixed seed).

For each model writes, under <out>/<name>/:
  model.pt     TorchScript (scripted; traced where scripting fails), not frozen:
               freezing is part of what each bench column does to it
  inputs.json  {"inputs": [{"name", "shape", "dtype"}], "kiln_input": "1x3x224x224"}
  meta.json    FLOPs at that input, how it was captured, the ONNX export outcome
  model.onnx   torch.onnx.export of the same weights, when the export works
  stamp        hash of the generator sources and torch version: a model whose
               stamp matches is not generated again

Nothing is downloaded: torchvision architectures are built with weights=None.

Usage: bench_models.py [--out build/bench_models] [--models a,b] [--force] [--list]
"""

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from typing import Callable, Dict, List, NamedTuple, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import archs  # noqa: E402
from flops import count_flops  # noqa: E402

SEED = 0
ONNX_OPSET = 13


class InputSpec(NamedTuple):
    name: str
    shape: Tuple[int, ...]
    dtype: str  # "float32" or "int64"


class ModelSpec(NamedTuple):
    build: Callable[[], nn.Module]
    inputs: List[InputSpec]
    source: str


def _torchvision(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None)

    return build


IMAGE_224 = [InputSpec("input", (1, 3, 224, 224), "float32")]

MODELS: Dict[str, ModelSpec] = {}
for _name in [
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "alexnet",
    "vgg16",
    "squeezenet1_1",
    "shufflenet_v2_x1_0",
    "mnasnet1_0",
    "mobilenet_v2",
    "mobilenet_v3_large",
]:
    MODELS[_name] = ModelSpec(_torchvision(_name), IMAGE_224, "torchvision")
MODELS["dcgan"] = ModelSpec(
    archs.DCGANGenerator, [InputSpec("z", (1, 100, 1, 1), "float32")], "bench/models/archs.py"
)
MODELS["pytorch_stargan"] = ModelSpec(
    archs.StarGANGenerator,
    [InputSpec("image", (1, 3, 128, 128), "float32"), InputSpec("label", (1, 5), "float32")],
    "bench/models/archs.py",
)
MODELS["SRGAN-X4"] = ModelSpec(
    archs.SRResNet, [InputSpec("input", (1, 3, 272, 480), "float32")], "bench/models/archs.py"
)
MODELS["YOLO-V3"] = ModelSpec(
    archs.YOLOv3, [InputSpec("input", (1, 3, 640, 640), "float32")], "bench/models/archs.py"
)

_DTYPES = {"float32": torch.float32, "int64": torch.int64}


def make_inputs(specs: List[InputSpec], seed: int = SEED) -> List[torch.Tensor]:
    """The bench's inputs for a model: the same tensors in every column.

    Every consumer (reference_bench.py, and anyone reproducing a figure)
    derives them from the seed, so no input file has to travel with a model.
    """
    g = torch.Generator().manual_seed(seed)
    out = []
    for s in specs:
        if _DTYPES[s.dtype] == torch.int64:
            out.append(torch.randint(0, 1000, s.shape, generator=g, dtype=torch.int64))
        else:
            out.append(torch.randn(s.shape, generator=g, dtype=torch.float32))
    return out


def kiln_input_arg(specs: List[InputSpec]) -> str:
    """The --input argument of build/kiln-compile: 1x3x224x224,1x5 (and
    1x128:i64 for int64 inputs)."""
    parts = []
    for s in specs:
        p = "x".join(str(d) for d in s.shape)
        if s.dtype == "int64":
            p += ":i64"
        parts.append(p)
    return ",".join(parts)


def randomize_norm_stats(model: nn.Module, g: torch.Generator) -> None:
    """Gives every norm layer non-trivial affine parameters and running
    statistics. Fresh layers are the identity (mean 0, var 1, weight 1,
    bias 0), which would let an engine that folds norms wrongly still pass
    the accuracy check."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._NormBase):
                if m.affine:
                    m.weight.copy_(torch.empty_like(m.weight).uniform_(0.5, 1.5, generator=g))
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                if m.track_running_stats and m.running_mean is not None:
                    m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                    m.running_var.copy_(
                        torch.empty_like(m.running_var).uniform_(0.5, 1.5, generator=g)
                    )


def build_model(name: str) -> nn.Module:
    spec = MODELS[name]
    torch.manual_seed(SEED)
    model = spec.build()
    randomize_norm_stats(model, torch.Generator().manual_seed(SEED + 1))
    return model.eval()


def generator_hash() -> str:
    """What the generated files depend on: these sources and the torch and
    torchvision that build and serialize the models."""
    import torchvision

    h = hashlib.sha256()
    for f in ["bench_models.py", "archs.py", os.path.join("..", "flops.py")]:
        with open(os.path.join(HERE, f), "rb") as fh:
            h.update(fh.read())
    h.update(torch.__version__.encode())
    h.update(torchvision.__version__.encode())
    return h.hexdigest()[:16]


def _capture(model: nn.Module, inputs: List[torch.Tensor]) -> Tuple[torch.jit.ScriptModule, str]:
    try:
        return torch.jit.script(model), "scripted"
    except Exception as e:  # noqa: BLE001 - any scripting failure falls back to tracing
        print(f"  scripting failed ({type(e).__name__}); tracing", file=sys.stderr)
        return torch.jit.trace(model, tuple(inputs), check_trace=False), "traced"


def _export_onnx(
    model: nn.Module, inputs: List[torch.Tensor], specs: List[InputSpec], path: str
) -> Dict[str, object]:
    """Exports the eager module (the same weights as model.pt) to ONNX; a
    failure is recorded, not raised, so the ONNX columns show why.

    torch 2.9+ defaults to the torch.export-based exporter (dynamo=True, which
    needs onnxscript); dynamo=False keeps the TorchScript-based exporter the
    bench's ONNX files have always come from, at the same opset."""
    with torch.no_grad():
        outs = model(*inputs)
    n_out = len(outs) if isinstance(outs, (tuple, list)) else 1
    tmp = path + ".tmp"
    try:
        with torch.no_grad():
            torch.onnx.export(
                model,
                tuple(inputs),
                tmp,
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
                input_names=[s.name for s in specs],
                output_names=[f"output{i}" for i in range(n_out)],
                dynamo=False,
            )
        os.replace(tmp, path)
        return {"ok": True, "opset": ONNX_OPSET, "exporter": "torchscript"}
    except Exception as e:  # noqa: BLE001
        if os.path.exists(tmp):
            os.remove(tmp)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return {"ok": False, "error": f"{type(e).__name__}: {msg}"[:300]}


def generate(name: str, out_root: str, stamp: str, force: bool) -> str:
    d = os.path.join(out_root, name)
    stamp_path = os.path.join(d, "stamp")
    needed = ["model.pt", "inputs.json", "meta.json"]
    if (
        not force
        and all(os.path.exists(os.path.join(d, f)) for f in needed)
        and os.path.exists(stamp_path)
        and open(stamp_path).read().strip() == stamp
    ):
        return "cached"
    os.makedirs(d, exist_ok=True)
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    t0 = time.time()
    spec = MODELS[name]
    model = build_model(name)
    inputs = make_inputs(spec.inputs)

    flops = count_flops(model, inputs)
    scripted, how = _capture(model, inputs)
    scripted.save(os.path.join(d, "model.pt"))

    onnx_path = os.path.join(d, "model.onnx")
    if os.path.exists(onnx_path):
        os.remove(onnx_path)
    onnx = _export_onnx(model, inputs, spec.inputs, onnx_path)

    with open(os.path.join(d, "inputs.json"), "w") as f:
        json.dump(
            {
                "inputs": [
                    {"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in spec.inputs
                ],
                "kiln_input": kiln_input_arg(spec.inputs),
                "seed": SEED,
            },
            f,
            indent=1,
        )
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(
            {
                "model": name,
                "source": spec.source,
                "capture": how,
                "flops": flops["flops"],
                "flops_by_kind": flops["by_kind"],
                "onnx": onnx,
                "torch": torch.__version__,
            },
            f,
            indent=1,
        )
    # The stamp goes last: an interrupted generation is redone next time.
    with open(stamp_path, "w") as f:
        f.write(stamp + "\n")
    status = f"generated in {time.time() - t0:.1f}s ({how}"
    status += ", onnx ok)" if onnx["ok"] else f", onnx failed: {onnx['error']})"
    return status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default="build/bench_models")
    ap.add_argument("--models", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--force", action="store_true", help="regenerate even when cached")
    ap.add_argument("--list", action="store_true", help="print the model names and exit")
    args = ap.parse_args()

    if args.list:
        print("\n".join(MODELS))
        return 0
    names = [n for n in args.models.split(",") if n] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(f"bench_models: unknown model(s): {', '.join(unknown)}", file=sys.stderr)
        print(f"known: {', '.join(MODELS)}", file=sys.stderr)
        return 2
    # Generation is single-shot work; two threads match the bench machine.
    torch.set_num_threads(2)
    stamp = generator_hash()
    failed = 0
    for n in names:
        try:
            print(f"bench_models: {n}: {generate(n, args.out, stamp, args.force)}", flush=True)
        except Exception:  # noqa: BLE001 - one broken model must not stop the rest
            failed += 1
            print(f"bench_models: {n}: FAILED", file=sys.stderr)
            traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
