"""The real tray on a real X server: docks in trayer, redraws on events, its menu works.

Run under the headless harness:
    tests/desktop/harness.sh .venv/bin/python -m pytest tests/desktop/test_tray_x11.py
The tray runs in its own process (``python -m tests.support.tray_demo``) because
pystray must own a main thread; this test drives it with bus events on stdin and with
xdotool clicks, and reads the result from screenshots and the actions it prints.
Screenshots land in tests/desktop/out/ (a CI artifact).
"""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from daemon.platform.tray.icons import BADGE_COLOURS, LEVEL_COLOUR, STATE_COLOURS, Health

pytestmark = pytest.mark.desktop
ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).parent / "out"
TOOLS = ("xdotool", "xprop")


def _require(ok: bool, why: str) -> None:
    """Skip on a developer machine, fail in CI: a missing harness must not pass silently."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def harness() -> None:
    """The harness itself is checked by conftest's autouse fixture; here: our extra tools."""
    _require(bool(os.environ.get("DISPLAY")), "DISPLAY is not set: run under tests/desktop/harness.sh")
    missing = [t for t in TOOLS if not shutil.which(t)] + ([] if _IMPORT else ["import (imagemagick)"])
    _require(not missing, f"missing tools {missing}: apt-get install xdotool x11-utils imagemagick")
    _require(importlib.util.find_spec("gi") is not None,
             "PyGObject is missing from this venv: apt-get install libgirepository1.0-dev libcairo2-dev "
             "pkg-config gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1 && pip install 'PyGObject<3.50'")
    OUT.mkdir(exist_ok=True)


# /usr/local/bin/convert may be a stand-in on CI images; the real ImageMagick lives in /usr/bin.
_IMPORT = next((p for p in ("/usr/bin/import", shutil.which("import")) if p and os.path.exists(p)), None)


class TrayApp:
    """The demo tray process: send events, wait for its output lines."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        choice = ["--backend", "auto"] if backend == "auto" else ["--backend", "pystray", "--pystray", backend]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.tray_demo", *choice],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def send(self, **event: object) -> None:
        self.proc.stdin.write(json.dumps(event) + "\n")
        self.proc.stdin.flush()
        self.expect("shown")

    def expect(self, prefix: str, timeout: float = 5.0) -> str:
        end = time.monotonic() + timeout
        seen = []
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line
            seen.append(line)
        raise AssertionError(f"tray printed no {prefix!r} within {timeout}s; got {seen}")

    def close(self) -> str:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.stderr.read()


@pytest.fixture(params=["appindicator", "gtk"])
def tray(request: pytest.FixtureRequest, harness: None):
    app = TrayApp(request.param)
    try:
        app.expect(f"ready {request.param}", timeout=15)
        yield app
    finally:
        print(f"tray process stderr:\n{app.close()}")  # pytest shows it when the test failed


def _xdotool(*args: str) -> str:
    return subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=10).stdout


def _geometry(window: str) -> tuple[int, int, int, int]:
    info = dict(line.split("=", 1) for line in _xdotool("getwindowgeometry", "--shell", window).split())
    return int(info["X"]), int(info["Y"]), int(info["WIDTH"]), int(info["HEIGHT"])


def _panel(timeout: float = 3.0) -> tuple[int, int, int, int]:
    """trayer's panel; polled, since trayer briefly unmaps it to re-layout when an icon leaves."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        windows = _xdotool("search", "--onlyvisible", "--classname", "^panel$").split()
        if windows:
            return _geometry(windows[0])
        time.sleep(0.1)
    raise AssertionError("trayer's panel window is not on screen: is the harness running trayer?")


def find_icon(timeout: float = 5.0) -> tuple[int, int, int, int]:
    """The docked icon's screen rectangle: a window of ours inside trayer's panel."""
    return _find_icon_window(timeout)[1]


def _find_icon_window(timeout: float = 5.0) -> tuple[str, tuple[int, int, int, int]]:
    px, py, pw, ph = _panel()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for window in _xdotool("search", "--onlyvisible", "--classname", "^sisyphus$").split():
            x, y, w, h = _geometry(window)
            if px <= x < px + pw and py <= y < py + ph and w >= 8 and h >= 8:
                return window, (x, y, w, h)
        time.sleep(0.1)
    raise AssertionError("no sisyphus icon docked in trayer's panel within 5 s")


def wait_title(text: str, timeout: float = 4.0) -> str:
    """Poll the icon window's WM_NAME (where both GTK backends put the title) for ``text``."""
    end, name = time.monotonic() + timeout, ""
    while time.monotonic() < end:
        window, _ = _find_icon_window()
        name = subprocess.run(["xprop", "-id", window, "WM_NAME"], capture_output=True, text=True).stdout
        if text in name:
            return name
        time.sleep(0.1)
    raise AssertionError(f"icon title never contained {text!r}; last WM_NAME: {name.strip()}")


