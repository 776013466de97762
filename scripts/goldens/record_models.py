"""Record ComfyUI's outputs on the test checkpoints: the goldens of tests/unit/diffusion.

Runs under a ComfyUI checkout's interpreter, CPU only, and imports ComfyUI (it contains none of it):

    /work/ref/cvenv/bin/python scripts/goldens/record_models.py [--comfyui /work/ref/ComfyUI]

Writes tests/unit/diffusion/models/goldens/{tokenizer,adapters,detection,sd15,sd2,sdxl}.json. Inputs are fixed: the test
checkpoints of tests/support/checkpoints.py (their sha256 is recorded, and the tests check it) and
NumPy PCG64 arrays (`rand` below, reproduced bit for bit by the tests). Each tensor is stored as a
summary (tests/unit/diffusion/models/goldens.py describes and compares them), never whole.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "unit" / "diffusion" / "models" / "goldens"


def checkpoints() -> types.ModuleType:
    """tests/support/checkpoints.py, loaded by path (ComfyUI's checkout has a `tests` package too)."""
    import importlib.util

    name = "toucan_test_checkpoints"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "support" / "checkpoints.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def setup_comfyui(root: str) -> None:
    sys.path.insert(0, root)
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.cli_args  # noqa: F401  (parses --cpu before model_management is imported)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comfyui", default="/work/ref/ComfyUI")
    parser.add_argument("--only", nargs="*", default=["tokenizer", "adapters", "detection", "sd15", "sd2", "sdxl"])
    args = parser.parse_args()
    setup_comfyui(args.comfyui)
    OUT.mkdir(parents=True, exist_ok=True)
    import torch

    for name in args.only:
        # ComfyUI's executor runs every node under inference mode; some of its helpers rely on it.
        with torch.inference_mode():
            result = globals()[f"record_{name}"]()
        (OUT / f"{name}.json").write_text(json.dumps(result, sort_keys=True, separators=(",", ":")) + "\n")
        print(f"wrote {OUT / (name + '.json')}")


# -- helpers -------------------------------------------------------------------------------------

def rand(seed: int, shape: tuple[int, ...], kind: str = "normal"):
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(seed))
    if kind == "normal":
        return rng.standard_normal(shape, dtype=np.float32)
    return rng.random(shape, dtype=np.float32)


def tensor(seed: int, shape: tuple[int, ...], kind: str = "normal"):
    import torch

    return torch.from_numpy(rand(seed, shape, kind))


def summary(t) -> dict:
    """What the tests compare: shape, a corner, 64 evenly spaced values and statistics."""
    import torch

    t = t.detach().float().cpu()
    flat = t.flatten()
    n = flat.numel()
    index = torch.linspace(0, n - 1, 64).round().long() if n >= 64 else torch.arange(n)
    corner = t.reshape(-1, *t.shape[-2:])[0] if t.ndim >= 2 else t.reshape(1, -1)
    return {"shape": list(t.shape), "corner": corner[:4, :8].tolist(), "sample": flat[index].tolist(),
            "mean": float(flat.mean()), "std": float(flat.std()), "min": float(flat.min()), "max": float(flat.max())}


def tokens_json(tokens: dict) -> dict:
    import torch

    out = {}
    for name, chunks in tokens.items():
        out[name] = [[["emb" if torch.is_tensor(t) else int(t), float(w)] for t, w in chunk] for chunk in chunks]
    return out


def digest(path: Path) -> str:
    return checkpoints().file_digest(path)


