"""Import rules that keep the layout honest (read from the source, nothing imported).

- the daemon never imports the installer, nor the engines' model code: from engines/ it may
  import only ``engines.protocol``, the contract both sides share;
- nothing imports the composition root (``daemon.app``) but the CLI that runs it;
- the engines never import the daemon; ``engines.protocol`` stays light (stdlib + wyoming; numpy only
  in its audio modules ``pcm`` and ``clips``, which only the venvs that decode audio import);
- no import cycle between modules of the daemon, the engines or the installer, nor between rooms
  (packages and loose modules) anywhere in the house;
- the daemon's floor (``speech`` < ``audio`` < ``config`` < ``platform``, bottom to top) imports nothing
  above it: only the ground modules (``events``, ``errors``, ``tasks``, ``backoff``, ``paths``, ``logs``),
  the floor rooms below it and ``engines.protocol``; the ground imports no room;
- no private name crosses a package: an ``_name`` is neither imported (``from x.y import _z``) nor read
  (``y._z``) from a module of another package; what another package needs is public.
"""
from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, at any depth (in functions too)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def modules(folder: str) -> dict[str, set[str]]:
    return {str(p.relative_to(REPO)): imports(p) for p in sorted((REPO / folder).rglob("*.py"))}


def offenders(folder: str, forbidden) -> list[str]:
    return [f"{path} imports {name}" for path, names in modules(folder).items() for name in sorted(names)
            if forbidden(path, name)]


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_daemon_never_imports_the_installer_or_engine_model_code():
    def forbidden(_path: str, name: str) -> bool:
        return under(name, "installer") or (under(name, "engines") and name != "engines"
                                            and not under(name, "engines.protocol"))

    assert offenders("daemon", forbidden) == []


def test_nothing_imports_the_composition_root_but_the_cli():
    def forbidden(path: str, name: str) -> bool:
        return under(name, "daemon.app") and not path.startswith("daemon/app/") and path != "daemon/cli.py"

    assert offenders("daemon", forbidden) + offenders("engines", forbidden) + offenders("installer", forbidden) == []


def test_the_engines_never_import_the_daemon():
    assert offenders("engines", lambda _path, name: under(name, "daemon")) == []


AUDIO_MODULES = ("engines/protocol/pcm.py", "engines/protocol/clips.py")


def test_the_engine_protocol_is_light():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}

    def forbidden(path: str, name: str) -> bool:
        top = name.split(".")[0]
        if top == "numpy":
            return path not in AUDIO_MODULES
        return top not in stdlib and top != "wyoming" and not under(name, "engines.protocol")

    assert offenders("engines/protocol", forbidden) == []


def test_the_rule_reader_sees_relative_and_nested_imports():
    pkg = REPO / "daemon" / "config" / "store.py"
    assert "daemon.config.schema" in imports(pkg)  # `from .schema import Settings`
    assert "daemon.paths" in imports(pkg)  # imported inside a function


def module_name(path: str) -> str:
    return path[:-3].replace("/", ".").removesuffix(".__init__")


def cycles(folder: str) -> list[list[str]]:
    """Import cycles between modules of ``folder`` (imports inside functions count too)."""
    graph = {module_name(p): names for p, names in modules(folder).items()}
    known = set(graph)
    edges = {m: {n for n in names if n in known and n != m and not m.startswith(n + ".")}
             for m, names in graph.items()}  # a module importing its own package's __init__ is no cycle
    return find_cycles(edges)


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_cycles_in_the_daemon():
    assert cycles("daemon") == []


def test_no_import_cycles_in_the_engines_or_the_installer():
    assert cycles("engines") == []
    assert cycles("installer") == []  # installer.venvs imports installer.fixups, never the other way


# -- rooms: the packages and loose modules of the house, and the daemon's floor ----------------------

GROUND = ("daemon", "daemon.events", "daemon.errors", "daemon.tasks", "daemon.backoff", "daemon.paths", "daemon.logs")
FLOOR = ("daemon.speech", "daemon.audio", "daemon.config", "daemon.platform")  # bottom to top


@functools.cache
def house() -> dict[str, frozenset[str]]:
    """Every module of daemon/, engines/ and installer/ and the modules of the house it imports."""
    graph = {module_name(p): names for top in ("daemon", "engines", "installer") for p, names in modules(top).items()}
    known = set(graph)

    def resolve(name: str) -> str:  # `from daemon import __version__` imports the module `daemon`
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    return {m: frozenset(r for n in names if (r := resolve(n))) for m, names in graph.items()}


def room(module: str) -> str:
    """``daemon.audio.capture`` -> ``daemon.audio``; a loose module (``daemon.events``) is its own room."""
    return ".".join(module.split(".")[:2])


def room_cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    edges: dict[str, set[str]] = {room(m): set() for m in graph}
    for module, names in graph.items():
        edges[room(module)].update(room(n) for n in names if room(n) != room(module) and room(n) in edges)
    return find_cycles(edges)


