"""What the tray shows, as one immutable value, and the pure reducer that updates it.

The tray holds no logic: the composition root feeds every bus event through ``reduce``
and hands the resulting view to a backend. Events are read by duck typing on
``event.kind`` so this module depends on no event class; unknown kinds, and events
missing a field, leave the view unchanged (a newer daemon may publish more).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from daemon.config import schema

from .icons import Health

APP_TITLE = "Sisyphus"
REPLY_CHARS = 80  # the tooltip shows only the start of the reply
TOOLTIP_CHARS = 120  # some trays truncate or reject long tooltips

# Error codes a user must act on: they raise a desktop notification, not only a badge.
ACTIONABLE_CODES = frozenset({
    "llm_auth", "llm_key_rejected", "llm_unauthorized", "model_not_found", "audio_device",
    "mic_missing", "input_device_missing", "output_device_missing", "engine_failed",
})
# The settings the tray shows (the schema's ``tray`` ones); others (the LLM key among them) never enter the view.
TRAY_SETTINGS = frozenset(f"{section}.{key}" for section, key in schema.TRAY_SETTINGS)
_STATE_LABELS = {"idle": "Idle", "listening": "Listening…", "thinking": "Thinking…", "speaking": "Speaking…"}
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_DOWN = ("failed", "backoff")  # MCP server states the tooltip names
_TOOL_NOTES = {"started": "running {name}", "slow": "running {name}", "asked": "waiting for a yes to {name}"}


@dataclass(frozen=True)
class Notice:
    """A notification to show once; ``serial`` grows so backends can tell new from old."""

    serial: int
    title: str
    text: str


@dataclass(frozen=True)
class TrayView:
    state: str = "idle"
    level: float = 0.0  # input level 0..1 while listening
    engines: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # engine name -> EngineState value
    transcript: str = ""  # the last thing the user said
    transcript_turn: int = 0
    reply: str = ""  # the start of the last reply
    reply_turn: int = 0
    voices: tuple = ()  # as published by VoicesChanged; menu.voice_entries() normalises
    settings: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)  # "section.key" -> value
    failure: str = ""  # what failed and what to do; empty when all is well
    failure_code: str = ""
    notice: Notice | None = None
    tool: str = ""  # what a tool call is doing now ("running weather"), '' when none runs
    tool_servers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)  # MCP server name -> its state

    @property
    def health(self) -> Health:
        """The badge: the worst engine state wins."""
        states = set(self.engines.values())
        if "failed" in states:
            return Health.FAILED
        if states & {"unhealthy", "backoff", "unloaded"}:
            return Health.DEGRADED
        if states & {"stopped", "starting"}:
            return Health.LOADING
        return Health.OK

    @property
    def voice(self) -> str:
        return str(self.settings.get("tts.voice", ""))

    @property
    def title(self) -> str:
        """The tooltip: state, then the failure or the last exchange."""
        head = f"{APP_TITLE}: {_STATE_LABELS.get(self.state, self.state)}"
        if self.health is not Health.OK:
            head += f" (engines {self.health.value})"
        if self.tool:
            head += f" ({self.tool})"
        lines = [head]
        lines += [f"Tools {name}: {state}" for name, state in self.tool_servers.items() if state in _DOWN]
        if self.failure:
            lines.append(self.failure)
        else:
            lines += [f"You: {self.transcript}"] if self.transcript else []
            lines += [f"Reply: {self.reply}"] if self.reply else []
        return _clip("\n".join(lines), TOOLTIP_CHARS)


def initial_view(settings: Any) -> TrayView:
    """The view at start-up: the tray's settings taken from the daemon's ``Settings``
    (frozen dataclasses per section) or from a ``{section: {key: value}}`` mapping."""
    table = dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) and not isinstance(settings, type) else settings
    flat = {f"{section}.{key}": value for section, values in table.items() if isinstance(values, Mapping)
            for key, value in values.items() if f"{section}.{key}" in TRAY_SETTINGS}
    return TrayView(settings=MappingProxyType(flat))


def reduce(view: TrayView, event: Any) -> TrayView:
    """The view after ``event``; the same object when the event changes nothing shown."""
    handler = _HANDLERS.get(str(getattr(event, "kind", "")))
    if handler is None:
        return view
    try:
        return handler(view, event)
    except (AttributeError, TypeError, ValueError):  # a known kind with missing or odd fields
        return view


def _on_state(view: TrayView, event: Any) -> TrayView:
    state = str(getattr(event.state, "value", event.state))
    level = view.level if state == "listening" else 0.0
    changes: dict[str, Any] = {"state": state, "level": level}
    if state == "speaking" and view.failure_code != "engine_failed":
        changes.update(failure="", failure_code="")  # a spoken reply proves the path works again
    return _replace(view, **changes)


def _on_engine(view: TrayView, event: Any) -> TrayView:
    state = str(getattr(event.state, "value", event.state))
    engines = MappingProxyType({**view.engines, event.name: state})
    if state == "failed":
        reason = f": {event.reason}" if getattr(event, "reason", "") else ""
        text = f"The {event.name} engine failed{reason}. Choose 'Restart engines' in the tray menu, or see the log."
        return _fail(_replace(view, engines=engines), "engine_failed", text)
    view = _replace(view, engines=engines)
    if view.failure_code == "engine_failed" and view.health is not Health.FAILED:
        return _replace(view, failure="", failure_code="")
    return view


def _on_error(view: TrayView, event: Any) -> TrayView:
    return _fail(view, str(event.code), str(event.text))


def _on_transcript(view: TrayView, event: Any) -> TrayView:
    turn = int(event.turn)
    reply = view.reply if turn == view.reply_turn else ""
    return _replace(view, transcript=str(event.text), transcript_turn=turn, reply=reply)


def _on_reply(view: TrayView, event: Any) -> TrayView:
    turn = int(event.turn)
    start = view.reply if turn == view.reply_turn else ""
    if len(start) >= REPLY_CHARS:
        return view
    return _replace(view, reply=_clip(start + str(event.text), REPLY_CHARS), reply_turn=turn)


def _on_level(view: TrayView, event: Any) -> TrayView:
    if view.state != "listening":
        return view
    return _replace(view, level=min(1.0, max(0.0, float(event.level))))


def _on_voices(view: TrayView, event: Any) -> TrayView:
    return _replace(view, voices=tuple(event.voices))


def _on_settings(view: TrayView, event: Any) -> TrayView:
    key = f"{event.section}.{event.key}"
    if key not in TRAY_SETTINGS:
        return view
    return _replace(view, settings=MappingProxyType({**view.settings, key: event.value}))


def _on_notice(view: TrayView, event: Any) -> TrayView:
    serial = view.notice.serial + 1 if view.notice else 1
    return _replace(view, notice=Notice(serial, str(event.title), str(event.text)))


def _on_tool(view: TrayView, event: Any) -> TrayView:
    note = _TOOL_NOTES.get(str(event.state), "")
    return _replace(view, tool=note.format(name=str(event.name).replace("_", " ")))


def _on_tool_server(view: TrayView, event: Any) -> TrayView:
    return _replace(view, tool_servers=MappingProxyType({**view.tool_servers, str(event.name): str(event.state)}))


_HANDLERS: dict[str, Callable[[TrayView, Any], TrayView]] = {
    "notice": _on_notice, "state": _on_state, "engine": _on_engine, "error": _on_error, "transcript": _on_transcript,
    "reply": _on_reply, "level": _on_level, "voices": _on_voices, "settings": _on_settings,
    "tool": _on_tool, "tool_server": _on_tool_server,
}


def _fail(view: TrayView, code: str, text: str) -> TrayView:
    notice = view.notice
    if code in ACTIONABLE_CODES and (code, text) != (view.failure_code, view.failure):
        serial = notice.serial + 1 if notice else 1
        notice = Notice(serial, f"{APP_TITLE}: action needed", text)
    return _replace(view, failure=text, failure_code=code, notice=notice)


def _replace(view: TrayView, **changes: Any) -> TrayView:
    """dataclasses.replace, but returns ``view`` itself when nothing differs (cheap dedup)."""
    if all(getattr(view, k) == v for k, v in changes.items()):
        return view
    return dataclasses.replace(view, **changes)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