def map_hash(pairs) -> dict:
    lines = sorted(f"{a}\t{b}" for a, b in pairs)
    return {"count": len(lines), "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def unet_map(key_map: dict, model) -> dict:
    """ComfyUI's UNet LoRA names, hashed, apart from those aimed at weights the model does not have
    (its diffusers table names a downsampler for the last level too): those are counted."""
    have = set(model.state_dict().keys())
    kept = [(k, v) for k, v in key_map.items() if v in have]
    return {**map_hash(kept), "without_weights": len(key_map) - len(kept)}


def clip_map(key_map: dict) -> dict:
    """ComfyUI's CLIP LoRA names, hashed, apart from those aimed at weights its text model always
    has but a checkpoint may lack (text_projection, logit_scale): those are listed."""
    extra = ("text_projection", "logit_scale")
    kept = [(k, v) for k, v in key_map.items() if not any(e in v for e in extra)]
    return {**map_hash(kept), "without_weights": sorted([k, v] for k, v in key_map.items() if any(e in v for e in extra))}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


PROMPTS = {
    "plain": "a photo of a cat",
    "weighted": "a (photo:1.3) of a ((cat)), [dog] \\(escaped\\) (nested (inner:0.5) words) (bad:x1)",
    "long": ", ".join(["masterpiece", "best quality", "(red:1.2) lighting"]
                      + [f"detail number {i}" for i in range(22)]
                      + ["supercalifragilisticexpialidocious", "antidisestablishmentarianism", "the end"]),
    "empty": "",
    "embedding": "a photo of embedding:toucan-emb, (embedding:toucan-emb-pt:1.2) cat embedding:no-such-one",
}


def write_pt_embedding(directory: Path) -> None:
    import torch

    rows = torch.from_numpy(checkpoints().embedding_rows("toucan-emb-pt"))
    torch.save({"string_to_param": {"*": rows}, "name": "toucan-emb-pt", "step": 100}, directory / "toucan-emb-pt.pt")


def encode_all(clip, prompts: dict) -> tuple[dict, dict]:
    tokens, conds = {}, {}
    for name, text in prompts.items():
        toks = clip.tokenize(text)
        tokens[name] = tokens_json(toks)
        cond = clip.encode_from_tokens_scheduled(toks)
        conds[name] = {"cond": summary(cond[0][0]), "pooled": summary(cond[0][1]["pooled_output"])}
    return tokens, conds


def unet_out(patcher, x, t, context, y=None):
    import comfy.model_management
    import torch

    comfy.model_management.load_models_gpu([patcher])
    with torch.inference_mode():
        return patcher.model.diffusion_model(x, timesteps=t, context=context, y=y, transformer_options={})


# -- tokenizer -------------------------------------------------------------------------------------

TOKENIZER_STRINGS = [
    "", " ", "a photo of a cat", "Héllo  Wörld!!  日本語 123 ", "<|endoftext|>x", "don't\tstop\x00", "ｆｕｌｌ",
    "e\u0301", "ΑΣ ΟΔΟΣ", "İstanbul", "it's 'sa !'s we'll they've I'm you'd", "emoji 🎉🐱\u200d👤 test",
    "a\u00a0b\u3000c\u2028d", "x²³ ½ Ⅻ", "tab\tnew\nline\r\ncr", "ßẞ", "中文分词测试，标点。", "!!!???...",
    "'", "''", "'re", "a'b", "hello-world_foo.bar", "\u200b zero width", "Ǆ ǅ ǆ", "ﬁ ligature", "K Kelvin",
    "<|startoftext|>hi <|StartOfText|> <|ENDOFTEXT|>", "\x1c\x1d\x1e\x1f separators", "supercalifragilistic",
]
WEIGHT_STRINGS = [
    "(a:1.5) b", "((a)) (b:0.5) c", "(a (b:2) c)", "((a:1.2))", "(a:x) b", "(a:) b", "() (:) (:1)", "a) (b",
    "(a(b)", "\\(not weighted\\) (weighted)", "[a] [b:1.2]", "(a:1e1) (b:inf) (c: 2 )", "(a:1.2:1.3)",
    "embedding:none first", "x\nembedding:none y", " ".join(["longword" * 3] * 30),
    ", ".join(f"tag{i}" for i in range(80)),
]


def record_tokenizer() -> dict:
    import comfy.sd1_clip

    tok = comfy.sd1_clip.SDTokenizer(embedding_directory=[])
    ids = {s: tok.tokenizer(s)["input_ids"][1:-1] for s in TOKENIZER_STRINGS}
    weighted = {s: tokens_json({"l": tok.tokenize_with_weights(s)})["l"] for s in WEIGHT_STRINGS}
    return {"ids": [[s, i] for s, i in ids.items()], "weighted": [[s, w] for s, w in weighted.items()]}


# -- weight adapters -------------------------------------------------------------------------------

def adapter_cases() -> tuple[dict, dict, dict]:
    """(LoRA-file entries, key map, base weights) exercising every adapter type on small weights."""
    lora = {"lin.lora_up.weight": (1, (6, 2)), "lin.lora_down.weight": (2, (2, 5)),
            "conv.lora_up.weight": (3, (6, 2, 1, 1)), "conv.lora_down.weight": (4, (2, 5, 1, 1)),
            "conv.lora_mid.weight": (5, (2, 2, 3, 3)),
            "loha.hada_w1_a": (6, (6, 2)), "loha.hada_w1_b": (7, (2, 5)), "loha.hada_w2_a": (8, (6, 2)),
            "loha.hada_w2_b": (9, (2, 5)),
            "lokr.lokr_w1": (10, (2, 2)), "lokr.lokr_w2_a": (11, (3, 1)), "lokr.lokr_w2_b": (12, (1, 2)),
            "dora.lora_up.weight": (13, (6, 2)), "dora.lora_down.weight": (14, (2, 5)), "dora.dora_scale": (15, (6, 1)),
            "diff.diff": (16, (6, 5)), "diff.diff_b": (17, (6,)), "setw.set_weight": (18, (6, 5))}
    tensors = {k: tensor(seed, shape) * 0.3 for k, (seed, shape) in lora.items()}
    import torch

    tensors.update({"lin.alpha": torch.tensor(1.0), "conv.alpha": torch.tensor(3.0), "loha.alpha": torch.tensor(2.0),
                    "lokr.alpha": torch.tensor(1.0)})
    key_map = {n: f"{n}.weight" for n in ("lin", "conv", "loha", "lokr", "dora", "diff", "setw")}
    weights = {"lin.weight": (6, 5), "conv.weight": (6, 5, 3, 3), "loha.weight": (6, 5), "lokr.weight": (6, 4),
               "dora.weight": (6, 5), "diff.weight": (6, 5), "diff.bias": (6,), "setw.weight": (6, 5)}
    return tensors, key_map, {k: tensor(30 + i, shape) for i, (k, shape) in enumerate(weights.items())}


def record_adapters() -> dict:
    import comfy.lora

    lora, key_map, weights = adapter_cases()
    patches = comfy.lora.load_lora(lora, key_map)
    out = {}
    for key, weight in weights.items():
        for strength in (1.0, 0.6):
            entry = [(strength, patches[key], 1.0, None, None)]
            out[f"{key}@{strength}"] = summary(comfy.lora.calculate_weight(entry, weight.clone(), key))
        twice = [(0.5, patches[key], 1.0, None, None), (0.8, patches[key], 0.9, None, None)]
        out[f"{key}@stacked"] = summary(comfy.lora.calculate_weight(twice, weight.clone(), key))
    return out


# -- SD1.5 ---------------------------------------------------------------------------------------

def record_sd15() -> dict:
    import comfy.lora
    import comfy.model_management
    import comfy.sd
    import comfy.utils
    import torch

    ck = checkpoints()

    path, lora_path, locon_path = ck.sd15_checkpoint(), ck.sd15_lora(), ck.sd15_locon()
    emb_dir = Path(tempfile.mkdtemp(prefix="toucan-emb-"))
    ck.write_embedding_safetensors(emb_dir)
    write_pt_embedding(emb_dir)
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(path), output_vae=True, output_clip=True,
                                                                embedding_directory=[str(emb_dir)])
    out: dict = {"files": {"checkpoint": digest(path), "lora": digest(lora_path), "locon": digest(locon_path)},
                 "detected": type(model.model.model_config).__name__, "model_type": model.model.model_type.name}
    out["prompts"] = PROMPTS
    out["tokens"], out["cond"] = encode_all(clip, PROMPTS)
    skip = clip.clone()
    skip.clip_layer(-2)
    cond = skip.encode_from_tokens_scheduled(skip.tokenize(PROMPTS["plain"]))
    out["cond"]["plain_layer-2"] = {"cond": summary(cond[0][0]), "pooled": summary(cond[0][1]["pooled_output"])}

    x, t, ctx = tensor(11, (3, 4, 8, 8)), torch.tensor([999.0, 500.0, 1.0]), tensor(12, (3, 77, 768))
    out["unet"] = summary(unet_out(model, x, t, ctx))

    latent = tensor(21, (1, 4, 8, 8))
    image = tensor(22, (1, 64, 64, 3), "uniform")
    # Small inputs keep the tiled cases cheap while both axes get tiled in some pass; the odd RGBA
    # image also exercises the crop to multiples of 8 and the dropped alpha channel.
    small = tensor(26, (1, 4, 6, 6))
    odd = tensor(23, (1, 36, 44, 4), "uniform")
    out["vae"] = {"decode": summary(vae.decode(latent)), "encode": summary(vae.encode(image)),
                  "decode_tiled": summary(vae.decode_tiled(small, tile_x=8, tile_y=8, overlap=2)),
                  "encode_tiled": summary(vae.encode_tiled(odd, tile_x=32, tile_y=32, overlap=8))}

    out["inpaint"] = record_inpaint(vae, clip)

    # End to end, as ComfyUI's default workflow: KSampler (ancestral, so the step noise counts) + VAEDecode.
    import nodes
    import utils.extra_config  # noqa: F401

    pos = clip.encode_from_tokens_scheduled(clip.tokenize("a photo of a (cat:1.2)"))
    neg = clip.encode_from_tokens_scheduled(clip.tokenize("blurry"))
    sampled = nodes.common_ksampler(model, 42, 4, 7.0, "euler_ancestral", "normal", pos, neg,
                                    {"samples": torch.zeros(1, 4, 8, 8)})[0]["samples"]
    out["ksampler"] = {"latent": summary(sampled), "image": summary(vae.decode(sampled))}

    collect = _Collect()
    logging.getLogger().addHandler(collect)
    lora = comfy.utils.load_torch_file(str(lora_path), safe_load=True)
    locon = comfy.utils.load_torch_file(str(locon_path), safe_load=True)
    m1, c1 = comfy.sd.load_lora_for_models(model, clip, lora, 1.0, 1.0)
    m05, c05 = comfy.sd.load_lora_for_models(model, clip, lora, 0.5, 0.5)
    m2, c2 = comfy.sd.load_lora_for_models(m1, c1, locon, 0.8, 0.7)
    logging.getLogger().removeHandler(collect)
    out["lora_log"] = sorted(set(collect.messages))
    x1, t1, ctx1 = x[1:2], t[1:2], ctx[1:2]
    plain = PROMPTS["plain"]
    out["lora"] = {}
    for name, (m, c) in {"lora_1.0": (m1, c1), "lora_0.5": (m05, c05), "stacked": (m2, c2)}.items():
        cond = c.encode_from_tokens_scheduled(c.tokenize(plain))
        out["lora"][name] = {"unet": summary(unet_out(m, x1, t1, ctx1)), "cond": summary(cond[0][0])}
    comfy.model_management.load_models_gpu([model])
    unet_keys = comfy.lora.model_lora_keys_unet(model.model, {})
    clip_keys = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, {})
    out["key_maps"] = {"unet": unet_map(unet_keys, model.model), "clip": clip_map(clip_keys)}
    return out