def floor_offenders(graph: dict[str, frozenset[str]]) -> list[str]:
    wrong = []
    for module, names in graph.items():
        here = room(module)
        if here in FLOOR:
            allowed = set(GROUND) | set(FLOOR[:FLOOR.index(here) + 1])
            wrong += [f"{module} imports {n}" for n in sorted(names) if under(n, "daemon") and room(n) not in allowed]
        elif module in GROUND:
            wrong += [f"{module} imports {n}" for n in sorted(names) if under(n, "daemon") and n not in GROUND]
    return wrong


def test_no_circle_between_rooms():
    assert room_cycles(house()) == []


def test_the_floor_imports_nothing_above_it():
    assert floor_offenders(house()) == []


def test_the_room_rules_see_a_climb_and_a_circle():
    """On a small made-up house (the real one has neither any more): config climbs to platform, as before the
    chord grammar moved below platform/, which closes a circle; the ground imports a room."""
    house_ = {
        "daemon.events": frozenset(),
        "daemon.audio.devices": frozenset({"daemon.events", "engines.protocol.pcm"}),
        "daemon.config.schema": frozenset({"daemon.audio.devices", "daemon.platform.hotkey.chord"}),  # the climb
        "daemon.platform.hotkey": frozenset({"daemon.config.schema", "daemon.platform.hotkey.chord"}),
        "daemon.platform.hotkey.chord": frozenset({"daemon.events"}),
        "daemon.app.run": frozenset({"daemon.platform.hotkey", "daemon.config.schema"}),  # above the floor: free
    }
    assert floor_offenders(house_) == ["daemon.config.schema imports daemon.platform.hotkey.chord"]
    assert room_cycles(house_) == [["daemon.config", "daemon.platform", "daemon.config"]]
    moved = {**house_, "daemon.config.schema": frozenset({"daemon.audio.devices", "daemon.config.chord"}),
             "daemon.config.chord": frozenset()}  # the grammar in config/: no climb, no circle
    assert floor_offenders(moved) == [] and room_cycles(moved) == []
    assert floor_offenders({"daemon.events": frozenset({"daemon.audio.devices"})}) == [
        "daemon.events imports daemon.audio.devices"]


# -- private names stay in their package ----------------------------------------------------------------

def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def package_of(path: str) -> str:
    """``daemon/audio/capture.py`` -> ``daemon.audio``; a package's ``__init__.py`` is its own package."""
    name = module_name(path)
    return name if path.endswith("__init__.py") else name.rpartition(".")[0]


def private_uses(path: str, source: str, packages: set[str], known: set[str]) -> list[str]:
    """The ``_name``s the module at ``path`` takes from modules of another package (``known``: the
    modules of the house, ``packages``: those that are packages)."""
    here = package_of(path)
    bound: dict[str, str] = {}  # a local name -> the module of the house it stands for
    found: list[str] = []

    def foreign(module: str) -> bool:
        return (module if module in packages else module.rpartition(".")[0]) != here

    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                bound[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = path.split("/")[:-1]
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                if f"{base}.{alias.name}" in known:  # `from pkg import module`
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
                elif is_private(alias.name) and base in known and foreign(base):
                    found.append(f"{path}:{node.lineno} imports {base}.{alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            chain, value = [], node.value
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in bound:
                module = ".".join([bound[value.id], *chain])
                if module in known and foreign(module):
                    found.append(f"{path}:{node.lineno} reads {module}.{node.attr}")
    return found


def private_offenders(sources: dict[str, str]) -> list[str]:
    known = {module_name(p) for p in sources}
    packages = {module_name(p) for p in sources if p.endswith("__init__.py")}
    return [use for path, source in sources.items() for use in private_uses(path, source, packages, known)]


def house_sources() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
            for top in ("daemon", "engines", "installer") for p in sorted((REPO / top).rglob("*.py"))}


def test_no_private_name_crosses_a_package():
    assert private_offenders(house_sources()) == []


def test_the_private_rule_sees_imports_and_reads_across_packages():
    sources = {
        "daemon/__init__.py": "",
        "daemon/audio/__init__.py": "_SHARED = 1\n",
        "daemon/audio/devices.py": "_table = {}\ndef _pick(): pass\n",
        "daemon/audio/capture.py": "from .devices import _pick\nfrom . import devices\ndevices._table\n",  # its own
        "daemon/platform/__init__.py": "",
        "daemon/platform/tray.py": (
            "from daemon.audio.devices import _pick\n"
            "from ..audio import _SHARED\n"
            "import daemon.audio.devices as dev\n"
            "from daemon.audio import devices\n"
            "import daemon.audio.devices\n"
            "def f(obj):\n"
            "    return dev._table, devices._pick, daemon.audio.devices._table, obj._private, dev.__name__\n"),
    }
    assert private_offenders(sources) == [
        "daemon/platform/tray.py:1 imports daemon.audio.devices._pick",
        "daemon/platform/tray.py:2 imports daemon.audio._SHARED",
        "daemon/platform/tray.py:7 reads daemon.audio.devices._table",
        "daemon/platform/tray.py:7 reads daemon.audio.devices._pick",
        "daemon/platform/tray.py:7 reads daemon.audio.devices._table",
    ]
