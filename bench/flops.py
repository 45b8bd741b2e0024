"""Counts a model's FLOPs at a given input: 2 x the multiply-accumulates of
its convolutions, transposed convolutions, linear layers and matmuls.

torch 1.13 has no torch.utils.flop_counter, so this uses forward hooks on the
eager modules (convs, linears, multi-head attention) and, for matmuls written
as plain functions, a __torch_function__ mode. Element-wise work (norms,
activations, bias adds) is left out: the roofline is the MAC-bound floor.
"""

from typing import Dict, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode


def _prod(xs: Sequence[int]) -> int:
    p = 1
    for x in xs:
        p *= int(x)
    return p


def _conv_macs(m: nn.modules.conv._ConvNd, inp: torch.Tensor, out: torch.Tensor) -> int:
    k = _prod(m.kernel_size)
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        # Every input element is scattered through the kernel into each
        # output channel of its group.
        return inp.numel() * (m.out_channels // m.groups) * k
    return out.numel() * (m.in_channels // m.groups) * k


class _MatmulCounter(TorchFunctionMode):
    """Counts matmuls called as functions (torch.matmul, @, bmm, einsum is
    not used by the bench models) outside the hooked modules."""

    def __init__(self):
        super().__init__()
        self.macs = 0
        self.inside_module = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.inside_module == 0 and func in (
            torch.matmul,
            torch.Tensor.matmul,
            torch.Tensor.__matmul__,
            torch.bmm,
            torch.mm,
        ):
            a, b = args[0], args[1]
            if isinstance(out, torch.Tensor) and a.dim() >= 1 and b.dim() >= 1:
                self.macs += out.numel() * a.shape[-1]
        return out


def count_flops(model: nn.Module, inputs: Sequence[torch.Tensor]) -> Dict[str, int]:
    """Runs `model` once on `inputs` and returns {"flops": int, "by_kind": {...}}."""
    by_kind: Dict[str, int] = {}
    handles = []
    counter = _MatmulCounter()

    def add(kind: str, macs: int) -> None:
        by_kind[kind] = by_kind.get(kind, 0) + 2 * int(macs)

    def conv_hook(m, args, out):
        add(type(m).__name__, _conv_macs(m, args[0], out))

    def linear_hook(m, args, out):
        add("Linear", out.numel() * m.in_features)

    def mha_pre(m, args):
        counter.inside_module += 1

    def mha_hook(m, args, out):
        counter.inside_module -= 1
        q, k = args[0], args[1]
        e = m.embed_dim
        # Rows (tokens over the batch) of the query and of the key/value.
        lq, lk = q.numel() // e, k.numel() // e
        if k.dim() == 3:
            k_seq = k.shape[1] if m.batch_first else k.shape[0]
        else:
            k_seq = k.shape[0]
        # Projections (q and out over lq rows, k and v over lk rows) plus the
        # two attention matmuls (q k^T and attn v), each lq x k_seq x e.
        add("MultiheadAttention", 2 * lq * e * e + 2 * lk * e * e + 2 * lq * k_seq * e)

    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, nn.MultiheadAttention):
            handles.append(m.register_forward_pre_hook(mha_pre))
            handles.append(m.register_forward_hook(mha_hook))
    try:
        with torch.no_grad(), counter:
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    if counter.macs:
        add("matmul", counter.macs)
    return {"flops": sum(by_kind.values()), "by_kind": by_kind}