def record_inpaint(vae, clip) -> dict:
    import importlib

    # ComfyUI's root `utils` package must be imported before `nodes`, which puts comfy/ (and its
    # utils.py) first on sys.path. A call, so that import sorting cannot move it after `nodes`.
    importlib.import_module("utils.extra_config")
    nodes = importlib.import_module("nodes")

    pixels = tensor(24, (1, 28, 36, 3), "uniform")
    mask = tensor(25, (1, 14, 18), "uniform")
    mask[:, 3:10, 4:12] = 1.0
    mask = (mask > 0.7).float() * 0.8 + 0.1
    enc = nodes.VAEEncodeForInpaint().encode(vae, pixels, mask, 6)[0]
    cond = clip.encode_from_tokens_scheduled(clip.tokenize("a cat"))
    pos, neg, latent = nodes.InpaintModelConditioning().encode(cond, cond, pixels, vae, mask, True)
    return {"encode_for_inpaint": {"samples": summary(enc["samples"]), "noise_mask": summary(enc["noise_mask"])},
            "model_conditioning": {"concat_latent_image": summary(pos[0][1]["concat_latent_image"]),
                                   "concat_mask": summary(pos[0][1]["concat_mask"]),
                                   "samples": summary(latent["samples"]), "noise_mask": summary(latent["noise_mask"])}}


