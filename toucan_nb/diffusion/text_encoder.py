"""CLIP: prompt text -> CONDITIONING for SD1 (CLIP-L), SD2 (OpenCLIP-H), SDXL (CLIP-L + bigG), refiner (bigG).

Per tower ("slot"), as ComfyUI's SDClipModel: each 77-token chunk runs through the tower; the
output is the last layer after the final LayerNorm (SD1 by default) or a hidden layer (SD2:
penultimate with the final norm; SDXL's two towers: penultimate without it). `CLIPSetLastLayer`
(`clip_layer(n)`, n < 0) picks layer n for every tower, or the last when |n| exceeds the depth.
Weights other than 1 are applied by encoding one extra chunk of the empty prompt and moving each
weighted token's vector from the empty prompt's vector at that position:
z = (z - z_empty) * w + z_empty. Chunks are concatenated along the token axis. The pooled output
is the first chunk's row at its first end token (projected through `text_projection` except for
SD1). SDXL concatenates CLIP-L and bigG features ([.., 768 + 1280]) and pools with bigG.
CONDITIONING is `[[cond [1, 77 * chunks, dim], {"pooled_output": pooled [1, d]}]]`, on the CPU.
`TextEncoder` is a value: `clone()` shares the towers and copies patches and options.
Executor thread.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from toucan_nb.diffusion import memory
from toucan_nb.diffusion.clip_text import ClipTextModel
from toucan_nb.diffusion.patcher import ModelPatcher, WeightAdapter
from toucan_nb.diffusion.prompt import PromptTokenizer, TokenizerSpec
from toucan_nb.diffusion.tokenizer import END_TOKEN, START_TOKEN

log = logging.getLogger(__name__)

Tokens = dict[str, list[list[tuple[Any, ...]]]]
Conditioning = list[list[Any]]


@dataclass(frozen=True)
class SlotSpec:
    """How one tower is tokenized and read out."""

    name: str                 # token-dict key: "l", "h" or "g"
    tokenizer: TokenizerSpec
    default_layer: int | None  # None: the last layer; -2: the penultimate
    norm_hidden: bool          # final LayerNorm on a hidden layer's output
    projected_pooled: bool     # pooled output through text_projection

    @property
    def module_name(self) -> str:
        return f"clip_{self.name}"


CLIP_L_SD1 = SlotSpec("l", TokenizerSpec(768, "clip_l", pad_with_end=True), None, True, False)
CLIP_H_SD2 = SlotSpec("h", TokenizerSpec(1024, "clip_h", pad_with_end=False), -2, True, True)
CLIP_L_SDXL = SlotSpec("l", TokenizerSpec(768, "clip_l", pad_with_end=True), -2, False, True)
CLIP_G_SDXL = SlotSpec("g", TokenizerSpec(1280, "clip_g", pad_with_end=False), -2, False, True)

# Which towers each kind of CLIP object runs, and which prompt tokenizations it produces.
KINDS: dict[str, tuple[tuple[SlotSpec, ...], tuple[SlotSpec, ...]]] = {
    "sd1": ((CLIP_L_SD1,), (CLIP_L_SD1,)),
    "sd2": ((CLIP_H_SD2,), (CLIP_H_SD2,)),
    "sdxl": ((CLIP_G_SDXL, CLIP_L_SDXL), (CLIP_G_SDXL, CLIP_L_SDXL)),
    # The refiner encodes with bigG only but tokenizes as SDXL does (both l and g).
    "sdxl_refiner": ((CLIP_G_SDXL,), (CLIP_G_SDXL, CLIP_L_SDXL)),
}


class _Tower(nn.Module):
    def __init__(self, model: ClipTextModel) -> None:
        super().__init__()
        self.transformer = model


class TextEncoderStack(nn.Module):
    """The towers of one CLIP object, as `clip_l.transformer.*`, `clip_g.transformer.*`, ..."""

    def __init__(self, towers: Mapping[str, ClipTextModel]) -> None:
        super().__init__()
        for name, model in towers.items():
            self.add_module(f"clip_{name}", _Tower(model))

    def tower(self, name: str) -> ClipTextModel:
        return getattr(self, f"clip_{name}").transformer


class TextEncoder:
    """CLIP: tokenizes and encodes prompts; carries its own layer choice and LoRA patches."""

    def __init__(self, patcher: ModelPatcher, kind: str, embedding_dirs: Sequence[str] | None) -> None:
        self.patcher = patcher
        self.kind = kind
        self.slots, token_slots = KINDS[kind]
        self.embedding_dirs = None if embedding_dirs is None else list(embedding_dirs)
        self.tokenizers = {s.name: PromptTokenizer(s.tokenizer, self.embedding_dirs) for s in token_slots}
        self.layer_idx: int | None = None
        self.tokenizer_options: dict[str, Any] = {}

    # -- value semantics ---------------------------------------------------------------------
    def clone(self) -> TextEncoder:
        other = TextEncoder.__new__(TextEncoder)
        other.patcher = self.patcher.clone()
        other.kind = self.kind
        other.slots = self.slots
        other.embedding_dirs = self.embedding_dirs
        other.tokenizers = self.tokenizers
        other.layer_idx = self.layer_idx
        other.tokenizer_options = dict(self.tokenizer_options)
        return other

    def clip_layer(self, layer_idx: int) -> None:
        """CLIPSetLastLayer's setting (call on a clone)."""
        self.layer_idx = layer_idx

    def add_patches(self, patches: Mapping[str, WeightAdapter], strength_patch: float = 1.0,
                    strength_model: float = 1.0) -> list[str]:
        return self.patcher.add_patches(patches, strength_patch, strength_model)

    def weight_keys(self) -> set[str]:
        return self.patcher.state_dict_keys()

    @property
    def stack(self) -> TextEncoderStack:
        return self.patcher.network.module  # type: ignore[return-value]

    def load_model(self) -> None:
        memory.load(self.patcher)

    # -- tokenizing --------------------------------------------------------------------------
    def tokenize(self, text: str, return_word_ids: bool = False, **kwargs: Any) -> Tokens:
        """{"l": chunks, "g": chunks, ...}: the prompt tokenized for each tower (ComfyUI's order)."""
        disable = bool(kwargs.get("disable_weights", False))
        return {name: tok.tokenize_with_weights(text, return_word_ids, disable_weights=disable)
                for name, tok in self.tokenizers.items()}

    # -- encoding ----------------------------------------------------------------------------
    def encode_from_tokens(self, tokens: Tokens, return_pooled: bool | str = False,
                           return_dict: bool = False) -> Any:
        """cond, (cond, pooled) or {"cond", "pooled_output"}, as ComfyUI's CLIP.encode_from_tokens."""
        self.load_model()
        with torch.inference_mode():
            cond, pooled = self._encode(tokens, unprojected=return_pooled == "unprojected")
        if return_dict:
            return {"cond": cond, "pooled_output": pooled}
        if return_pooled:
            return cond, pooled
        return cond

    def encode_from_tokens_scheduled(self, tokens: Tokens, unprojected: bool = False,
                                     add_dict: Mapping[str, Any] | None = None, show_pbar: bool = True) -> Conditioning:
        """CONDITIONING for the tokens: `[[cond, {"pooled_output": pooled, **add_dict}]]`."""
        out = self.encode_from_tokens(tokens, return_pooled="unprojected" if unprojected else True,
                                      return_dict=True)
        cond = out.pop("cond")
        out.update(add_dict or {})
        return [[cond, out]]

    def encode(self, text: str) -> torch.Tensor:
        return self.encode_from_tokens(self.tokenize(text))

    def _encode(self, tokens: Tokens, unprojected: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        results = {}
        for slot in self.slots:
            results[slot.name] = self._encode_slot(slot, tokens[slot.name], unprojected)
        if self.kind == "sdxl":
            g_out, g_pooled = results["g"]
            l_out, _ = results["l"]
            cut = min(l_out.shape[1], g_out.shape[1])
            return torch.cat([l_out[:, :cut], g_out[:, :cut]], dim=-1), g_pooled
        return results[self.slots[0].name]

    def _layer(self, slot: SlotSpec, depth: int) -> int | None:
        layer = slot.default_layer if self.layer_idx is None else self.layer_idx
        if layer is None or abs(layer) > depth:
            return None
        return layer

    def _encode_slot(self, slot: SlotSpec, chunks: list[list[tuple[Any, ...]]],
                     unprojected: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        tower = self.stack.tower(slot.name)
        to_encode = [[entry[0] for entry in chunk] for chunk in chunks]
        length = max((len(c) for c in to_encode), default=0)
        has_weights = any(entry[1] != 1.0 for chunk in chunks for entry in chunk)
        if has_weights or not chunks:
            pad = slot.tokenizer.pad_token
            to_encode.append(([START_TOKEN, END_TOKEN] + [pad] * max(0, length - 2))[:max(length, 2)])
        layer = self._layer(slot, tower.config.layers)
        embeds, num_tokens = _embed(tower, to_encode, slot.tokenizer.pad_token, self.patcher.load_device)
        result = tower(embeds, num_tokens, layer=layer, norm_hidden=slot.norm_hidden)
        z = (result.last if layer is None else result.hidden).float()
        use_projection = slot.projected_pooled and not unprojected and result.projected is not None
        pooled = (result.projected if use_projection else result.pooled).float()
        cpu = torch.device("cpu")
        if not chunks:
            return z[-1:].to(cpu), pooled[0:1].to(cpu)
        if has_weights:
            empty = z[-1]
            z = z.clone()
            for k, chunk in enumerate(chunks):
                for j, entry in enumerate(chunk):
                    weight = entry[1]
                    if weight != 1.0:
                        z[k, j] = (z[k, j] - empty[j]) * weight + empty[j]
        cond = torch.cat([z[k:k + 1] for k in range(len(chunks))], dim=-2)
        return cond.to(cpu), pooled[0:1].to(cpu)


def _embed(tower: ClipTextModel, sequences: list[list[Any]], pad_token: int,
           device: torch.device) -> tuple[torch.Tensor, list[int]]:
    """Token rows for each sequence (ids looked up, embedding rows spliced in) and its count up
    to and including the first end token (ComfyUI's process_tokens)."""
    width = tower.config.width
    rows_out = []
    counts = []
    for seq in sequences:
        ids: list[int] = []
        mask: list[int] = []
        spliced: list[tuple[int, torch.Tensor]] = []
        ended = False
        for index, token in enumerate(seq):
            if isinstance(token, numbers.Integral):
                mask.append(0 if ended else 1)
                ids.append(int(token))
                if not ended and int(token) == END_TOKEN:
                    ended = True
            else:
                spliced.append((index, token))
        rows = tower.embed_tokens(torch.tensor([ids], device=device, dtype=torch.long))
        shift = 0
        missing = 0
        for index, emb in spliced:
            emb = emb.reshape(1, -1, emb.shape[-1]).to(device=device, dtype=torch.float32)
            at = index + shift
            if emb.shape[-1] == width:
                rows = torch.cat([rows[:, :at], emb, rows[:, at:]], dim=1)
                mask = mask[:at] + [1] * emb.shape[1] + mask[at:]
                shift += emb.shape[1] - 1
            else:
                log.warning(
                    "WARNING: shape mismatch when trying to apply embedding, embedding will be ignored %s != %s",
                    emb.shape[-1], width)
                shift -= 1
                missing += emb.shape[1]
        if missing:
            pad = tower.embed_tokens(torch.tensor([[pad_token] * missing], device=device, dtype=torch.long))
            rows = torch.cat([rows, pad], dim=1)
            mask = mask + [0] * missing
        rows_out.append(rows)
        counts.append(sum(mask))
    return torch.cat(rows_out), counts
