"""The daemon's parts meet through typed faces (daemon/assistant/faces.py), and nobody writes another
part's insides: the supervisor alone assigns its engines' ``info``; the composition root builds a frozen
``Parts`` with no missing core part; the microphone and device switching each live in one place."""
from __future__ import annotations

import ast
import asyncio
import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.app.parts import Lifetime, Parts, Status
from daemon.assistant import faces
from daemon.assistant.turn import Assistant, TurnOptions
from daemon.audio.microphone import Microphone
from daemon.commands.audio import AudioDevices
from daemon.config.schema import SupervisorSettings
from daemon.errors import EngineRequestError
from daemon.events import ErrorEvent, EventBus, State, StateChanged
from daemon.llm.history import History
from daemon.llm.sentences import SentenceChunker
from daemon.supervisor.group import Supervisor

REPO = Path(__file__).resolve().parents[2]

# What mypy must accept: every real part fits the face its holders see (a fake would fail the same way).
FITS = '''
from daemon.assistant import faces
from daemon.assistant.turn import Assistant
from daemon.audio.files import FileMic, FileSpeaker
from daemon.audio.microphone import Microphone
from daemon.audio.playback import Playback
from daemon.audio.capture import Capture
from daemon.commands.audio import OpenDevice
from daemon.llm.client import LlmClient
from daemon.llm.embedded import EngineLlm
from daemon.supervisor.group import Supervisor
from daemon.tools.loop import ToolTurns
from daemon.tools.servers import ToolServers
from daemon.vram import manager


def fits(supervisor: Supervisor, assistant: Assistant, microphone: Microphone, playback: Playback,
         file_speaker: FileSpeaker, capture: Capture, client: LlmClient, engine_llm: EngineLlm,
         turns: ToolTurns, servers: ToolServers) -> None:
    engines: faces.Engines = supervisor
    managed: manager.Engines = supervisor
    seen_by_commands: faces.Turns = assistant
    listener: faces.PlaybackListener = assistant
    mic: faces.Microphone = microphone
    speakers: list[faces.Speaker] = [playback, file_speaker]
    devices: list[OpenDevice] = [playback, capture]
    llms: list[faces.Llm] = [client, engine_llm]
    replies: faces.ToolReplies = turns
    tool_servers: faces.ToolServers = servers
'''


