"""toucan_nb's built-in diffusion engine (SD1.x, SD2.x, SDXL) for users without a ComfyUI checkout.

`sampling` is the maths over a denoiser (schedules, samplers, noise, guidance, the KSampler entry
points); `latent_formats` and `previews` describe latent spaces and turn latents into previews. The
networks, checkpoint loading and model memory live in their own modules next to these. Importing
this package loads no torch.
"""
