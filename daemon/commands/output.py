"""What the ``sisyphus`` verbs print: aligned text for people, or the reply as JSON (``--json``).

Each formatter takes a reply of the control socket (daemon/commands/actions.py,
daemon/app/parts.py ``status``) or the rows of ``sisyphus models list`` and returns
the lines to print. The formatters are pure: tests/unit/test_cli_output.py compares
them with golden files, and the same replies from a running daemon
(tests/integration/test_cli_output.py).
"""
from __future__ import annotations

import json
from typing import Callable, Iterable, Sequence

from daemon.commands.table import CommandName

SEP = ", "


def as_json(reply: dict) -> str:
    """The reply for scripts: indented, keys in the daemon's order, without the socket's ``ok``."""
    return json.dumps({k: v for k, v in reply.items() if k != "ok"}, indent=2, ensure_ascii=False)


def table(rows: Iterable[Sequence[object]], header: Sequence[str] = (), indent: str = "") -> list[str]:
    """Left-aligned columns two spaces apart; the last column is never padded (no trailing blanks)."""
    cells = [[str(c) for c in row] for row in ([header] if header else []) + [list(r) for r in rows]]
    if not cells:
        return []
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(max(map(len, cells)))]
    return [indent + "  ".join(c.ljust(widths[i]) if i < len(row) - 1 else c for i, c in enumerate(row)).rstrip()
            for row in cells]


def pairs(items: Iterable[tuple[str, object]]) -> list[str]:
    """``name  value`` lines with the values aligned; empty values are left out."""
    return table((k, v) for k, v in items if v not in (None, "", [], {}))


# -- status -----------------------------------------------------------------------------
def status(reply: dict) -> list[str]:
    turn = f" (turn {reply['turn']})" if reply.get("turn") else ""
    lines = [f"sisyphus {reply['version']}{SEP}pid {reply['pid']}{SEP}up {_duration(reply['uptime_s'])}"
             f"{SEP}profile {reply['profile']}{SEP}{reply['state']}{turn}"]
    engines = reply.get("engines") or {}
    if engines:
        lines += [""] + table((_engine_row(name, e) for name, e in engines.items()),
                              ("ENGINE", "STATE", "PROCESS", "DETAIL"))
    tools = reply.get("tools") or {}  # MCP servers ([[tools.mcp]])
    if tools:
        lines += [""] + table(((name, t["state"], f"{t['transport']} {t['where']}", t.get("reason") or "")
                               for name, t in tools.items()), ("TOOL SERVER", "STATE", "WHERE", "DETAIL"))
    audio = reply.get("audio") or {}
    lines += [""] + pairs([("llm", (reply.get("llm") or {}).get("summary")),
                           ("microphone", audio.get("input")), ("speaker", audio.get("output")),
                           ("gpu memory", gpu_memory(reply.get("vram") or {})),
                           ("last turn", _timings(reply.get("last_timings_ms") or {})),
                           ("last error", _last_error(reply.get("last_error"))),
                           ("config", reply.get("config"))])
    return lines


def _engine_row(name: str, engine: dict) -> tuple[str, str, str, str]:
    where = engine["uri"] if engine.get("remote") else (f"pid {engine['pid']}" if engine.get("pid") else "-")
    detail = engine.get("reason") or engine.get("about") or ""
    last = engine.get("last_error") or ""
    if last and last not in detail:
        detail = f"{detail} (last error: {last})" if detail else f"last error: {last}"
    return name, engine["state"], where, detail


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def gpu_memory(vram: dict) -> str:
    """The VRAM monitor's reading in words (``vram`` of the status reply)."""
    if "total_mb" not in vram:
        monitor = str(vram.get("monitor", ""))  # "off (no NVIDIA driver)": the reason is what matters
        return monitor[len("off ("):-1] if monitor.startswith("off (") and monitor.endswith(")") else monitor
    used = ", ".join(f"{name} {_mb(mb)}" for name, mb in (vram.get("engines_mb") or {}).items())
    return f"{_mb(vram['free_mb'])} free of {_mb(vram['total_mb'])}" + (f"{SEP}engines: {used}" if used else "")


def _mb(mb: float) -> str:
    return f"{mb / 1024:.1f} GiB" if mb >= 1024 else f"{mb:.0f} MiB"


def _timings(timings: dict) -> str:
    return SEP.join(f"{name.replace('_', ' ')} {ms:.0f} ms" for name, ms in timings.items()) + (
        " (from key-up)" if timings else "")


def _last_error(error: dict | None) -> str:
    if not error:
        return ""
    return f"{error['code']}: {error['text']} (turn {error['turn']}, {error['at']})"


# -- voices, devices ---------------------------------------------------------------------
def voices(reply: dict) -> list[str]:
    current = reply.get("current") or ""
    rows = [("*" if v["name"] == current else "", v["name"], v.get("description") or "") for v in reply["voices"]]
    lines = table(rows, ("", "VOICE", "DESCRIPTION")) if rows else ["the speech engine offers no voice"]
    if current and current not in {v["name"] for v in reply["voices"]}:
        lines.append(f"the chosen voice {current!r} is not offered: the engine's default voice speaks")
    elif not current:
        lines.append("no voice chosen: the engine's default voice speaks (`sisyphus set-voice NAME`)")
    if reply.get("cloning"):
        lines.append(reply["cloning"])
    return lines


def devices(reply: dict) -> list[str]:
    lines: list[str] = []
    for kind, title in (("input", "INPUT DEVICE"), ("output", "OUTPUT DEVICE")):
        chosen = reply.get(f"{kind}_device") or "default"
        names = list(reply.get(kind) or [])
        rows = [("*" if name == chosen else "", name) for name in names]
        if lines:
            lines.append("")
        lines += table(rows, ("", title)) if rows else [title.lower() + "s: none"]
        if chosen not in names:
            lines.append(f"in use: {chosen}" + (" (the system's default device)" if chosen == "default" else ""))
        if reply.get(f"{kind}_error"):
            lines.append(reply[f"{kind}_error"])
    return lines


# -- models (sisyphus models list) ---------------------------------------------------------
def models(report: dict) -> list[str]:
    """``report``: {"profile", "where", "models": [{"setting", "model", "state", "size_bytes", "path", "fix"}]}."""
    lines = [report["where"]]
    rows = [(m["setting"], m["model"], m["state"], _size(m.get("size_bytes")), m.get("path") or m.get("fix") or "")
            for m in report["models"]]
    if rows:
        lines += table(rows, ("SETTING", "MODEL", "STATE", "SIZE", "WHERE"))
    return lines


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


# -- the other verbs -------------------------------------------------------------------------
def generic(reply: dict) -> list[str]:
    """A command's reply without a formatter: its notice, else its fields as ``name  value`` lines."""
    fields = {k: v for k, v in reply.items() if k != "ok"}
    if "notice" in fields:
        return [str(fields["notice"])]
    return pairs((k.replace("_", " "), ", ".join(map(str, v)) if isinstance(v, list) else v)
                 for k, v in fields.items())


def tools(reply: dict) -> list[str]:
    from daemon.tools.listing import format_servers

    return format_servers(reply["servers"]).splitlines()


FORMATTERS: dict[CommandName, Callable[[dict], list[str]]] = {"status": status, "list-voices": voices,
                                                              "devices": devices, "list-tools": tools}


def human(command: CommandName, reply: dict) -> str:
    """What a person reads for ``command``'s reply (an empty string: nothing to say)."""
    return "\n".join(FORMATTERS.get(command, generic)(reply))