# -- SD2 -----------------------------------------------------------------------------------------

def record_sd2() -> dict:
    import comfy.sd
    import torch

    ck = checkpoints()

    path = ck.sd2_checkpoint()
    layers = {"num_hidden_layers": ck.REDUCED_TEXT_LAYERS}
    model, clip, _vae, _ = comfy.sd.load_checkpoint_guess_config(
        str(path), output_vae=True, output_clip=True, embedding_directory=[],
        te_model_options={"clip_h_model_config": layers})
    out: dict = {"files": {"checkpoint": digest(path)}, "detected": type(model.model.model_config).__name__,
                 "model_type": model.model.model_type.name}
    prompts = {k: PROMPTS[k] for k in ("plain", "weighted", "long")}
    out["prompts"] = prompts
    out["tokens"], out["cond"] = encode_all(clip, prompts)
    last = clip.clone()
    last.clip_layer(-1)
    cond = last.encode_from_tokens_scheduled(last.tokenize(PROMPTS["plain"]))
    out["cond"]["plain_layer-1"] = {"cond": summary(cond[0][0]), "pooled": summary(cond[0][1]["pooled_output"])}
    x, t, ctx = tensor(31, (2, 4, 8, 8)), torch.tensor([999.0, 250.0]), tensor(32, (2, 77, 1024))
    out["unet"] = summary(unet_out(model, x, t, ctx))
    return out


