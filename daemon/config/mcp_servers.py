"""The ``[[tools.mcp]]`` entries: one MCP server each, checked once and turned into frozen values.

A server is either a program started as a subprocess and spoken to over stdio::

    [[tools.mcp]]
    name = "notes"
    command = ["python", "-m", "notes_server"]
    env = { NOTES_DIR = "~/notes" }

or a running server reached over Streamable HTTP, its secrets taken from the environment::

    [[tools.mcp]]
    name = "home"
    url = "http://homeassistant.local:8123/mcp_server/sse"
    headers = { Authorization = "Bearer ${HA_TOKEN}" }

``${VAR}`` in ``env`` and ``headers`` values is replaced from the daemon's environment when the
server is started (so tokens stay out of the settings file); a variable that is not set is that
server's failure, named in ``status``. Pure: no I/O, no ``mcp`` import.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

KEYS = {"name": "a short name (letters, digits, - and _)", "command": "the program and its arguments (stdio)",
        "url": "http(s):// address of a Streamable HTTP server", "env": "environment of the program (a table)",
        "headers": "HTTP headers (a table; ${VAR} takes a value from the environment)",
        "cwd": "working directory of the program", "allow": "tools of this server that run without asking"}
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ServerConfig:
    name: str
    command: tuple[str, ...] = ()
    url: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    cwd: str = ""
    allow: tuple[str, ...] = ()

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    @property
    def where(self) -> str:
        """What status shows: the URL, or the program (never the environment or headers: secrets)."""
        return self.url or " ".join(self.command)


class MissingVariable(ValueError):
    pass


def expand(values: Mapping[str, str], environ: Mapping[str, str], what: str) -> dict[str, str]:
    """``values`` with every ``${VAR}`` taken from ``environ``; MissingVariable names the one not set."""
    def one(key: str, value: str) -> str:
        def sub(match: re.Match) -> str:
            if match.group(1) not in environ:
                raise MissingVariable(f"{what} {key} needs the environment variable {match.group(1)}, which is "
                                      "not set; set it where sisyphus starts (or in the settings)")
            return environ[match.group(1)]
        return _VAR.sub(sub, value)
    return {key: one(key, value) for key, value in values.items()}


def parse_servers(raw: Any) -> tuple[list[ServerConfig], list[str]]:
    """The servers of ``[[tools.mcp]]`` and every problem found (each names the entry and the key)."""
    if not isinstance(raw, list):
        return [], ["expected [[tools.mcp]] entries (a list of tables)"]
    servers, problems, names = [], [], set()
    for n, entry in enumerate(raw, 1):
        where = f"[[tools.mcp]] entry {n}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a table, got {type(entry).__name__}")
            continue
        found = _entry(entry, where, problems)
        if found is None:
            continue
        if found.name in names:
            problems.append(f"{where}: the name {found.name!r} is used twice; give each server its own name")
            continue
        names.add(found.name)
        servers.append(found)
    return servers, problems


def _entry(entry: dict, where: str, problems: list[str]) -> ServerConfig | None:
    before = len(problems)
    for key in entry:
        if key not in KEYS:
            problems.append(f"{where}: unknown key {key!r}; known keys: {', '.join(KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{where}: name = {name!r}: expected {KEYS['name']}, at most 32 characters")
    else:
        where = f"[[tools.mcp]] {name!r}"
    command, url = entry.get("command", []), entry.get("url", "")
    if bool(command) == bool(url):
        problems.append(f"{where}: give either command = [\"program\", \"arg\", ...] (stdio) or "
                        "url = \"http://...\" (Streamable HTTP), not both and not neither")
    if command and (not isinstance(command, list) or not all(isinstance(a, str) for a in command)
                    or not command[0]):
        problems.append(f"{where}: command = {command!r}: expected a list of strings, the program first")
    if url and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        problems.append(f"{where}: url = {url!r}: expected an http:// or https:// address")
    for key in ("env", "headers"):
        table = entry.get(key, {})
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            problems.append(f"{where}: {key} must be a table of strings, e.g. {key} = {{ NAME = \"value\" }}")
    if url and entry.get("env") or command and entry.get("headers"):
        problems.append(f"{where}: env goes with command, headers with url")
    for key, kind in (("cwd", str), ("allow", list)):
        if key in entry and not isinstance(entry[key], kind):
            problems.append(f"{where}: {key} = {entry[key]!r}: expected {KEYS[key]}")
    if len(problems) > before:
        return None
    return ServerConfig(str(name), tuple(command), url, dict(entry.get("env", {})), dict(entry.get("headers", {})),
                        entry.get("cwd", ""), tuple(str(a) for a in entry.get("allow", [])))


def check(raw: Any) -> str:
    """The settings schema's check for ``[tools] mcp``: '' or every problem."""
    return "; ".join(parse_servers(raw)[1])
