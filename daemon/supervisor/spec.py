"""Engine specs: what to run (or where to connect) for each engine, from settings and profile."""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from daemon.config.schema import EngineSettings, Settings
from daemon.speech.openai_audio import HttpOptions, is_http
from engines.protocol.transport import local_uri


@dataclass(frozen=True)
class EngineSpec:
    name: str
    uri: str
    argv: tuple[str, ...] = ()  # empty: a remote engine we only connect to
    env: dict = field(default_factory=dict)
    ready_timeout_s: float = 300.0
    setup: str = ""  # the command that installs argv[0] when it is missing (our own engines)
    http: HttpOptions | None = None  # an OpenAI-compatible speech server at an http(s) uri: model, key

    @property
    def remote(self) -> bool:
        return not self.argv


def engine_uri(name: str, runtime_dir: Path) -> str:
    """A unix socket in the runtime dir; loopback TCP on a free port on Windows."""
    return local_uri(name, runtime_dir)


def fake_spec(name: str, kind: str, uri: str, extra: tuple[str, ...] = (), timeout: float = 30.0) -> EngineSpec:
    argv = (sys.executable, "-m", "engines.fake", kind, "--uri", uri, "--parent-pid", str(os.getpid()), *extra)
    return EngineSpec(name, uri, argv, ready_timeout_s=timeout)


def from_settings(name: str, engine: EngineSettings, uri: str, default_argv: tuple[str, ...],
                  setup: str = "") -> EngineSpec:
    """A remote ``uri`` in the settings wins; then a custom ``command``; then our own engine."""
    if engine.uri:  # its form was checked when the settings were loaded
        http = (HttpOptions.from_settings(name, engine.model, engine.api_key, engine.request_timeout_s)
                if is_http(engine.uri) else None)
        return EngineSpec(name, engine.uri, (), ready_timeout_s=engine.ready_timeout_s, http=http)
    if engine.command:
        argv = tuple(part.replace("{uri}", uri) for part in engine.command)
        if not shutil.which(argv[0]):
            raise ValueError(f"[{name}] command: {argv[0]!r} is not a program that can be run (not found, or not "
                             "executable); fix the command, or remove it to run sisyphus' own engine")
        return EngineSpec(name, uri, argv, ready_timeout_s=engine.ready_timeout_s)
    return EngineSpec(name, uri, default_argv, ready_timeout_s=engine.ready_timeout_s, setup=setup)


def fake_specs(settings: Settings, runtime_dir: Path) -> dict[str, EngineSpec]:
    asr_uri, tts_uri = engine_uri("asr", runtime_dir), engine_uri("tts", runtime_dir)
    return {
        "asr": from_settings("asr", settings.asr, asr_uri, fake_spec("asr", "asr", asr_uri).argv),
        "tts": from_settings("tts", settings.tts, tts_uri, fake_spec("tts", "tts", tts_uri).argv),
    }
