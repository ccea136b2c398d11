"""The one NVML probe: is there an NVIDIA driver, and which GPUs with how much memory.

NVML sees the driver without creating a CUDA context and without torch, so the light
daemon, ``sisyphus doctor`` and ``sisyphus setup`` all ask here.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Gpu:
    name: str
    total_mb: int
    free_mb: int


@dataclass(frozen=True)
class GpuInfo:
    """What NVML says; ``driver`` is empty when there is no usable NVIDIA driver (``why`` says why)."""

    driver: str = ""
    gpus: tuple[Gpu, ...] = ()
    why: str = ""
    cuda: str = ""  # the newest CUDA the driver supports, e.g. "12.8" (picks the torch build on Windows)


def open_nvml() -> tuple[ModuleType | None, str]:
    """(pynvml, "") once initialised (the caller shuts it down), or (None, why not)."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return None, f"no NVIDIA driver found (NVML: {exc})"
    return pynvml, ""


def probe_gpu() -> GpuInfo:
    """NVIDIA driver and GPUs: cheap, no CUDA context."""
    pynvml, why = open_nvml()
    if pynvml is None:
        return GpuInfo(why=why)
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(Gpu(_text(pynvml.nvmlDeviceGetName(handle)), mem.total >> 20, mem.free >> 20))
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()  # e.g. 12080 for CUDA 12.8
        return GpuInfo(driver, tuple(gpus), "" if gpus else "the NVIDIA driver reports no GPU",
                       f"{cuda // 1000}.{cuda % 1000 // 10}")
    except pynvml.NVMLError as exc:
        return GpuInfo(why=f"NVML failed: {exc}")
    finally:
        pynvml.nvmlShutdown()


def has_nvidia() -> bool:
    return bool(probe_gpu().driver)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