# -- SDXL ----------------------------------------------------------------------------------------

def record_sdxl() -> dict:
    import comfy.lora
    import comfy.model_base
    import comfy.model_detection
    import comfy.model_patcher
    import comfy.sd
    import comfy.sdxl_clip
    import comfy.supported_models
    import comfy.supported_models_base
    import comfy.utils
    import torch
    from comfy.ldm.modules.diffusionmodules.openaimodel import Timestep

    ck = checkpoints()

    path = ck.sdxl_checkpoint()
    sd = comfy.utils.load_torch_file(str(path))
    prefix = "model.diffusion_model."
    unet_config = comfy.model_detection.detect_unet_config(sd, prefix)
    config = comfy.supported_models.SDXL(unet_config)
    config.set_inference_dtype(torch.float32, None)
    base = config.get_model(sd, prefix)
    base.load_model_weights(sd, prefix)
    cpu = torch.device("cpu")
    model = comfy.model_patcher.ModelPatcher(base, load_device=cpu, offload_device=cpu)
    layers = {"num_hidden_layers": ck.REDUCED_TEXT_LAYERS}
    te_options = {"clip_l_model_config": layers, "clip_g_model_config": layers}
    clip_sd = config.process_clip_state_dict(dict(sd))
    clip = comfy.sd.CLIP(config.clip_target(), embedding_directory=[], tokenizer_data=clip_sd,
                         state_dict=clip_sd, model_options=te_options)
    out: dict = {"files": {"checkpoint": digest(path)}, "detected": type(config).__name__ + " (built directly)",
                 "model_type": base.model_type.name}
    prompts = {k: PROMPTS[k] for k in ("plain", "weighted", "long", "empty")}
    out["prompts"] = prompts
    out["tokens"], out["cond"] = encode_all(clip, prompts)
    last = clip.clone()
    last.clip_layer(-1)
    cond = last.encode_from_tokens_scheduled(last.tokenize(PROMPTS["plain"]))
    out["cond"]["plain_layer-1"] = {"cond": summary(cond[0][0]), "pooled": summary(cond[0][1]["pooled_output"])}

    g_only = {k: v for k, v in clip_sd.items() if k.startswith("clip_g.")}
    refiner_clip = comfy.sd.CLIP(comfy.supported_models_base.ClipTarget(comfy.sdxl_clip.SDXLTokenizer,
                                                                         comfy.sdxl_clip.SDXLRefinerClipModel),
                                 embedding_directory=[], state_dict=g_only, model_options=te_options)
    cond = refiner_clip.encode_from_tokens_scheduled(refiner_clip.tokenize(PROMPTS["weighted"]))
    out["refiner_cond"] = {"cond": summary(cond[0][0]), "pooled": summary(cond[0][1]["pooled_output"])}

    pooled = tensor(41, (2, 1280))
    adm_cases = {"defaults": {}, "sizes": {"width": 1024, "height": 768},
                 "all": {"width": 832, "height": 1216, "crop_w": 16, "crop_h": 32, "target_width": 1024,
                         "target_height": 1024}}
    out["adm"] = {k: summary(base.encode_adm(pooled_output=pooled, **v)) for k, v in adm_cases.items()}
    fake = types.SimpleNamespace(embedder=Timestep(256), noise_augmentor=None)
    refiner_cases = {"positive": {"width": 1024, "height": 1024}, "negative": {"prompt_type": "negative"},
                     "score": {"aesthetic_score": 4.5, "crop_w": 8}}
    out["refiner_adm"] = {k: summary(comfy.model_base.SDXLRefiner.encode_adm(fake, pooled_output=pooled, **v))
                          for k, v in refiner_cases.items()}

    x, t, ctx = tensor(42, (2, 4, 8, 8)), torch.tensor([999.0, 100.0]), tensor(43, (2, 77, 2048))
    y = base.encode_adm(pooled_output=pooled, width=64, height=64)
    out["unet"] = summary(unet_out(model, x, t, ctx, y))

    unet_keys = comfy.lora.model_lora_keys_unet(base, {})
    clip_keys = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, {})
    out["key_maps"] = {"unet": unet_map(unet_keys, base), "clip": clip_map(clip_keys)}
    return out


