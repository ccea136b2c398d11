"""Real X11 key events (xdotool -> Xvfb -> XRecord -> pynput) drive the hotkey backend."""
from __future__ import annotations

import asyncio
import subprocess

import pytest

from daemon.platform.hotkey import create_hotkey
from daemon.platform.hotkey.pynput_backend import PynputHotkey

pytestmark = pytest.mark.desktop


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)


class Edges:
    """Collects press/release callbacks and lets the test await the n-th one."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._changed = asyncio.Event()

    def press(self) -> None:
        self._add("press")

    def release(self) -> None:
        self._add("release")

    def _add(self, edge: str) -> None:
        self.seen.append(edge)
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 3.0) -> list[str]:
        async def until() -> None:
            while len(self.seen) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(until(), timeout)
        return self.seen


@pytest.fixture
async def listening():
    backends = []

    async def start(chord: str) -> Edges:
        hk = create_hotkey("auto", chord)
        assert isinstance(hk, PynputHotkey)  # a DISPLAY is set: auto must pick pynput
        edges = Edges()
        await hk.start(edges.press, edges.release)
        backends.append(hk)
        return edges

    yield start
    for hk in backends:
        await hk.stop()


async def test_f9_press_and_release(listening) -> None:
    edges = await listening("<f9>")
    xdotool("keydown", "F9")
    assert await edges.wait_for(1) == ["press"]
    xdotool("keyup", "F9")
    assert await edges.wait_for(2) == ["press", "release"]


async def test_ctrl_alt_space_released_modifier_first(listening) -> None:
    edges = await listening("<ctrl>+<alt>+space")
    xdotool("keydown", "ctrl+alt")
    await asyncio.sleep(0.1)
    assert edges.seen == []  # modifiers alone are not the chord
    xdotool("keydown", "space")
    assert await edges.wait_for(1) == ["press"]
    xdotool("keyup", "alt")  # let go of a modifier first: the chord ends there
    assert await edges.wait_for(2) == ["press", "release"]
    xdotool("keyup", "space", "keyup", "ctrl")
    await asyncio.sleep(0.1)
    assert edges.seen == ["press", "release"]


async def test_chord_in_one_xdotool_call_and_no_false_trigger(listening) -> None:
    edges = await listening("<ctrl>+<alt>+space")
    xdotool("key", "space", "key", "ctrl+space")  # near misses
    xdotool("keydown", "ctrl+alt+space")
    assert await edges.wait_for(1) == ["press"]
    xdotool("keyup", "ctrl+alt+space")
    assert await edges.wait_for(2) == ["press", "release"]


async def test_stop_returns_promptly_and_releases_a_held_chord() -> None:
    edges = Edges()
    hk = create_hotkey("pynput", "<f9>")
    await hk.start(edges.press, edges.release)
    xdotool("keydown", "F9")
    await edges.wait_for(1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await hk.stop()  # no key event follows: XRecord must still let the thread end
    assert loop.time() - t0 < 1.0
    assert edges.seen == ["press", "release"]  # no turn is left open
    xdotool("keyup", "F9")
