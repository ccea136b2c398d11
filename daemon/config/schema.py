"""The settings schema: one frozen dataclass per TOML section, with documented limits, and
the validation that turns a TOML table into ``Settings`` (every problem named, all at once).

``store.py`` reads and writes the file; every part of the daemon receives only its own section.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from daemon.audio.devices import SYSTEM_DEFAULT


def opt(default: Any, doc: str = "", *, choices: tuple = (), min: float | None = None, max: float | None = None,
        check: Callable[[Any], str] | None = None, tray: bool = False, live: bool = False):
    """A setting: its default, what it means, and what is allowed (``check`` returns '' or the problem).

    ``tray``: the tray menu shows it (its value is published as SettingsChanged at start and on change);
    ``live``: a change made in the file while sisyphus runs applies at once (else it needs a restart).
    """
    meta = {"doc": doc, "choices": choices, "min": min, "max": max, "check": check, "tray": tray, "live": live}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _chord(text: str) -> str:
    from .chord import ChordError, parse_chord

    try:
        parse_chord(text)
    except ChordError as exc:
        return str(exc)
    return ""


def _engine_uri(uri: str) -> str:
    """A remote engine's URI: the rules the engine server itself applies, less stdio (a client cannot dial it)."""
    from engines.protocol.transport import check_uri

    if not uri:
        return ""
    from daemon.speech.openai_audio.options import check_http_uri, is_http

    if is_http(uri):  # an OpenAI-compatible speech server
        return check_http_uri(uri)
    try:
        check_uri(uri, allow_network=True)
    except ValueError as exc:
        return f"{exc}; expected tcp://HOST:PORT, unix:///path, http(s)://HOST:PORT/v1 (or empty: sisyphus runs the engine)"
    if uri.startswith("stdio:"):
        return "expected tcp://HOST:PORT, unix:///path, http(s)://HOST:PORT/v1 (or empty: sisyphus runs the engine)"
    return ""


def _mcp_servers(entries: list) -> str:
    from daemon.config.mcp_servers import check

    return check(entries)


def _command(argv: list) -> str:
    return "" if not argv or argv[0] else "the first item must name the program to run"


@dataclass(frozen=True)
class DaemonSettings:
    profile: str = opt("auto", "which engines run", choices=("auto", "gpu", "cpu", "fake"))
    autostart: bool = opt(False, "start at login", tray=True, live=True)
    log_level: str = opt("info", "log verbosity", choices=("debug", "info", "warning", "error"))


@dataclass(frozen=True)
class LlmSettings:
    base_url: str = opt("http://127.0.0.1:11434/v1", "OpenAI-compatible endpoint (Ollama's by default)", live=True)
    model: str = opt("llama3.2", "model name sent to the endpoint", live=True)
    api_key: str = opt("", "prefer the LLM_API_KEY / OPENAI_API_KEY environment variables", live=True)
    system_prompt: str = opt(
        "You are sisyphus, a concise voice assistant. Answer in a few short spoken sentences, without markdown.",
        "the system prompt", live=True,
    )
    history_turns: int = opt(10, "turns of conversation kept", min=0, max=200, live=True)
    history_idle_reset_s: float = opt(300.0, "forget the conversation after this many idle seconds", min=0,
                                      live=True)
    timeout_s: float = opt(30.0, "seconds to wait for the first token", min=1, max=600, live=True)
    max_reply_chars: int = opt(4000, "a longer reply is cut here, saying so (about 4 minutes of speech)",
                               min=100, max=1_000_000, live=True)
    max_retries: int = opt(2, "retries before the first token", min=0, max=10, live=True)
    extra: dict = opt({}, "extra request parameters, e.g. reasoning_effort = \"low\"", live=True)
    backend: str = opt("auto", "auto: the server at base_url when it answers at start, else the embedded engine; "
                       "external: always base_url; embedded: always the embedded llama.cpp engine",
                       choices=("auto", "external", "embedded"))
    embedded_model: str = opt("", "the embedded engine's GGUF: a file path, or owner/repo/file.gguf pulled with "
                              "`sisyphus models pull llm` (empty: [llm] model when it names a .gguf, else "
                              "SmolLM2-135M, a tiny test model that gets facts wrong)")
    gpu_layers: int = opt(-1, "embedded engine: layers offloaded to the GPU where llama.cpp has CUDA (-1 all, 0 none)",
                          min=-1)
    context_tokens: int = opt(4096, "embedded engine: context window in tokens", min=256, max=1_048_576)
    embedded_ready_timeout_s: float = opt(120.0, "seconds the embedded engine may take to load its model", min=1)
    embedded_idle_unload_min: float = opt(0.0, "unload the embedded engine after this many idle minutes (0: never)",
                                          min=0)


