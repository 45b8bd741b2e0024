#!/usr/bin/env python3
"""The server bench's model repository: every bench model in four variants.

    server_models.py [--out build/server_bench_repo] [--force]

Per model <m> (random weights, fixed seed; nothing is downloaded):

  <m>            no dynamic_batching, 1 instance
  <m>_batch      dynamic_batching { max_queue_delay_microseconds: D }, 1 instance
  <m>_batch_x2   the same, instance_group count 2
  <m>_x2         no dynamic_batching, 2 instances

All four share max_batch_size (requests carry batch 1; the batcher may merge up
to max_batch_size of them). Nothing is tuned: the batching variants get the
server's default plan buckets, as a user's model would.

Config text comes from tests/models/model_files.py (config_text, write_model),
the helpers the project's other repositories are written with. The folder gets
a stamp (hash of both sources and of the specs below): when it matches, nothing
is regenerated and torch is not imported.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
TEST_MODELS = REPO_ROOT / "tests" / "models"
sys.path.insert(0, str(TEST_MODELS))
from make_repository import write_stamped  # noqa: E402  (stdlib only; torch comes later)
FP32 = "TYPE_FP32"


class ModelSpec(NamedTuple):
    description: str
    input_name: str
    input_dims: Tuple[int, ...]   # without the batch dim
    output_name: str
    output_dims: Tuple[int, ...]
    max_batch_size: int
    queue_delay_us: int           # max_queue_delay_microseconds of the _batch variants
    seed: int
    engine_runs: int              # kiln-compile --runs for the in-process ceiling


MODELS: Dict[str, ModelSpec] = {
    "mlp": ModelSpec("MLP 256→256→10 (Linear, ReLU, Linear), traced", "INPUT__0", (256,),
                     "OUTPUT__0", (10,), max_batch_size=64, queue_delay_us=500, seed=30,
                     engine_runs=500),
    "resnet18": ModelSpec("torchvision resnet18 (weights=None), traced", "INPUT__0",
                          (3, 224, 224), "OUTPUT__0", (1000,), max_batch_size=32,
                          queue_delay_us=2000, seed=10, engine_runs=20),
}


class Variant(NamedTuple):
    suffix: str
    batching: bool
    instances: int


VARIANTS: List[Variant] = [
    Variant("", False, 1),
    Variant("_batch", True, 1),
    Variant("_batch_x2", True, 2),
    Variant("_x2", False, 2),
]


def variant_names(model: str) -> List[str]:
    return [model + v.suffix for v in VARIANTS]


def variant_of(name: str) -> Tuple[str, Variant]:
    """'mlp_batch_x2' -> ('mlp', Variant('_batch_x2', True, 2))."""
    for model in MODELS:
        for v in VARIANTS:
            if name == model + v.suffix:
                return model, v
    raise KeyError(name)


def buckets(max_batch_size: int) -> List[int]:
    out, b = [], 1
    while b < max_batch_size:
        out.append(b)
        b *= 2
    return out + [max_batch_size]


def kiln_input(spec: ModelSpec, batch: int) -> str:
    """kiln-compile's --input for a batch: '8x3x224x224'."""
    return "x".join(str(d) for d in (batch,) + spec.input_dims)


def extra_config(spec: ModelSpec, variant: Variant) -> str:
    text = ""
    if variant.batching:
        text += ("dynamic_batching {\n"
                 f"  max_queue_delay_microseconds: {spec.queue_delay_us}\n"
                 "}\n")
    text += ("instance_group [\n  {\n"
             f"    count: {variant.instances}\n"
             "    kind: KIND_CPU\n  }\n]\n")
    return text


def stamp_text() -> str:
    h = hashlib.sha256()
    for src in (Path(__file__).resolve(), TEST_MODELS / "model_files.py"):
        h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    h.update(json.dumps({k: v._asdict() for k, v in MODELS.items()}, sort_keys=True).encode())
    h.update(json.dumps([v._asdict() for v in VARIANTS]).encode())
    return f"server-bench {h.hexdigest()}\n"


def _build_module(name: str, spec: ModelSpec):
    import random

    import torch

    torch.manual_seed(spec.seed)
    random.seed(spec.seed)
    if name == "mlp":
        net = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                  torch.nn.Linear(256, 10))
    elif name == "resnet18":
        import torchvision

        net = torchvision.models.resnet18(weights=None)
    else:
        raise KeyError(name)
    example = torch.randn((1,) + spec.input_dims)
    with torch.no_grad():
        # Traced at batch 1; none of these modules bakes the batch size into
        # the graph, so the TorchScript module takes any batch.
        traced = torch.jit.trace(net.eval(), example)
        check = torch.randn((3,) + spec.input_dims)
        torch.testing.assert_close(traced(check), net(check))
    return traced


def generate(out: Path, force: bool = False, quiet: bool = False) -> bool:
    """Makes `out` hold the bench repository. Returns True when it (re)built."""

    def build(tmp: Path) -> str:
        import torch
        from model_files import config_text, write_model

        torch.set_num_threads(2)
        for name, spec in MODELS.items():
            module = _build_module(name, spec)
            for variant in VARIANTS:
                vname = name + variant.suffix
                cfg = config_text(vname, spec.max_batch_size,
                                  [(spec.input_name, FP32, list(spec.input_dims))],
                                  [(spec.output_name, FP32, list(spec.output_dims))],
                                  extra=extra_config(spec, variant))
                write_model(tmp, vname, cfg, {1: module})
        return f"{len(MODELS) * len(VARIANTS)} models"

    return write_stamped(out, stamp_text(), build, "server bench repository", force, quiet)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "server_bench_repo")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    generate(args.out, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
