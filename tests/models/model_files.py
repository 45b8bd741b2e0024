"""Writing one model folder of a generated repository: Triton config text,
<out>/<name>/config.pbtxt and <out>/<name>/<version>/model.pt, seeding, and
TorchScript capture. Shared by the test models (kiln_models.py,
attention_models.py) and the server bench's repository (bench/server_models.py).
"""

import random
from pathlib import Path
from typing import Dict

import torch

FP32 = "TYPE_FP32"
INT64 = "TYPE_INT64"


def _tensor_block(kind: str, specs) -> str:
    """specs: [(name, TYPE_x, dims)] -> 'input [ {...}, {...} ]' in Triton syntax."""
    items = []
    for name, dtype, dims in specs:
        items.append(
            "  {\n"
            f'    name: "{name}"\n'
            f"    data_type: {dtype}\n"
            f"    dims: [ {', '.join(str(d) for d in dims)} ]\n"
            "  }"
        )
    return f"{kind} [\n" + ",\n".join(items) + "\n]\n"


def config_text(name, max_batch_size, inputs, outputs, platform="pytorch_libtorch",
                backend=None, extra=""):
    head = f'name: "{name}"\n'
    head += f'backend: "{backend}"\n' if backend else f'platform: "{platform}"\n'
    head += f"max_batch_size: {max_batch_size}\n"
    return head + _tensor_block("input", inputs) + _tensor_block("output", outputs) + extra


def write_model(out: Path, name: str, config: str, modules: Dict[int, torch.jit.ScriptModule]):
    model_dir = out / name
    model_dir.mkdir(parents=True)
    (model_dir / "config.pbtxt").write_text(config)
    for version, module in modules.items():
        vdir = model_dir / str(version)
        vdir.mkdir()
        torch.jit.save(module, str(vdir / "model.pt"))
    return model_dir


def seeded(seed: int):
    torch.manual_seed(seed)
    random.seed(seed)


def script_module(module: torch.nn.Module) -> torch.jit.ScriptModule:
    return torch.jit.script(module.eval())


def trace_module(module: torch.nn.Module, example, check_trace: bool = True
                 ) -> torch.jit.ScriptModule:
    """example: a tensor or a tuple of tensors, forward()'s arguments."""
    with torch.no_grad():
        return torch.jit.trace(module.eval(), example, check_trace=check_trace)