@dataclass(frozen=True)
class EngineSettings:
    uri: str = opt("", "empty: sisyphus runs the engine; tcp://host:port: use a running (remote) engine; "
                   "http(s)://host:port/v1: an OpenAI-compatible speech server", check=_engine_uri)
    command: list = opt([], "run this Wyoming server instead of ours; {uri} is replaced by its URI", check=_command)
    model: str = opt("", "model path or hub id (engine default when empty); with an http(s) uri the model name sent")
    api_key: str = opt("", "with an http(s) uri: the server's key; prefer SISYPHUS_ASR_API_KEY / SISYPHUS_TTS_API_KEY")
    request_timeout_s: float = opt(15.0, "with an http(s) uri: seconds a request may wait for the server's answer "
                                   "(or its next bytes) before the turn fails", min=0.5, max=600)
    device: str = opt("auto", "where the model runs", choices=("auto", "cuda", "cpu"))
    dtype: str = opt("auto", "model precision", choices=("auto", "bfloat16", "float16", "float32"))
    ready_timeout_s: float = opt(300.0, "seconds a starting engine may take to answer describe", min=1)
    idle_unload_min: float = opt(0.0, "unload after this many idle minutes (0: never)", min=0)


@dataclass(frozen=True)
class AsrSettings(EngineSettings):
    language: str = opt("", "language hint (empty: detect)", live=True)


@dataclass(frozen=True)
class TtsSettings(EngineSettings):
    voice: str = opt("", "preset speaker or cloned voice (empty: the engine's first)", tray=True, live=True)
    base_model: str = opt("", "Qwen3-TTS Base model for cloned voices (path or hub id)")
    language: str = opt("", "the language replies are spoken in: a code (en, de) or a name (English); "
                        "empty: the engine tells from the text", live=True)


@dataclass(frozen=True)
class AudioSettings:
    input_device: str = opt(SYSTEM_DEFAULT, "microphone by name; default follows the system", tray=True, live=True)
    output_device: str = opt(SYSTEM_DEFAULT, "speaker by name; default follows the system", tray=True, live=True)
    earcons: bool = opt(True, "short sounds when listening starts and stops")
    preroll_ms: int = opt(300, "audio kept from before the key went down", min=0, max=2000)
    min_press_ms: int = opt(250, "shorter presses are ignored", min=0, max=5000, live=True)


@dataclass(frozen=True)
class HotkeySettings:
    backend: str = opt("auto", "auto, pynput or dummy (control socket only)", choices=("auto", "pynput", "dummy"))
    chord: str = opt("<ctrl>+<alt>+space", "the push-to-talk chord", check=_chord, tray=True)
    mode: str = opt("ptt", "ptt: hold to talk; toggle: press to start and stop", choices=("ptt", "toggle"),
                    tray=True, live=True)


@dataclass(frozen=True)
class TraySettings:
    backend: str = opt("auto", "auto, pystray or dummy", choices=("auto", "pystray", "dummy"))
    theme: str = opt("auto", "icon variant for the panel", choices=("auto", "light", "dark"), tray=True, live=True)


@dataclass(frozen=True)
class SupervisorSettings:
    backoff_initial_s: float = opt(0.5, "first restart delay", min=0.01, max=60)
    backoff_max_s: float = opt(8.0, "longest restart delay", min=0.01, max=600)
    max_quick_failures: int = opt(5, "give up after this many failures in a row", min=1, max=100)
    quick_failure_s: float = opt(30.0, "a run shorter than this counts as a quick failure", min=0)
    stop_timeout_s: float = opt(5.0, "seconds between terminate and kill", min=0.1, max=120)
    health_interval_s: float = opt(10.0, "describe probe period for remote engines", min=0.5)
    probe_timeout_s: float = opt(5.0, "seconds a describe probe may take", min=0.1)


@dataclass(frozen=True)
class VramSettings:
    enabled: bool = opt(True, "watch GPU memory (needs an NVIDIA driver)")
    min_free_mb: int = opt(1024, "unload an engine when free VRAM falls below this", min=0)
    recover_free_mb: int = opt(3072, "reload when free VRAM is back above this", min=0)
    poll_s: float = opt(2.0, "seconds between readings", min=0.2)


@dataclass(frozen=True)
class ToolsSettings:
    mcp: list[dict] = opt([], "MCP servers, one [[tools.mcp]] table each (name, command or url, env, headers); "
                          "see the README", check=_mcp_servers)
    allow: list = opt([], "tools that run without asking, by name (read-only tools never ask)")
    max_rounds: int = opt(5, "tool calls in a row the LLM may make in one turn", min=1, max=50)
    timeout_s: float = opt(30.0, "seconds one tool call may take", min=0.5, max=3600)
    max_result_chars: int = opt(4000, "a tool's result is cut to this length before the LLM reads it",
                                min=100, max=1_000_000)
    cue_after_s: float = opt(0.7, "a tool still running after this long gets a cue", min=0, max=60)
    cue: str = opt("earcon", "the cue: a short sound, a spoken 'One moment.', or nothing",
                   choices=("earcon", "speech", "none"))
    health_interval_s: float = opt(10.0, "seconds between checks that a server still answers", min=0.5)


