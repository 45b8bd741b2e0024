"""The test repository's models of today: attention as transformers 5.x and
timm 1.x write it (torch.nn.functional.scaled_dot_product_attention), traced by
torch 2.x. Their graphs hold aten::scaled_dot_product_attention, which
LibTorch 1.13 could not load. See README.md (sdpa_encoder, bert_tiny, vit_tiny).
"""

from pathlib import Path

import torch
from torch import Tensor

from model_files import FP32, INT64, config_text, seeded, trace_module, write_model


class SdpaEncoder(torch.nn.Module):
    """One transformer encoder layer written the way transformers 5.x and
    timm 1.x write attention: torch.nn.functional.scaled_dot_product_attention
    with an additive mask built from a BERT-style attention mask. Traced by
    torch 2.x, its graph holds aten::scaled_dot_product_attention, which
    LibTorch 1.13 cannot load."""

    VOCAB, WIDTH, HEADS, FFN = 64, 32, 4, 64

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(self.VOCAB, self.WIDTH)
        self.position = torch.nn.Parameter(torch.randn(1, 128, self.WIDTH) * 0.1)
        self.qkv = torch.nn.Linear(self.WIDTH, 3 * self.WIDTH)
        self.proj = torch.nn.Linear(self.WIDTH, self.WIDTH)
        self.norm1 = torch.nn.LayerNorm(self.WIDTH)
        self.norm2 = torch.nn.LayerNorm(self.WIDTH)
        self.ffn_in = torch.nn.Linear(self.WIDTH, self.FFN)
        self.ffn_out = torch.nn.Linear(self.FFN, self.WIDTH)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        batch, length = ids.shape
        x = self.embed(ids) + self.position[:, :length]
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        heads = lambda t: t.view(batch, length, self.HEADS, -1).transpose(1, 2)  # noqa: E731
        additive = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        attended = torch.nn.functional.scaled_dot_product_attention(
            heads(q), heads(k), heads(v), attn_mask=additive)
        x = self.norm1(x + self.proj(attended.transpose(1, 2).reshape(batch, length, -1)))
        return self.norm2(x + self.ffn_out(torch.nn.functional.gelu(self.ffn_in(x))))


class _TupleOutput(torch.nn.Module):
    """transformers models return ModelOutput objects; Triton-style serving
    takes a tensor or a tuple (MODELS.md: wrapped to return a tuple)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        return self.model(input_ids=ids, attention_mask=mask, return_dict=False)[0]


def _write_token_model(out: Path, name: str, module: torch.nn.Module, vocab: int, width: int,
                       padded_from: int, check_trace: bool = True):
    """Traces a model of (ids, mask) -> [batch, length, width] on a batch of 2
    with the second row padded from `padded_from`, and writes it with batch
    and sequence length both variable (max_batch_size 8, dims [-1]): the
    trace must bake in neither."""
    ids = torch.randint(0, vocab, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, padded_from:] = 0
    traced = trace_module(module, (ids, mask), check_trace=check_trace)
    cfg = config_text(name, 8, [("INPUT__0", INT64, [-1]), ("INPUT__1", INT64, [-1])],
                      [("OUTPUT__0", FP32, [-1, width])])
    write_model(out, name, cfg, {1: traced})


def build_sdpa_encoder(out: Path):
    seeded(23)
    _write_token_model(out, "sdpa_encoder", SdpaEncoder(), SdpaEncoder.VOCAB, SdpaEncoder.WIDTH,
                       padded_from=12)


def build_bert_tiny(out: Path):
    """transformers' BertModel (a 2-layer, 64-wide config; random weights),
    traced by torch 2.x: its attention is transformers 5.x's SDPA path."""
    import transformers  # only this builder needs it (slow to import)

    seeded(24)
    config = transformers.BertConfig(vocab_size=128, hidden_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=128,
                                     max_position_embeddings=64)
    model = _TupleOutput(transformers.BertModel(config, add_pooling_layer=False))
    _write_token_model(out, "bert_tiny", model, config.vocab_size, config.hidden_size,
                       padded_from=10, check_trace=False)


def build_vit_tiny(out: Path):
    """timm's vision transformer (vit_tiny_patch16_224's architecture at a
    32x32 input with 8x8 patches; random weights), traced by torch 2.x."""
    import timm

    seeded(25)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10,
                              img_size=32, patch_size=8)
    traced = trace_module(model, torch.randn(1, 3, 32, 32))
    cfg = config_text("vit_tiny", 0, [("INPUT__0", FP32, [1, 3, 32, 32])],
                      [("OUTPUT__0", FP32, [1, 10])])
    write_model(out, "vit_tiny", cfg, {1: traced})
