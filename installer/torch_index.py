"""Where torch comes from: the one home of the rule (``sisyphus setup``, ``installer.venvs``, ``tests/run``).

PyPI's Linux torch is the CUDA build (with ~19 nvidia-*/cuda-* packages and triton): a CPU torch
on Linux comes from PyTorch's CPU index. PyPI's macOS and Windows wheels are CPU builds, so
there the default is pip's own index, except for CUDA on Windows, which comes from PyTorch's
index for the driver's CUDA version. ``--torch-index-url`` beats ``SISYPHUS_TORCH_INDEX``
(an address, or ``pypi`` for pip's own index: PyPI, or the mirror pip is configured
with), which beats those defaults.

An index is asked once, with a short timeout, before pip is pointed at it: where it cannot be
reached (a machine that sees only PyPI or a mirror), torch comes from pip's own index instead
of pip retrying an unreachable address for minutes.

    python -m installer.torch_index [--torch cpu|cuda]    prints the index to use, or "pypi"
"""
from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cache

ENV = "SISYPHUS_TORCH_INDEX"
PYPI = "pypi"  # "no index of our own": pip's configured one (PyPI or a mirror)
PYTORCH = "https://download.pytorch.org/whl/"
CPU_INDEX = PYTORCH + "cpu"
# The CUDA builds PyTorch publishes for installer.venvs.TORCH_VERSION (newest first); a driver
# runs a build whose CUDA version is not newer than the one it supports.
CUDA_BUILDS = ((13, 0), (12, 8), (12, 6))
CHECK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Choice:
    url: str | None  # None: pip's own index
    note: str = ""   # why the index was skipped, to show the user


def choose(torch: str, explicit: str | None = None, platform: str = sys.platform, driver_cuda: str = "",
           env: str | None = None) -> str | None:
    """The index for ``torch`` ('cpu' or 'cuda'), without asking it; None for pip's own index."""
    wanted = explicit or (os.environ.get(ENV, "") if env is None else env).strip()
    if wanted:
        return None if wanted == PYPI else wanted
    if torch == "cpu" and platform.startswith("linux"):
        return CPU_INDEX
    if torch == "cuda" and platform == "win32":
        return cuda_index_url(driver_cuda)
    return None


def cuda_index_url(driver_cuda: str) -> str:
    """PyTorch's wheel index of the newest CUDA build this driver can run (Windows)."""
    if not driver_cuda:  # no driver seen (e.g. --torch cuda on a machine being prepared): newest build
        major, minor = CUDA_BUILDS[0]
        return f"{PYTORCH}cu{major}{minor}"
    try:
        have = tuple(int(part) for part in driver_cuda.split(".")[:2])
    except ValueError:
        raise SystemExit(f"sisyphus setup: cannot read the driver's CUDA version {driver_cuda!r}; "
                         "pass --torch-index-url (see pytorch.org/get-started)") from None
    for major, minor in CUDA_BUILDS:
        if (major, minor) <= have:
            return f"{PYTORCH}cu{major}{minor}"
    oldest = ".".join(map(str, CUDA_BUILDS[-1]))
    raise SystemExit(f"sisyphus setup: the NVIDIA driver supports CUDA {driver_cuda}, but torch needs CUDA "
                     f"{oldest} or newer: update the NVIDIA driver, or use `--torch cpu` (slow) or --profile cpu")


@cache
def unreachable(url: str, timeout: float = CHECK_TIMEOUT_S) -> str:
    """Why the index at ``url`` cannot serve torch ('' when it answers); asked once per process."""
    if not url.startswith(("http://", "https://")):
        return ""  # file:// and paths: pip reads them itself
    probe = url.rstrip("/") + "/torch/"
    try:
        with urllib.request.urlopen(urllib.request.Request(probe, method="HEAD"), timeout=timeout):
            return ""
    except urllib.error.HTTPError as exc:
        return "" if exc.code in (403, 405) else f"HTTP {exc.code} for {probe}"  # a server that answers HEAD oddly
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


def resolve(torch: str, explicit: str | None = None, platform: str = sys.platform, driver_cuda: str = "",
            check=unreachable) -> Choice:
    """``choose``, then ask the index once; one that does not answer is skipped, with a note saying so."""
    url = choose(torch, explicit, platform, driver_cuda)
    if url is None:
        return Choice(None)
    why = check(url)
    if not why:
        return Choice(url)
    return Choice(None, f"the torch index {url} cannot be reached ({why}): installing torch from pip's own "
                        f"index instead (set {ENV} or --torch-index-url to a reachable one)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the index torch is installed from ('pypi': pip's own).")
    parser.add_argument("--torch", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args(argv)
    choice = resolve(args.torch)
    if choice.note:
        print(choice.note, file=sys.stderr)
    print(choice.url or PYPI)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
