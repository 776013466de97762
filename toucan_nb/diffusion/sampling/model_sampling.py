"""The discrete noise schedule of the SD families and how a network's output becomes a denoised latent.

`ModelSamplingDiscrete` holds the 1000 training sigmas (betas linear in sqrt space between
`linear_start` and `linear_end`, computed in float64, kept as float32), maps sigmas to the network's
integer timestep and back, and applies the prediction type: `eps` (SD1, SD2-base, SDXL),
`v_prediction` (SD2-768, v-pred SDXL), `x0`, `img_to_img` and `lcm` (the last on the 50-step
distilled schedule, `ModelSamplingDistilled`), as the ModelSamplingDiscrete node selects them.
`zsnr` rescales the schedule to zero terminal SNR. docs/diffusion-sampling.md §Schedule.

The arithmetic follows ComfyUI's `comfy/model_sampling.py` operation by operation, so results agree
bit for bit on the same device. Immutable after construction; any thread.
"""

from __future__ import annotations

import math

import torch

PREDICTIONS = ("eps", "v_prediction", "lcm", "x0", "img_to_img")

# ComfyUI pins the last alpha_bar of a zero-terminal-SNR schedule to this value so that sigma stays finite.
_ZSNR_LAST_ALPHA_BAR = 4.8973451890853435e-08


def beta_schedule(kind: str, timesteps: int, linear_start: float, linear_end: float,
                  cosine_s: float = 8e-3) -> torch.Tensor:
    """The float64 betas of a training schedule ("linear", "scaled_linear" alias, "cosine", "sqrt_linear", "sqrt")."""
    if kind in ("linear", "scaled_linear"):
        return torch.linspace(linear_start ** 0.5, linear_end ** 0.5, timesteps, dtype=torch.float64) ** 2
    if kind == "cosine":
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps + cosine_s
        alphas = torch.cos(steps / (1 + cosine_s) * math.pi / 2).pow(2)
        alphas = alphas / alphas[0]
        return torch.clamp(1 - alphas[1:] / alphas[:-1], min=0, max=0.999)
    if kind == "sqrt_linear":
        return torch.linspace(linear_start, linear_end, timesteps, dtype=torch.float64)
    if kind == "sqrt":
        return torch.linspace(linear_start, linear_end, timesteps, dtype=torch.float64) ** 0.5
    raise ValueError(f"unknown beta schedule {kind!r}")


def rescale_zero_terminal_snr(sigmas: torch.Tensor) -> torch.Tensor:
    """Shift and scale sqrt(alpha_bar) so that the last step has zero SNR (Lin et al. 2023)."""
    alphas_bar_sqrt = (1 / (sigmas * sigmas + 1)).sqrt()
    first = alphas_bar_sqrt[0].clone()
    last = alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= last
    alphas_bar_sqrt *= first / (first - last)
    alphas_bar = alphas_bar_sqrt ** 2
    alphas_bar[-1] = _ZSNR_LAST_ALPHA_BAR
    return ((1 - alphas_bar) / alphas_bar) ** 0.5


def _as_batch(sigma: torch.Tensor, ndim: int) -> torch.Tensor:
    """A scalar sigma stays a scalar; a per-sample sigma [B] broadcasts over [B, C, H, W]."""
    if sigma.nelement() == 1:
        return sigma.view(())
    return sigma.view(sigma.shape[:1] + (1,) * (ndim - 1))