def test_the_real_parts_fit_their_faces_as_mypy_sees_them(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is missing: install the test tools with `pip install -e '.[test]'`")
    module = tmp_path / "fits.py"
    module.write_text(FITS)
    run = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
                          "--cache-dir", str(REPO / ".cache" / "mypy" / "seams"), str(module)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "Success" in run.stdout, run.stdout + run.stderr


def members(face: type) -> set[str]:
    return {name for name in vars(face) if not name.startswith("_")}


@pytest.mark.parametrize("face, part", [(faces.Engines, lambda: Supervisor({}, EventBus(), SupervisorSettings())),
                                        (faces.Turns, lambda: assistant(EventBus(), Mic())),
                                        (faces.PlaybackListener, lambda: assistant(EventBus(), Mic())),
                                        (faces.Microphone, lambda: Microphone(Lifetime().spawn))])
async def test_each_part_has_what_its_face_names(face, part):
    assert members(face) and members(face) <= set(dir(part()))


def assignments_to(attribute: str, folder: Path) -> list[str]:
    """``x.<attribute> = ...`` anywhere under ``folder`` (plain, augmented, annotated, unpacked)."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute) and leaf.attr == attribute and isinstance(leaf.ctx, ast.Store):
                        found.append(f"{path.relative_to(REPO)}:{leaf.lineno}")
    return found


def test_only_the_supervisor_assigns_an_engines_info():
    outside = [hit for hit in assignments_to("info", REPO / "daemon") if not hit.startswith("daemon/supervisor/")]
    assert outside == []
    assert assignments_to("info", REPO / "daemon" / "supervisor")  # the scan sees the supervisor's own


def test_nothing_outside_the_assistant_writes_its_llm_or_history():
    hits = [hit for name in ("llm", "history", "system_prompt", "max_turns", "on_cuda_oom", "audio_problem")
            for hit in assignments_to(name, REPO / "daemon") if not hit.startswith("daemon/assistant/")]
    assert [hit for hit in hits if not hit.startswith("daemon/llm/")] == []  # History sets its own fields


def test_parts_is_a_frozen_recipe_with_every_core_part_built():
    assert Parts.__dataclass_params__.frozen and Status.__dataclass_params__.frozen  # type: ignore[attr-defined]
    optional = {f.name for f in dataclasses.fields(Parts) if "None" in str(f.type) or "Optional" in str(f.type)}
    assert optional == {"tools"}  # MCP servers exist only when [[tools.mcp]] names some
    assert {"supervisor", "assistant", "memory", "commands", "llm_choice", "audio"} <= {
        f.name for f in dataclasses.fields(Parts)}


def test_the_composition_root_sets_no_hook_after_building_a_part():
    source = (REPO / "daemon" / "app" / "parts.py").read_text(encoding="utf-8")
    for hook in ("on_cuda_oom =", "audio_problem =", ".tools =", "callbacks", "turn_callbacks"):
        assert hook not in source, hook


# -- the microphone, held by the assistant ----------------------------------------------------------

class Capture:
    def __init__(self) -> None:
        self.edges: list[str] = []

    async def begin(self) -> None:
        self.edges.append("begin")

    async def end(self) -> None:
        self.edges.append("end")


async def test_the_microphone_follows_a_hold_and_hands_blocks_to_its_sink():
    lifetime, device, heard = Lifetime(), Capture(), []
    microphone = Microphone(lifetime.spawn)
    microphone.use_device(device)
    microphone.begin(heard.append)
    microphone.deliver(b"\x01\x00")
    microphone.end()
    await asyncio.sleep(0)
    assert device.edges == ["begin", "end"] and heard == [b"\x01\x00"]
    await lifetime.close()


async def test_a_microphone_that_did_not_open_is_left_alone():
    lifetime, device = Lifetime(), Capture()
    microphone = Microphone(lifetime.spawn, usable=lambda: False)  # the turn says why instead
    microphone.use_device(device)
    microphone.begin(lambda block: None)
    microphone.end()
    await asyncio.sleep(0)
    assert device.edges == []
    await lifetime.close()


class Mic:
    def __init__(self) -> None:
        self.edges: list[str] = []

    def begin(self, sink) -> None:
        self.edges.append("begin")

    def end(self) -> None:
        self.edges.append("end")


class Speaker:
    async def play(self, generation, audio) -> None: ...
    def finish(self, generation) -> None: ...
    def flush(self, generation) -> None: ...


class Llm:
    closed = False

    async def stream(self, messages):
        yield ""

    async def aclose(self) -> None:
        self.closed = True


def assistant(bus: EventBus, mic: Mic, engines=None, **hooks) -> Assistant:
    return Assistant(bus, engines, Llm(), History("be brief"), SentenceChunker, Speaker(), mic,
                     TurnOptions(), **hooks)


async def test_the_assistant_begins_and_ends_the_microphone_with_listening():
    bus, mic = EventBus(), Mic()
    seen: list = []
    bus.subscribe(seen.append)
    turns = assistant(bus, mic, audio_problem=lambda: "no microphone: unplugged")
    turns.press()
    assert mic.edges == ["begin"] and turns.state == State.LISTENING
    turns.release()
    await asyncio.sleep(0.01)
    assert mic.edges == ["begin", "end", "end"]  # ended at each change away from Listening, as before
    assert [e.state for e in seen if isinstance(e, StateChanged)] == [State.LISTENING, State.THINKING, State.IDLE]
    assert [e.code for e in seen if isinstance(e, ErrorEvent)] == ["audio_device"]


async def test_reconfigure_swaps_the_llm_and_history_and_closes_the_old_client():
    turns = assistant(EventBus(), Mic())
    old, new = turns.llm, Llm()
    await turns.reconfigure(new, "be kind", 3)
    assert turns.llm is new and old.closed and not new.closed
    assert (turns.history.system_prompt, turns.history.max_turns) == ("be kind", 3)
    turns.history.add_user("hello", 0.0)
    turns.new_conversation()
    assert turns.history.messages() == [{"role": "system", "content": "be kind"}]


async def test_the_out_of_memory_retry_frees_memory_once_then_tries_again():
    freed: list[str] = []

    async def on_cuda_oom(name: str) -> None:
        freed.append(name)

    turns = assistant(EventBus(), Mic(), on_cuda_oom=on_cuda_oom)
    tries: list[bool] = []

    async def attempt(again: bool) -> str:
        tries.append(again)
        if not again:
            raise EngineRequestError("out of memory", "cuda_oom")
        return "ok"

    assert await turns._oom_retry("asr", attempt) == "ok"
    assert tries == [False, True] and freed == ["asr"]
    with pytest.raises(EngineRequestError):  # something already played: no retry
        await turns._oom_retry("tts", attempt, lambda: False)
    with pytest.raises(EngineRequestError):  # another failure is no reason to retry
        await turns._oom_retry("tts", lambda again: _raise(EngineRequestError("gone", "engine_died")))
    assert freed == ["asr"]


async def _raise(exc: Exception) -> None:
    raise exc


# -- device switching, one way for the commands and a reloaded settings file -------------------------

class Device:
    device_name: str | None = "old"
    device = None
    is_open = False

    async def reopen(self) -> None:
        raise OSError(f"no device named {self.device_name!r}")


async def test_a_device_switch_that_fails_is_an_error_event_with_the_fix_never_an_exception():
    bus = EventBus()
    seen: list = []
    bus.subscribe(seen.append)
    audio = AudioDevices(bus)
    audio.open["input"] = Device()
    await audio.switch("input", "USB Mic")
    assert audio.open["input"].device_name == "USB Mic"
    errors = [e for e in seen if isinstance(e, ErrorEvent)]
    assert [e.code for e in errors] == ["audio_device"] and "'USB Mic'" in errors[0].text
    assert "set-input-device" in errors[0].text  # the fix
    await audio.switch("output", "Speakers")  # nothing open for it: nothing to do
    assert len([e for e in seen if isinstance(e, ErrorEvent)]) == 1


def test_the_commands_switch_devices_through_the_one_switch():
    source = (REPO / "daemon" / "commands" / "actions.py").read_text(encoding="utf-8")
    live = (REPO / "daemon" / "app" / "live.py").read_text(encoding="utf-8")
    assert "self.audio.switch(" in source and "parts.audio.switch(" in live
    assert ".reopen(" not in source and ".reopen(" not in live
