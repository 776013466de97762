"""The CLIP text transformer (ViT-L/14, OpenCLIP ViT-H/14 and ViT-bigG/14 text towers).

Our own module rather than `transformers`' `CLIPTextModel`: ComfyUI does not run transformers'
model either but its own (`comfy/clip_model.py`), and what must match is that computation: token
rows gathered in the storage dtype (fp16) and cast to fp32, fp32 compute throughout with weights
cast per call, an additive causal mask of `-finfo(fp32).max` and no padding mask, the hidden state
of any layer taken before or after the final LayerNorm, the pooled row at the first end token
(`num_tokens - 1`) and `text_projection` applied to it. transformers would fix the intermediate-
layer norm and pooling rules differently, needs a config object per shape, and is a large
dependency for ~100 lines. Keys follow transformers' layout (`text_model.encoder.layers.N.self_attn
.q_proj.weight`, `text_projection.weight`); OpenCLIP files are converted to it on load (keys.py).
The shape (width, layers, MLP size) comes from the state dict; heads are width / 64 and the
activation is quick-GELU for ViT-L, GELU for the OpenCLIP towers, as in the released models.
Pure torch; called on the executor thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from toucan_nb.diffusion import ops


@dataclass(frozen=True)
class ClipTextConfig:
    width: int
    layers: int
    intermediate: int
    activation: str  # "quick_gelu" or "gelu"
    positions: int = 77
    vocab: int = 49408
    has_projection: bool = False

    @property
    def heads(self) -> int:
        return self.width // 64


def config_from_state_dict(sd: dict[str, torch.Tensor], prefix: str = "") -> ClipTextConfig:
    """Shape settings from a transformers-layout state dict (keys under `prefix`)."""
    emb = sd[f"{prefix}text_model.embeddings.token_embedding.weight"]
    width = int(emb.shape[1])
    layers = 0
    while f"{prefix}text_model.encoder.layers.{layers}.mlp.fc1.weight" in sd:
        layers += 1
    intermediate = int(sd[f"{prefix}text_model.encoder.layers.0.mlp.fc1.weight"].shape[0])
    positions = int(sd[f"{prefix}text_model.embeddings.position_embedding.weight"].shape[0])
    # ViT-L (768 wide, OpenAI) uses quick-GELU; the OpenCLIP H and bigG towers use GELU.
    activation = "quick_gelu" if width == 768 else "gelu"
    return ClipTextConfig(width=width, layers=layers, intermediate=intermediate, activation=activation,
                          positions=positions, vocab=int(emb.shape[0]),
                          has_projection=f"{prefix}text_projection.weight" in sd)


class _Attention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = ops.Linear(width, width)
        self.k_proj = ops.Linear(width, width)
        self.v_proj = ops.Linear(width, width)
        self.out_proj = ops.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = ops.attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, mask)
        return self.out_proj(out)


class _Mlp(nn.Module):
    def __init__(self, width: int, intermediate: int, activation: str) -> None:
        super().__init__()
        self.fc1 = ops.Linear(width, intermediate)
        self.fc2 = ops.Linear(intermediate, width)
        self.quick = activation == "quick_gelu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1(x)
        x = x * torch.sigmoid(1.702 * x) if self.quick else F.gelu(x)
        return self.fc2(x)


class _Layer(nn.Module):
    def __init__(self, cfg: ClipTextConfig) -> None:
        super().__init__()
        self.layer_norm1 = ops.LayerNorm(cfg.width)
        self.self_attn = _Attention(cfg.width, cfg.heads)
        self.layer_norm2 = ops.LayerNorm(cfg.width)
        self.mlp = _Mlp(cfg.width, cfg.intermediate, cfg.activation)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, cfg: ClipTextConfig) -> None:
        super().__init__()
        self.token_embedding = ops.Embedding(cfg.vocab, cfg.width)
        self.position_embedding = ops.Embedding(cfg.positions, cfg.width)


class _Encoder(nn.Module):
    def __init__(self, cfg: ClipTextConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList([_Layer(cfg) for _ in range(cfg.layers)])


class _TextModel(nn.Module):
    def __init__(self, cfg: ClipTextConfig) -> None:
        super().__init__()
        self.embeddings = _Embeddings(cfg)
        self.encoder = _Encoder(cfg)
        self.final_layer_norm = ops.LayerNorm(cfg.width)


@dataclass(frozen=True)
class ClipTextOutput:
    last: torch.Tensor            # [B, N, width], after the final LayerNorm
    hidden: torch.Tensor | None   # [B, N, width], the requested layer's output
    pooled: torch.Tensor          # [B, width], `last` at each row's first end token
    projected: torch.Tensor | None  # [B, proj], `pooled` through text_projection, if the model has one


class ClipTextModel(nn.Module):
    """One CLIP text tower; state-dict keys as transformers names them."""

    def __init__(self, cfg: ClipTextConfig) -> None:
        super().__init__()
        self.config = cfg
        self.text_model = _TextModel(cfg)
        if cfg.has_projection:
            self.text_projection = ops.Linear(cfg.width, cfg.width, bias=False)

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Token rows for `ids` [B, N], in fp32."""
        return self.text_model.embeddings.token_embedding.lookup(ids, torch.float32)

    def forward(self, embeds: torch.Tensor, num_tokens: list[int], layer: int | None = None,
                norm_hidden: bool = True) -> ClipTextOutput:
        """Run the tower on token rows [B, N, width] (fp32).

        `layer` (0-based, negative from the end) picks `hidden`; `norm_hidden` applies the final
        LayerNorm to it. `num_tokens[i]` counts row i's tokens up to and including its first end token.
        """
        pos = self.text_model.embeddings.position_embedding.weight.to(embeds.dtype)
        x = embeds + pos[: embeds.shape[1]]
        n = x.shape[1]
        mask = torch.full((n, n), -torch.finfo(x.dtype).max, dtype=x.dtype, device=x.device).triu_(1)
        layers = self.text_model.encoder.layers
        index = None if layer is None else (layer if layer >= 0 else len(layers) + layer)
        hidden = None
        for i, block in enumerate(layers):
            x = block(x, mask)
            if i == index:
                hidden = x.clone()
        x = self.text_model.final_layer_norm(x)
        if hidden is not None and norm_hidden:
            hidden = self.text_model.final_layer_norm(hidden)
        pooled = x[torch.arange(x.shape[0], device=x.device), torch.tensor(num_tokens, device=x.device) - 1]
        projected = self.text_projection(pooled) if self.config.has_projection else None
        return ClipTextOutput(last=x, hidden=hidden, pooled=pooled, projected=projected)


def build(sd: dict[str, torch.Tensor], storage_dtype: torch.dtype, what: str) -> ClipTextModel:
    """A tower holding `sd` (transformers layout, no prefix) converted to `storage_dtype`."""
    cfg = config_from_state_dict(sd)
    with torch.device("meta"):
        model = ClipTextModel(cfg)
    weights = {k: v.to(storage_dtype) for k, v in sd.items()}
    ops.load_weights(model, weights, what)
    return model.eval()
