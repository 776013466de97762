"""Record ComfyUI's own sampling outputs as goldens for tests/unit/diffusion/sampling.

Run with ComfyUI's venv, from the repository root:

    /work/ref/cvenv/bin/python scripts/goldens/record_sampling.py [--comfyui /work/ref/ComfyUI]

It imports ComfyUI's real modules (on the CPU, as `main.py --cpu` sets them up), builds a
`comfy.model_base.BaseModel` whose network is the toy test double of
`tests/unit/diffusion/sampling/toy.py`, and calls ComfyUI's functions for every case of
`tests/unit/diffusion/sampling/cases.py`: schedulers, `prepare_noise`, `comfy.sample.sample`
(KSampler), CFGGuider/SamplerCustomAdvanced-style runs, model sampling maths and latent previews.
Results go to `tests/unit/diffusion/sampling/goldens/*.npz`. Nothing of ComfyUI is copied.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "unit" / "diffusion" / "sampling"
OUT = HERE / "goldens"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


toy = _load("toy")
cases = _load("cases")


def setup_comfy(path: str) -> None:
    sys.path.insert(0, path)
    import comfy.options

    comfy.options.enable_args_parsing()
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.cli_args  # noqa: F401  (parses --cpu before model_management is imported)


def build_models():
    import comfy.latent_formats
    import comfy.model_base
    import comfy.model_patcher
    from comfy_extras.nodes_model_advanced import ModelSamplingDiscrete

    class Config:
        def __init__(self, latent_format, adm=0, zsnr=False):
            self.unet_config = {"disable_unet_model_creation": True, "adm_in_channels": adm or None}
            self.latent_format = latent_format
            self.manual_cast_dtype = None
            self.custom_operations = None
            self.optimizations = {}
            self.memory_usage_factor = 1.0
            self.sampling_settings = {"zsnr": zsnr} if zsnr else {}

    class ToySDXL(comfy.model_base.BaseModel):
        def encode_adm(self, **kwargs):
            return toy.toy_adm(kwargs)

    def patcher(model_cls, model_type, latent_format, adm=0, zsnr=False, inpaint=False):
        base = model_cls(Config(latent_format, adm, zsnr), model_type=model_type, device=torch.device("cpu"))
        base.diffusion_model = toy.ToyUNet(adm_dim=adm, concat_channels=5 if inpaint else 0)
        if inpaint:
            base.set_inpaint()
        return comfy.model_patcher.ModelPatcher(base, load_device=torch.device("cpu"),
                                                offload_device=torch.device("cpu"))

    mt = comfy.model_base.ModelType
    sd15 = patcher(comfy.model_base.BaseModel, mt.EPS, comfy.latent_formats.SD15())
    models = {
        "sd15": sd15,
        "sd15_v": patcher(comfy.model_base.BaseModel, mt.V_PREDICTION, comfy.latent_formats.SD15()),
        "sd15_v_zsnr": patcher(comfy.model_base.BaseModel, mt.V_PREDICTION, comfy.latent_formats.SD15(), zsnr=True),
        "sd15_lcm": ModelSamplingDiscrete().patch(sd15, "lcm", False)[0],
        "sd15_x0": ModelSamplingDiscrete().patch(sd15, "x0", False)[0],
        "sdxl": patcher(ToySDXL, mt.EPS, comfy.latent_formats.SDXL(), adm=toy.ADM_DIM),
        "sd15_inpaint": patcher(comfy.model_base.BaseModel, mt.EPS, comfy.latent_formats.SD15(), inpaint=True),
    }
    return models


def conditioning(specs, ctx):
    out = []
    for spec in specs:
        options = {}
        for k, v in spec.items():
            if k == "ctx":
                continue
            if k in cases.TENSOR_KEYS:
                options[cases.TENSOR_KEYS[k]] = ctx[v]
            elif k == "area":
                options["area"] = tuple(v)
            else:
                options[k] = v
        out.append([ctx[spec["ctx"]], options])
    return out


def latent_for(name, ctx):
    return torch.zeros(1, 4, 8, 8) if name == "empty" else ctx[name].clone()


def record_model_sampling(models, out):
    # The toy models built with each (prediction, zsnr) of cases.MODEL_SAMPLINGS.
    names = {"eps": "sd15", "v": "sd15_v", "v_zsnr": "sd15_v_zsnr", "lcm": "sd15_lcm", "x0": "sd15_x0"}
    for key in cases.MODEL_SAMPLINGS:
        model_name = names[key]
        ms = models[model_name].get_model_object("model_sampling")
        out[f"ms/{key}/sigmas"] = ms.sigmas.numpy()
        probe = torch.tensor([0.03, 0.5, 1.0, 3.3, 14.0, 14.6146], dtype=torch.float32)
        out[f"ms/{key}/timestep"] = ms.timestep(probe).numpy()
        out[f"ms/{key}/sigma_of_t"] = ms.sigma(torch.tensor([0.0, 10.5, 499.25, 998.9, 1200.0])).numpy()
        out[f"ms/{key}/percent_to_sigma"] = np.array(
            [ms.percent_to_sigma(p) for p in (0.0, 0.1, 0.2, 0.25, 0.5, 0.8, 0.999, 1.0)], dtype=np.float64)
        g = torch.Generator().manual_seed(3)
        x = torch.randn(2, 4, 3, 3, generator=g)
        model_out = torch.randn(2, 4, 3, 3, generator=g)
        sigma = torch.tensor([7.5, 0.4])
        out[f"ms/{key}/input"] = ms.calculate_input(sigma, x).numpy()
        out[f"ms/{key}/denoised"] = ms.calculate_denoised(sigma, model_out, x).numpy()
        out[f"ms/{key}/noise_scaling"] = ms.noise_scaling(sigma[0], model_out, x, max_denoise=False).numpy()
        out[f"ms/{key}/noise_scaling_max"] = ms.noise_scaling(sigma[0], model_out, x, max_denoise=True).numpy()


def record_schedulers(models, out):
    import comfy.samplers
    from comfy.k_diffusion import sampling as kds

    ms_models = {"eps": "sd15", "v_zsnr": "sd15_v_zsnr", "lcm": "sd15_lcm"}
    for ms_key, name, steps in cases.SCHEDULER_CASES:
        ms = models[ms_models[ms_key]].get_model_object("model_sampling")
        out[f"sched/{ms_key}/{name}/{steps}"] = comfy.samplers.calculate_sigmas(ms, name, steps).numpy()
    for n in (1, 4, 13):
        out[f"karras/{n}"] = kds.get_sigmas_karras(n, 0.0291675, 14.614642, rho=7.0).numpy()
        out[f"karras_rho/{n}"] = kds.get_sigmas_karras(n, 0.5, 80.0, rho=3.5).numpy()
        out[f"exponential/{n}"] = kds.get_sigmas_exponential(n, 0.0291675, 14.614642).numpy()
        out[f"polyexponential/{n}"] = kds.get_sigmas_polyexponential(n, 0.0291675, 14.614642, rho=2.5).numpy()
    ms = models["sd15"].get_model_object("model_sampling")
    for steps in (1, 2, 4):
        for denoise in (1.0, 0.5, 0.25):
            start_step = 10 - int(10 * denoise)
            timesteps = torch.flip(torch.arange(1, 11) * 100 - 1, (0,))[start_step:start_step + steps]
            sig = ms.sigma(timesteps)
            out[f"sdturbo/{steps}/{denoise}"] = torch.cat([sig, sig.new_zeros([1])]).numpy()
    out["beta_params/7"] = comfy.samplers.beta_scheduler(ms, 7, alpha=0.3, beta=1.7).numpy()
    # BasicScheduler with denoise < 1 (its node body, inlined).
    for name in ("karras", "normal", "simple"):
        for steps, denoise in ((10, 0.5), (7, 0.33), (4, 0.0)):
            total = steps
            if denoise < 1.0:
                if denoise <= 0.0:
                    out[f"basic/{name}/{steps}/{denoise}"] = np.zeros((0,), dtype=np.float32)
                    continue
                total = int(steps / denoise)
            sig = comfy.samplers.calculate_sigmas(ms, name, total).cpu()
            out[f"basic/{name}/{steps}/{denoise}"] = sig[-(steps + 1):].numpy()


def record_noise(out):
    import comfy.sample

    for i, case in enumerate(cases.NOISE_CASES):
        latent = torch.zeros(case["shape"])
        out[f"noise/{i}"] = comfy.sample.prepare_noise(latent, case["seed"], case.get("batch_index")).numpy()


def run_ksampler(models, case, ctx):
    import comfy.sample

    model = models[case["model"]]
    latent = {"samples": latent_for(case["latent"], ctx)}
    if "batch_index" in case:
        latent["batch_index"] = case["batch_index"]
    if case.get("noise_mask"):
        latent["noise_mask"] = ctx[case["noise_mask"]]
    # nodes.common_ksampler's body
    latent_image = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
    if case.get("disable_noise"):
        noise = torch.zeros(latent_image.size(), dtype=latent_image.dtype, layout=latent_image.layout, device="cpu")
    else:
        noise = comfy.sample.prepare_noise(latent_image, case["seed"], latent.get("batch_index"))
    steps_seen = []

    def callback(step, x0, x, total_steps):
        steps_seen.append((step, total_steps))
        if step == 0:
            first_x0.append(x0.clone())

    first_x0 = []
    samples = comfy.sample.sample(
        model, noise, case["steps"], case["cfg"], case["sampler"], case["scheduler"],
        conditioning(case["positive"], ctx), conditioning(case["negative"], ctx), latent_image,
        denoise=case.get("denoise", 1.0), disable_noise=case.get("disable_noise", False),
        start_step=case.get("start_step"), last_step=case.get("last_step"),
        force_full_denoise=case.get("force_full_denoise", False), noise_mask=latent.get("noise_mask"),
        callback=callback, seed=case["seed"])
    return samples, steps_seen, first_x0


def record_sampling(models, out, meta):
    ctx = toy.contexts()
    for case in cases.ALL_SAMPLING_CASES:
        samples, steps_seen, first_x0 = run_ksampler(models, case, ctx)
        out[f"run/{case['id']}"] = samples.numpy()
        out[f"run/{case['id']}/steps"] = np.array(steps_seen, dtype=np.int64).reshape(-1, 2)
        # The first step's prediction is the same for every sampler of the sampler sweep: keep one.
        if first_x0 and (case in cases.SAMPLER_CASES[:1] or case not in cases.SAMPLER_CASES):
            out[f"run/{case['id']}/x0"] = first_x0[0].numpy()
        meta[case["id"]] = float(samples.abs().max())


def record_custom(models, out):
    import comfy.sample
    import comfy.samplers
    from comfy.k_diffusion import sa_solver
    from comfy_extras.nodes_custom_sampler import Guider_DualCFG

    class BasicGuider(comfy.samplers.CFGGuider):
        def set_conds(self, positive):
            self.inner_set_conds({"positive": positive})

    ctx = toy.contexts()
    model = models["sd15"]
    ms = model.get_model_object("model_sampling")
    for case in cases.CUSTOM_CASES:
        options = dict(case["options"])
        if "reverse_time_eta" in case:
            eta = case["reverse_time_eta"]
            options["noise_scaler"] = lambda x, eta=eta: x ** (eta + 1)
        if "tau" in case:
            start, end, eta = case["tau"]
            options["tau_func"] = sa_solver.get_tau_interval_func(ms.percent_to_sigma(start),
                                                                   ms.percent_to_sigma(end), eta=eta)
        sampler = comfy.samplers.ksampler(case["sampler"], options)
        total = case["steps"] if case["denoise"] >= 1.0 else int(case["steps"] / case["denoise"])
        sigmas = comfy.samplers.calculate_sigmas(ms, case["scheduler"], total).cpu()[-(case["steps"] + 1):]
        if case.get("guider") == "basic":
            guider = BasicGuider(model)
            guider.set_conds(conditioning(cases.POS, ctx))
        elif case.get("guider") == "dual":
            guider = Guider_DualCFG(model)
            guider.set_conds(conditioning(cases.POS, ctx), conditioning(cases.MIDDLE, ctx),
                             conditioning(cases.NEG, ctx))
            cfg_conds, cfg_negative, nested = case["dual"]
            guider.set_cfg(cfg_conds, cfg_negative, nested=nested)
        else:
            guider = comfy.samplers.CFGGuider(model)
            guider.set_conds(conditioning(cases.POS, ctx), conditioning(cases.NEG, ctx))
            guider.set_cfg(case["cfg"])
        latent_image = comfy.sample.fix_empty_latent_channels(model, latent_for(case["latent"], ctx))
        if case.get("noise") == "disable":
            noise = torch.zeros(latent_image.shape)
            seed = 0
        else:
            noise = comfy.sample.prepare_noise(latent_image, case["seed"], None)
            seed = case["seed"]
        x0 = {}

        def callback(step, x0_, x, total_steps, x0=x0):
            x0["x0"] = x0_

        samples = guider.sample(noise, latent_image, sampler, sigmas, callback=callback, seed=seed)
        out[f"custom/{case['id']}"] = samples.numpy()
        out[f"custom/{case['id']}/denoised"] = model.model.process_latent_out(x0["x0"].cpu()).numpy()


def record_previews(out):
    import comfy.latent_formats
    from comfy.taesd.taesd import TAESD
    from latent_preview import Latent2RGBPreviewer, TAESDPreviewerImpl

    ctx = toy.contexts()
    x0 = ctx["latent"] * 0.6
    for name, fmt in (("sd15", comfy.latent_formats.SD15()), ("sdxl", comfy.latent_formats.SDXL())):
        previewer = Latent2RGBPreviewer(fmt.latent_rgb_factors, fmt.latent_rgb_factors_bias)
        out[f"preview/latent2rgb/{name}"] = np.asarray(previewer.decode_latent_to_preview(x0))
    taesd = TAESD()
    shapes = [(k, tuple(v.shape)) for k, v in taesd.taesd_decoder.state_dict().items()]
    taesd.taesd_decoder.load_state_dict(toy.random_state_dict(shapes, seed=5, scale=0.05))
    out["preview/taesd/keys"] = np.array(json.dumps(shapes))
    out["preview/taesd/image"] = np.asarray(TAESDPreviewerImpl(taesd).decode_latent_to_preview(x0[:, :, :4, :4]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comfyui", default="/work/ref/ComfyUI")
    parser.add_argument("--out", type=Path, default=OUT, help="where the .npz files go (default: the tests' goldens)")
    args = parser.parse_args()
    setup_comfy(args.comfyui)
    models = build_models()
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        groups = {}
        out: dict = {}
        record_model_sampling(models, out)
        groups["model_sampling"] = out
        out = {}
        record_schedulers(models, out)
        groups["schedulers"] = out
        out = {}
        record_noise(out)
        groups["noise"] = out
        out, meta = {}, {}
        record_sampling(models, out, meta)
        groups["sampling"] = out
        out = {}
        record_custom(models, out)
        groups["custom"] = out
        out = {}
        record_previews(out)
        groups["previews"] = out
    for name, arrays in groups.items():
        np.savez_compressed(out_dir / f"{name}.npz", **arrays)
    commit = subprocess.run(["git", "-C", args.comfyui, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    info = {"torch": torch.__version__, "numpy": np.__version__, "comfyui_commit": commit.strip()}
    (out_dir / "RECORDED.json").write_text(json.dumps(info, indent=1) + "\n")
    print(json.dumps({k: len(v) for k, v in groups.items()}))


if __name__ == "__main__":
    main()
