"""The whole daemon on a real X display: real F9 key events through pynput drive a turn, the docked
tray icon shows every state, and menu choices (voice, output device) are written to the config and
used by the next reply, which is recorded from the virtual speaker.

    tests/desktop/harness.sh .venv/bin/python -m pytest tests/desktop/test_daemon_tray.py
"""
from __future__ import annotations

import subprocess
import time
import tomllib

import numpy as np
import pytest

from daemon.platform.tray.icons import STATE_COLOURS
from tests.desktop.test_tray_x11 import _open_menu, _xdotool, find_icon, screenshot, share, wait_title
from tests.integration.test_conversation import settings
from tests.support.daemon import Daemon, fake_engine_command, write_tone_wav
from tests.support.openai_server import Script, ThreadedServer

pytestmark = pytest.mark.desktop


class Menu:
    backend = "appindicator"


def wait_colour(state: str, timeout: float = 8.0) -> None:
    end, got = time.monotonic() + timeout, 0.0
    while time.monotonic() < end:
        x, y, w, h = find_icon()
        got = share(screenshot().crop((x, y, x + w, y + h)), STATE_COLOURS[state])
        if got >= 0.15:
            return
        time.sleep(0.1)
    raise AssertionError(f"the tray icon never showed {state} (best colour share {got:.2f})")


def dominant_hz(pcm: bytes, rate: int = 16000) -> float:
    audio = np.frombuffer(pcm, "<i2").astype(np.float32)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / rate)[int(np.argmax(spectrum))])


@pytest.fixture
def daemon(tmp_path):
    server = ThreadedServer(default=Script(reply="Here is a spoken answer. " * 4, delta_delay_s=0.02))
    conf = settings(server.server.url, hotkey={"chord": "<f9>", "backend": "pynput"}, tray={"backend": "pystray"})
    conf["tts"]["command"] = fake_engine_command("tts", "--chunk-delay", "0.02")
    conf["audio"]["earcons"] = False
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    d = Daemon(tmp_path, conf, "--fake-engines", "--mic-file", str(mic), headless=False)
    with d:
        yield d
    server.stop()


def test_turn_by_real_keys_menu_choices_and_next_reply(daemon, tmp_path):
    d = daemon
    wait_title("Sisyphus: Idle", timeout=10)
    warnings = [line for line in d.log.read_text().splitlines() if " WARNING " in line]
    assert not warnings, warnings  # a normal start warns about nothing (the tray once raced the core)
    start = len(d.events)
    _xdotool("keydown", "F9")
    wait_colour("listening")
    time.sleep(0.5)
    _xdotool("keyup", "F9")
    wait_colour("speaking")
    wait_title("Sisyphus: Idle", timeout=20)
    states = [e["state"] for e in d.events[start:] if e["kind"] == "state"]
    assert states[:4] == ["listening", "thinking", "speaking", "idle"]

    x, y, w, h = find_icon()
    _open_menu(Menu, x + w // 2, y + h // 2)
    screenshot("daemon_tray_menu.png")
    for key in ("Down", "Right", "Down", "Down", "Return"):  # Voice > alto, bass, soprano
        _xdotool("key", key)
        time.sleep(0.15)
    d.wait(lambda: tomllib.loads(d.config.read_text())["tts"].get("voice") == "soprano", 10, "voice in config")

    _open_menu(Menu, x + w // 2, y + h // 2)
    for key in ("Down", "Down", "Down", "Right", "Down", "Return"):  # Output device > first named device
        _xdotool("key", key)
        time.sleep(0.15)
    d.wait(lambda: tomllib.loads(d.config.read_text())["audio"].get("output_device", "default") != "default",
           10, "output device in config")

    record = subprocess.Popen(["parec", "-d", "spk.monitor", "--raw", "--format=s16le", "--rate=16000",
                               "--channels=1"], stdout=subprocess.PIPE)
    start = len(d.events)
    _xdotool("keydown", "F9")
    time.sleep(0.6)
    _xdotool("keyup", "F9")
    d.turn_end(start, timeout=30)
    record.terminate()
    pcm = record.communicate(timeout=10)[0]
    loud = np.frombuffer(pcm, "<i2")
    assert np.abs(loud).max() > 2000, "nothing was heard on the virtual speaker"
    idx = np.flatnonzero(np.abs(loud) > 1000)
    voiced = loud[idx[0]:idx[-1]]  # the reply, start to end (contiguous: the tone's period survives)
    assert abs(dominant_hz(voiced.tobytes()) - 880) < 30  # the soprano voice (880 Hz) spoke the reply