class ModelSamplingDiscrete:
    """The 1000-step discrete schedule plus one prediction type.

    `sigmas` and `log_sigmas` are float32 on the CPU, ascending (index = training timestep).
    """

    def __init__(self, prediction: str = "eps", *, zsnr: bool = False, beta_schedule_kind: str = "linear",
                 linear_start: float = 0.00085, linear_end: float = 0.012, timesteps: int = 1000) -> None:
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, not {prediction!r}")
        self.prediction = prediction
        self.zsnr = zsnr
        self.linear_start = linear_start
        self.linear_end = linear_end
        self.sigma_data = 1.0
        betas = beta_schedule(beta_schedule_kind, timesteps, linear_start, linear_end)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.num_timesteps = int(betas.shape[0])
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        if zsnr:
            sigmas = rescale_zero_terminal_snr(sigmas)
        self._set_sigmas(sigmas)

    def _set_sigmas(self, sigmas: torch.Tensor) -> None:
        self.sigmas = sigmas.float()
        self.log_sigmas = sigmas.log().float()

    # -- the schedule ---------------------------------------------------------------------------

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        """The index of the training sigma nearest in log space (an integer tensor shaped like `sigma`)."""
        dists = sigma.log().to(self.log_sigmas.device) - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        """The sigma of a (fractional) timestep, interpolating log sigma linearly."""
        t = torch.clamp(timestep.float().to(self.log_sigmas.device), min=0, max=(len(self.sigmas) - 1))
        return self._interpolate(t).to(timestep.device)

    def _interpolate(self, t: torch.Tensor) -> torch.Tensor:
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()

    def percent_to_sigma(self, percent: float) -> float:
        """The sigma at a fraction of sampling (0 = start, 1 = end); beyond the ends a huge or zero sigma."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return self.sigma(torch.tensor((1.0 - percent) * 999.0)).item()

    def is_max_denoise(self, sigmas: torch.Tensor) -> bool:
        """Whether sampling starts from pure noise: the first sigma is (or exceeds) the schedule's max."""
        max_sigma = float(self.sigma_max)
        sigma = float(sigmas[0])
        return math.isclose(max_sigma, sigma, rel_tol=1e-05) or sigma > max_sigma

    # -- the prediction type --------------------------------------------------------------------

    def calculate_input(self, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The network's input for a noisy latent at `sigma`: x / sqrt(sigma^2 + 1) (unscaled for img_to_img)."""
        if self.prediction == "img_to_img":
            return noise
        sigma = _as_batch(sigma, noise.ndim)
        return noise / (sigma ** 2 + self.sigma_data ** 2) ** 0.5

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor,
                           model_input: torch.Tensor) -> torch.Tensor:
        """The denoised latent from the network's raw output and the noisy latent it saw."""
        if self.prediction in ("x0", "img_to_img"):
            return model_output
        if self.prediction == "lcm":
            return self._lcm_denoised(sigma, model_output, model_input)
        sigma = _as_batch(sigma, model_output.ndim)
        if self.prediction == "v_prediction":
            sd = self.sigma_data
            return (model_input * sd ** 2 / (sigma ** 2 + sd ** 2)
                    - model_output * sigma * sd / (sigma ** 2 + sd ** 2) ** 0.5)
        return model_input - model_output * sigma

    def _lcm_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor,
                      model_input: torch.Tensor) -> torch.Tensor:
        # LCM's consistency boundary condition, with sigma_data 0.5 and timestep scaling 10.
        shape = sigma.shape[:1] + (1,) * (model_output.ndim - 1)
        timestep = self.timestep(sigma).view(shape)
        sigma = sigma.view(shape)
        x0 = model_input - model_output * sigma
        sigma_data = 0.5
        scaled_timestep = timestep * 10.0
        c_skip = sigma_data ** 2 / (scaled_timestep ** 2 + sigma_data ** 2)
        c_out = scaled_timestep / (scaled_timestep ** 2 + sigma_data ** 2) ** 0.5
        return c_out * x0 + c_skip * model_input

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent_image: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        """The starting latent: noise * sigma + latent, or noise * sqrt(1 + sigma^2) + latent from pure noise."""
        sigma = _as_batch(sigma, noise.ndim)
        noise = noise * torch.sqrt(1.0 + sigma ** 2.0) if max_denoise else noise * sigma
        noise += latent_image
        return noise

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """The sampler's final latent as a clean latent (the identity for these prediction types)."""
        return latent


class ModelSamplingDistilled(ModelSamplingDiscrete):
    """The 50-step schedule LCM models were distilled on: every 20th training sigma, timesteps 19..999."""

    original_timesteps = 50

    def __init__(self, prediction: str = "lcm", **kwargs: object) -> None:
        super().__init__(prediction, **kwargs)  # type: ignore[arg-type]
        self.skip_steps = self.num_timesteps // self.original_timesteps
        full = self.sigmas
        valid = torch.zeros((self.original_timesteps,), dtype=torch.float32)
        for x in range(self.original_timesteps):
            valid[self.original_timesteps - 1 - x] = full[self.num_timesteps - 1 - x * self.skip_steps]
        self._set_sigmas(valid)

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        dists = sigma.log().to(self.log_sigmas.device) - self.log_sigmas[:, None]
        index = dists.abs().argmin(dim=0).view(sigma.shape)
        return (index * self.skip_steps + (self.skip_steps - 1)).to(sigma.device)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        t = ((timestep.float().to(self.log_sigmas.device) - (self.skip_steps - 1)) / self.skip_steps).float()
        t = torch.clamp(t, min=0, max=(len(self.sigmas) - 1))
        return self._interpolate(t).to(timestep.device)


def model_sampling(prediction: str = "eps", zsnr: bool = False, **schedule: object) -> ModelSamplingDiscrete:
    """The model sampling the ModelSamplingDiscrete node builds: "lcm" uses the distilled schedule."""
    if prediction == "lcm":
        return ModelSamplingDistilled("lcm", zsnr=zsnr, **schedule)
    return ModelSamplingDiscrete(prediction, zsnr=zsnr, **schedule)  # type: ignore[arg-type]