@dataclass(frozen=True)
class Settings:
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    llm: LlmSettings = field(default_factory=LlmSettings)
    asr: AsrSettings = field(default_factory=AsrSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    hotkey: HotkeySettings = field(default_factory=HotkeySettings)
    tray: TraySettings = field(default_factory=TraySettings)
    supervisor: SupervisorSettings = field(default_factory=SupervisorSettings)
    vram: VramSettings = field(default_factory=VramSettings)
    tools: ToolsSettings = field(default_factory=ToolsSettings)


# -- validation -------------------------------------------------------------------

class ConfigError(Exception):
    """A config file that can't be used; ``problems`` lists each bad key."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def from_table(table: Mapping[str, Any], path: Path) -> Settings:
    problems: list[str] = []
    sections: dict[str, Any] = {}
    known = {f.name: f for f in dataclasses.fields(Settings)}
    for name, value in table.items():
        if name not in known:
            problems.append(f"unknown section [{name}]; known sections: {', '.join(known)}")
        elif not isinstance(value, dict):
            problems.append(f"[{name}] must be a table (a [{name}] header), not {type(value).__name__}")
        else:
            sections[name] = _section(section_class(known[name]), name, value, problems)
    if problems:
        raise ConfigError(path, problems)
    return Settings(**sections)


def _section(cls: type, name: str, values: Mapping[str, Any], problems: list[str]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            problems.append(f"unknown key [{name}] {key}; known keys: {', '.join(fields)}")
            continue
        problem = _check(fields[key], value)
        if problem:
            problems.append(f"[{name}] {key} = {value!r}: {problem}")
        else:
            kwargs[key] = float(value) if fields[key].type == "float" else value
    return cls(**kwargs)


_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "bool": bool, "int": int, "float": (int, float),
                                              "list": list, "dict": dict, "list[dict]": list}


def _check(f: dataclasses.Field, value: Any) -> str:
    kind, meta = str(f.type), f.metadata  # annotations are strings here (from __future__ import annotations)
    expected = _TYPES[kind]
    if not isinstance(value, expected) or (kind in ("int", "float") and isinstance(value, bool)):
        return f"expected {_describe(kind)} ({meta['doc']})"
    if meta["choices"] and value not in meta["choices"]:
        return f"allowed values: {', '.join(map(repr, meta['choices']))}"
    if meta["min"] is not None and value < meta["min"]:
        return f"must be at least {meta['min']}"
    if meta["max"] is not None and value > meta["max"]:
        return f"must be at most {meta['max']}"
    if kind == "list" and isinstance(value, list) and not all(isinstance(v, str) for v in value):
        return "expected a list of strings"
    return meta["check"](value) if meta["check"] else ""


def _describe(kind: str) -> str:
    return {"str": "a string", "bool": "true or false", "int": "an integer", "float": "a number",
            "list": "a list of strings", "dict": "a table", "list[dict]": "a list of tables"}[kind]


def render_defaults() -> str:
    """The documented default file (assets/config.toml is this text; a test keeps them equal)."""
    import tomli_w

    lines = [
        "# sisyphus settings. Every key is shown with its default, commented out:",
        "# uncomment and change what you need. `sisyphus config check` validates this file.",
        "# Secrets: LLM_API_KEY (or OPENAI_API_KEY) in the environment beats api_key here.",
    ]
    for section in dataclasses.fields(Settings):
        lines += ["", f"[{section.name}]"]
        for f in dataclasses.fields(section_class(section)):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            allowed = f" ({', '.join(f.metadata['choices'])})" if f.metadata["choices"] else ""
            lines.append(f"# {f.metadata['doc']}{allowed}")
            value = tomli_w.dumps({"v": default}).split("=", 1)[1].strip() if default != {} else "{}"
            lines.append(f"# {f.name} = {value}")
    return "\n".join(lines) + "\n"


def section_class(section: dataclasses.Field) -> type:
    """The settings class of one ``Settings`` field (each section's default_factory is its class)."""
    factory = section.default_factory
    if not isinstance(factory, type):
        raise TypeError(f"Settings.{section.name} must have its section class as default_factory")
    return factory


def flagged(flag: str) -> tuple[tuple[str, str], ...]:
    """(section, key) of every setting whose ``opt`` sets ``flag`` (``tray`` or ``live``), in file order."""
    return tuple((section.name, f.name) for section in dataclasses.fields(Settings)
                 for f in dataclasses.fields(section_class(section)) if f.metadata[flag])


TRAY_SETTINGS = flagged("tray")  # what the tray menu shows
LIVE_SETTINGS = flagged("live")  # what a reload applies without a restart
