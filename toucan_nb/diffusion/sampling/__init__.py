"""The built-in engine's sampling layer: pure maths over a denoiser, matching ComfyUI's numbers.

Modules (import them directly; this package imports nothing):

- `model_sampling`  the discrete schedule, sigma <-> timestep, eps / v / x0 / img_to_img / lcm.
- `schedulers`      the 9 KSampler schedulers and the custom-sampling scheduler functions.
- `noise`           seeded starting noise (`prepare_noise`), empty-latent and noise-mask rules, NOISE objects.
- `noise_samplers`  per-step ancestral noise and Brownian-tree noise for SDE samplers.
- `conditioning`    CONDITIONING resolved per run and applied per step (areas, masks, timestep ranges,
                    cond/uncond batching into network calls).
- `guidance`        CFG and the GUIDER objects (CFGGuider, BasicGuider) that run a sampler.
- `denoiser`        what solvers call, inpainting blend, per-step reports.
- `sampler`         SAMPLER objects and the 44 names; `solvers_*`, `dpm_solver`, `uni_pc` the maths.
- `ksampler`        KSampler / KSamplerAdvanced / SamplerCustom(Advanced) entry points.
- `concat`          the inpainting networks' extra channels, for the model side's `concat_cond`.
- `model`           the `DenoiserModel` protocol below.

The model interface (agreed with the model side; `model.DenoiserModel` is the typed form):

    model.model_sampling   a `model_sampling.ModelSamplingDiscrete` (replaced, on a clone, by the
                           ModelSamplingDiscrete node)
    model.latent_format    a `toucan_nb.diffusion.latent_formats.LatentFormat`
    model.dtype, .device   where the network runs; inputs arrive cast and placed
    model.apply_model(x_in, t, c_crossattn, y=None) -> raw network output (eps, v or x0)
        x_in [N, C(+concat), h, w] already divided by sqrt(sigma^2 + 1); t [N] float integer timesteps;
        c_crossattn [N, tokens, dim]; y [N, adm] or None
    model.encode_adm(params) -> y [B, adm] or None      (SDXL's ADM vector for one conditioning entry)
    model.concat_cond(params) -> [B, k, h, w] or None    (inpainting networks' extra input channels;
                                                          `concat.inpaint_concat` builds ComfyUI's)
    model.fits_in_memory(input_shape) -> bool            (may cond and uncond share one call?)

`params` is the conditioning entry's dict (pooled_output, width, height, crop_w, crop_h,
target_width, target_height, ...) with width/height defaulted to the latent size * 8, plus
prompt_type ("positive"/"negative"), device, noise, seed, latent_image and denoise_mask.
Everything else (input scaling, timestep lookup, CFG, batching, denoised conversion) happens here.
Progress: every solver step calls the run's callback with a `denoiser.SamplingStep`; raising from
it (an interrupt) stops sampling. docs/diffusion-sampling.md describes all of this.
"""