# -- detection on full-size layouts ----------------------------------------------------------------

def record_detection() -> dict:
    import comfy.model_detection
    import comfy.utils
    import torch

    ck = checkpoints()

    cases = {name: name for name in ck.FULL_UNETS}
    cases.update({"sd2_v": "sd2", "sdxl_vpred": "sdxl", "sdxl_vpred_ztsnr": "sdxl", "sdxl_edm": "sdxl"})
    prefix = "model.diffusion_model."
    out: dict = {}
    for case, layout in cases.items():
        sd = {f"model.diffusion_model.{k[len('model.diffusion_model.'):]}": torch.empty(shape, device="meta")
              for k, shape in ck.full_unet_layout(layout)}
        bias_key = prefix + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
        if bias_key in sd:
            scale = 0.2 if case == "sd2_v" else 0.05
            sd[bias_key] = tensor(51, tuple(sd[bias_key].shape)) * scale
        if case.startswith("sdxl_vpred"):
            sd["v_pred"] = torch.tensor([])
        if case == "sdxl_vpred_ztsnr":
            sd["ztsnr"] = torch.tensor([])
        if case == "sdxl_edm":
            sd["edm_mean"] = torch.zeros(1, 4, 1, 1)
            sd["edm_std"] = torch.ones(1, 4, 1, 1)
        unet_config = comfy.model_detection.detect_unet_config(sd, prefix)
        config = comfy.model_detection.model_config_from_unet(sd, prefix)
        model_type = config.model_type(sd, prefix)
        del unet_config  # the model config's copy adds the family's attention-head settings
        out[case] = {"unet_config": {k: v for k, v in config.unet_config.items()
                                     if isinstance(v, (int, float, str, list, bool)) or v is None},
                     "class": type(config).__name__, "model_type": model_type.name,
                     "inpaint": bool(config.inpaint_model()),
                     "sampling_settings": {k: v for k, v in config.sampling_settings.items()}}
        if case in ("sd15", "sdxl"):
            mapping = comfy.utils.unet_to_diffusers(config.unet_config)
            ldm_keys = {k[len(prefix):] for k in sd}
            out[case]["diffusers_map"] = map_hash((d, v) for d, v in mapping.items() if v in ldm_keys)
    return out


if __name__ == "__main__":
    os.environ.setdefault("TOUCAN_NB_TEST_CACHE", str(Path.home() / ".cache" / "toucan_nb-tests"))
    main()
