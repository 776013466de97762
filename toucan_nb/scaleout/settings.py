"""How scale-out is configured: `--ray ADDRESS`, `--ray-workers N`, `--ray-num-gpus N`, `TOUCAN_NB_RAY`.

Plain data and the one check that Ray is installed; importing this module imports no Ray.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

ENV_ADDRESS = "TOUCAN_NB_RAY"
INSTALL_HINT = "pip install 'toucan-nb[ray]'"
NAMESPACE = "toucan_nb"


class RayUnavailableError(RuntimeError):
    """Scale-out was asked for but Ray is not installed."""


@dataclass(frozen=True)
class RaySettings:
    """`address`: "local" (start Ray on this machine) or a cluster address to join as a driver.

    `workers`: 0 = one per GPU the cluster offers (one CPU worker when it offers none).
    `num_gpus`: with "local", the GPUs to declare to Ray (Ray's own resource count; lets a CPU
    machine run "two GPUs"). `lease_s`: a worker interrupts its prompt when the driver has not
    renewed its lease for this long (the driver died). `name_prefix`: workers are named actors
    `<prefix>-<i>` in the `toucan_nb` namespace, so a new driver re-attaches to them.
    """

    address: str
    workers: int = 0
    num_gpus: int | None = None
    lease_s: float = 10.0
    name_prefix: str = "toucan-worker"

    @property
    def local(self) -> bool:
        return self.address == "local"


def settings_from(address: str | None, workers: int | None = None, num_gpus: int | None = None,
                  lease_s: float | None = None, name_prefix: str | None = None) -> RaySettings | None:
    """Settings from explicit values, else `TOUCAN_NB_RAY`; None when scale-out is not asked for."""
    address = address or os.environ.get(ENV_ADDRESS) or None
    if not address:
        return None
    return RaySettings(address=address, workers=max(0, int(workers or 0)), num_gpus=num_gpus,
                       lease_s=float(lease_s) if lease_s else 10.0, name_prefix=name_prefix or "toucan-worker")


def require_ray() -> ModuleType:
    """The `ray` module, or RayUnavailableError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError(f"scale-out needs Ray, which is not installed: {INSTALL_HINT}") from exc
    return ray