def screenshot(name: str | None = None) -> Image.Image:
    """The whole screen; kept under out/``name`` when named (written atomically, since a
    second pytest in the same checkout may be reading the artifacts)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "screen.png"
        subprocess.run([_IMPORT, "-window", "root", str(path)], check=True, timeout=10)
        image = Image.open(path).convert("RGB")
        if name:
            OUT.mkdir(exist_ok=True)  # ignored by git: absent on a fresh clone
            image.save(path)
            os.replace(path, OUT / name)
    return image


def _save(image: Image.Image, name: str) -> None:
    OUT.mkdir(exist_ok=True)
    tmp = OUT / f".{name}.{os.getpid()}.png"
    image.save(tmp)
    os.replace(tmp, OUT / name)


def share(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 45) -> float:
    """The fraction of pixels within ``tolerance`` (per channel) of ``colour``."""
    pixels = np.asarray(image, dtype=np.int16).reshape(-1, 3)
    return float(np.mean(np.all(np.abs(pixels - np.array(colour)) <= tolerance, axis=1)))


def wait_icon(app: TrayApp, name: str, colour: tuple[int, int, int], quadrant: bool = False,
              minimum: float = 0.15) -> Image.Image:
    """Poll screenshots until the icon (or its bottom-right quadrant) shows ``colour``."""
    end, got = time.monotonic() + 4.0, 0.0
    while time.monotonic() < end:
        x, y, w, h = find_icon()
        crop = screenshot().crop((x, y, x + w, y + h))
        part = crop.crop((w // 2, h // 2, w, h)) if quadrant else crop
        got = share(part, colour)
        if got >= minimum:
            _save(crop.resize((w * 4, h * 4), Image.NEAREST), f"tray_{app.backend}_{name}.png")
            return crop
        time.sleep(0.2)
    raise AssertionError(f"{app.backend}: icon never showed {name} colour {colour} (best share {got:.2f})")


def test_icon_docks_and_redraws_with_the_view(tray: TrayApp) -> None:
    x, y, w, h = find_icon()
    assert w <= 64 and h <= 64, f"icon window {w}x{h} is not a tray icon"
    for state in ("listening", "thinking", "speaking"):
        tray.send(kind="state", state=state)
        wait_icon(tray, state, STATE_COLOURS[state])
        wait_title(f"Sisyphus: {state.capitalize()}")
        if state == "listening":
            tray.send(kind="level", level=1.0)
            wait_icon(tray, "level", LEVEL_COLOUR, minimum=0.04)
    tray.send(kind="engine", name="tts", state="starting")
    wait_icon(tray, "badge_loading", BADGE_COLOURS[Health.LOADING], quadrant=True, minimum=0.1)
    tray.send(kind="engine", name="tts", state="failed", reason="CUDA out of memory")
    wait_icon(tray, "badge_failed", BADGE_COLOURS[Health.FAILED], quadrant=True, minimum=0.1)


def test_menu_opens_and_items_call_actions(tray: TrayApp) -> None:
    tray.send(kind="voices", voices=[["Ryan", "English male", False], ["Mine", "recorded", True]])
    tray.send(kind="settings", section="tts", key="voice", value="Ryan")
    x, y, w, h = find_icon()
    menu = _open_menu(tray, x + w // 2, y + h // 2)
    mx, my, mw, mh = menu
    time.sleep(0.3)  # let GTK finish drawing before the artifact screenshot
    shot = screenshot(f"tray_{tray.backend}_menu.png")
    _save(shot.crop((min(x, mx) - 8, 0, max(x + w, mx + mw) + 8, my + mh + 8)), f"tray_{tray.backend}_menu_crop.png")
    # Keyboard: Up from nothing selects the last item; five up is "Start at login".
    for _ in range(5):
        _xdotool("key", "Up")
    _xdotool("key", "Return")
    assert tray.expect("action set_autostart") == "action set_autostart true"
    mx, my, mw, mh = _open_menu(tray, x + w // 2, y + h // 2)
    _xdotool("mousemove", str(mx + mw // 2), str(my + mh - 14))  # the last item: Quit
    time.sleep(0.3)
    screenshot(f"tray_{tray.backend}_menu_quit.png")  # shows the hovered item if the click misses
    _xdotool("click", "1")
    assert tray.expect("action quit") == "action quit null"
    tray.expect("done")


def _open_menu(tray: TrayApp, cx: int, cy: int) -> tuple[int, int, int, int]:
    """Click the icon (AppIndicator: left button; GtkStatusIcon: right) and find the popup."""
    _wait_menus_closed()
    before = set(_xdotool("search", "--onlyvisible", "--name", "").split())
    button = "1" if tray.backend == "appindicator" else "3"
    _xdotool("mousemove", str(cx), str(cy), "click", button)
    end, last = time.monotonic() + 4.0, None
    while time.monotonic() < end:
        for window in set(_xdotool("search", "--onlyvisible", "--name", "").split()) - before:
            geometry = _geometry(window)
            if geometry[3] > 100 and geometry == last:  # the menu (not a 1x1 helper), settled
                time.sleep(0.5)  # GTK ignores a button release in the first moments of a popup
                return geometry
            last = geometry if geometry[3] > 100 else last
        time.sleep(0.1)
    raise AssertionError(f"{tray.backend}: no menu window appeared after a button {button} click")


def _wait_menus_closed(timeout: float = 2.0) -> None:
    """Wait until no popup from an earlier click is still mapped below the panel."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not [w for w in _xdotool("search", "--onlyvisible", "--name", "").split() if _geometry(w)[3] > 100
                and _geometry(w)[2] < 1000]:  # menus, not the root-sized windows
            return
        time.sleep(0.1)


def test_auto_prefers_appindicator_on_linux(harness: None) -> None:
    """With PyGObject and the AppIndicator typelib present, "auto" must not pick xorg (no menu)."""
    app = TrayApp("auto")
    try:
        assert app.expect("ready", timeout=15) == "ready appindicator"
        find_icon()
    finally:
        app.close()
