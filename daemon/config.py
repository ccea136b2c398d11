"""Read, validate and atomically update the one TOML settings file.

Validation happens once, at start-up (and on reload): every problem names the
file, the key (or line) and what is allowed. The user's file is never
overwritten by defaults; ``write_settings`` edits single keys in place so the
user's comments and other keys survive, and replaces the file atomically.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Mapping

import tomli_w

from .settings import Settings, section_class

SECRET_ENV = ("LLM_API_KEY", "OPENAI_API_KEY")


class ConfigError(Exception):
    """A config file that can't be used; ``problems`` lists each bad key."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def load(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``path`` (defaults when it does not exist) plus environment secrets."""
    env = os.environ if env is None else env
    table = read_table(path)
    settings = from_table(table, path)
    return apply_env(settings, table, env)


def read_table(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read the file: {exc}"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"TOML syntax error: {exc}; fix that line (see `sisyphus config check`)"]) from None


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
                                              "list": list, "dict": dict}


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
    return ""


def _describe(kind: str) -> str:
    return {"str": "a string", "bool": "true or false", "int": "an integer", "float": "a number",
            "list": "a list of strings", "dict": "a table"}[kind]


def apply_env(settings: Settings, table: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Secrets from the environment: LLM_API_KEY beats the file, which beats OPENAI_API_KEY;
    OPENAI_BASE_URL applies when the file names no base_url."""
    llm = settings.llm
    file_llm = table.get("llm", {})
    key = env.get("LLM_API_KEY") or llm.api_key or env.get("OPENAI_API_KEY", "")
    base_url = llm.base_url if "base_url" in file_llm else env.get("OPENAI_BASE_URL") or llm.base_url
    return dataclasses.replace(settings, llm=dataclasses.replace(llm, api_key=key, base_url=base_url))


# -- writing -------------------------------------------------------------------

def write_settings(path: Path, updates: Mapping[str, Mapping[str, Any]], template: str = "") -> Settings:
    """Set ``updates`` ({section: {key: value}}) in the file at ``path``, atomically.

    Keys are edited in place so comments and other keys survive; a missing file
    starts from ``template`` (the documented defaults). The result is validated
    before it replaces the file: a bad update raises ConfigError and changes nothing.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = template
    for section, values in updates.items():
        for key, value in values.items():
            text = set_key(text, section, key, value)
    table = tomllib.loads(text)
    settings = from_table(table, path)
    for section, values in updates.items():
        for key, value in values.items():
            if table.get(section, {}).get(key) != value:
                raise ConfigError(path, [f"could not set [{section}] {key}: the file's layout is unusual"])
    atomic_write(path, text)
    return settings


_HEADER = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")


def set_key(text: str, section: str, key: str, value: Any) -> str:
    """Return ``text`` with ``key = value`` in ``[section]``, replaced or added."""
    line = f"{key} = {_toml_value(value)}"
    lines = text.splitlines()
    start, end = _section_bounds(lines, section)
    if start is None:
        return text.rstrip("\n") + ("\n\n" if text.strip() else "") + f"[{section}]\n{line}\n"
    live = re.compile(rf"^\s*{re.escape(key)}\s*=")
    commented = re.compile(rf"^\s*#\s*{re.escape(key)}\s*=")
    anchor = start
    for i in range(start + 1, end):
        if live.match(lines[i]):
            lines[i] = line
            return "\n".join(lines) + "\n"
        if commented.match(lines[i]) or (lines[i].strip() and not lines[i].lstrip().startswith("#")):
            anchor = i if commented.match(lines[i]) or anchor == start else anchor
    lines.insert(anchor + 1, line)
    return "\n".join(lines) + "\n"


def _section_bounds(lines: list[str], section: str) -> tuple[int | None, int]:
    start = None
    for i, raw in enumerate(lines):
        match = _HEADER.match(raw)
        if match and start is not None:
            return start, i
        if match and match.group(1).strip() == section:
            start = i
    return start, len(lines)


def _toml_value(value: Any) -> str:
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def atomic_write(path: Path, text: str) -> None:
    """Write to a temp file in the same directory, fsync, then rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_text() -> str:
    """The documented default config shipped in assets/."""
    from .paths import asset

    return asset("config.toml").read_text(encoding="utf-8")
