"""Backends without a display: the dummy end to end, backend choice, pystray menu conversion."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

import pytest

from tests.support.recorder import Recorder

from daemon.events import AudioLevel, EngineState, EngineStateChanged, ErrorEvent, State, StateChanged, VoicesChanged
from daemon.platform.tray import DummyTray, TrayPresenter, TrayView, create_tray, frame_for
from daemon.platform.tray import pystray_backend
from daemon.platform.tray.icons import Health
from daemon.platform.tray.menu import find



@pytest.fixture
def dummy() -> DummyTray:
    return create_tray(Recorder(), "dummy")


def test_presenter_shows_frames_for_events(dummy: DummyTray) -> None:
    presenter = TrayPresenter(dummy, inputs=["USB Mic"], outputs=["Speakers"], theme_setting="light")
    assert dummy.shown.icon.name == "idle-ok-light-l0-64"
    presenter.on_event(StateChanged(State.LISTENING))
    presenter.on_event(StateChanged(State.LISTENING))  # no change: no new frame
    presenter.on_event(EngineStateChanged("tts", EngineState.STARTING))
    assert [f.icon.name for f in dummy.frames] == [
        "idle-ok-light-l0-64", "listening-ok-light-l0-64", "listening-loading-light-l0-64"]
    assert dummy.shown.title.startswith("Sisyphus: Listening")
    assert find(dummy.shown.menu, "Input device", "USB Mic").action == "set_input_device"


def test_notices_are_shown_once(dummy: DummyTray) -> None:
    presenter = TrayPresenter(dummy)
    presenter.on_event(ErrorEvent("llm_auth", "The LLM rejected the key; set OPENAI_API_KEY and restart"))
    presenter.on_event(StateChanged(State.LISTENING))  # the notice is still in the view
    assert dummy.notifications == [("Sisyphus: action needed",
                                    "The LLM rejected the key; set OPENAI_API_KEY and restart")]


def test_menu_clicks_reach_the_actions_and_errors_are_contained(caplog: pytest.LogCaptureFixture) -> None:
    class Failing(Recorder):
        def open_log(self) -> None:
            raise OSError("no viewer")

    actions = Failing()
    tray = create_tray(actions, "dummy")
    TrayPresenter(tray).on_event(VoicesChanged((("Ryan", "", False),)))
    tray.click("Voice", "Ryan")
    with caplog.at_level(logging.ERROR):
        tray.click("Open log")
    assert actions.calls == [("set_voice", "Ryan")]
    assert "tray action open_log(None) failed" in caplog.text


def test_dummy_run_blocks_until_stop_from_another_thread(dummy: DummyTray) -> None:
    ready = threading.Event()
    threading.Timer(0.05, dummy.stop).start()
    dummy.run(ready.set)
    assert ready.is_set()


def test_click_before_show_says_what_to_do(dummy: DummyTray) -> None:
    with pytest.raises(RuntimeError, match="call show"):
        dummy.click("Quit")


def test_auto_without_display_falls_back_to_dummy(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with caplog.at_level(logging.WARNING):
        tray = create_tray(Recorder(), "auto")
    assert isinstance(tray, DummyTray) and "no display" in caplog.text


def test_unknown_backend_is_named() -> None:
    with pytest.raises(ValueError, match="unknown tray backend 'qt'"):
        create_tray(Recorder(), "qt")


def test_without_gi_linux_falls_back_to_xorg_with_install_hint(monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("PYSTRAY_BACKEND", raising=False)
    monkeypatch.setattr(pystray_backend.sys, "platform", "linux")
    monkeypatch.setattr(pystray_backend, "_gtk_backend_error", lambda name: "PyGObject (gi) is not installed")
    with caplog.at_level(logging.WARNING):
        assert pystray_backend.choose_backend() == "xorg"
    assert "PyGObject<3.50" in caplog.text and "no menu" in caplog.text


def test_backend_choice_respects_preference_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSTRAY_BACKEND", "gtk")
    assert pystray_backend.choose_backend() == "gtk"
    assert pystray_backend.choose_backend("appindicator") == "appindicator"
    monkeypatch.delenv("PYSTRAY_BACKEND")
    monkeypatch.setattr(pystray_backend.sys, "platform", "win32")
    assert pystray_backend.choose_backend() == "win32"


def test_gtk_backend_probe_reports_a_reason_or_none() -> None:
    error = pystray_backend._gtk_backend_error("gtk")
    assert error is None or isinstance(error, str) and error


def test_pystray_menu_conversion_calls_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our menu model through pystray's own Menu/MenuItem classes (its display-less backend)."""
    before = os.environ.get("PYSTRAY_BACKEND")
    actions = Recorder()
    tray = pystray_backend.PystrayTray(actions, backend="dummy")
    assert os.environ.get("PYSTRAY_BACKEND") == before, "choosing a backend must not leak into the env"
    view = TrayView(voices=(("Ryan", "", False), ("Mine", "", True)), settings={"tts.voice": "Mine"})
    menu = tray._to_menu(frame_for(view).menu)
    by_text = {item.text: item for item in menu.items}
    voice = {item.text: item for item in by_text["Voice"].submenu.items}
    assert voice["Mine (cloned)"].checked and voice["Mine (cloned)"].radio
    assert not voice["Ryan"].checked
    voice["Ryan"](None)
    by_text["Quit"](None)
    assert actions.calls == [("set_voice", "Ryan"), ("quit",)]
    assert not by_text["Sisyphus: Idle"].enabled


def test_pystray_tray_refuses_to_run_without_a_frame() -> None:
    tray = pystray_backend.PystrayTray(Recorder(), backend="dummy")
    with pytest.raises(RuntimeError, match="show"):
        tray.run()


def test_health_of_frame_matches_view() -> None:
    view = TrayView(engines={"asr": "failed"})
    assert frame_for(view).icon.health is Health.FAILED
    assert find(frame_for(view).menu, "Sisyphus: Idle (engines failed)").kind.value == "label"


def test_level_redraws_are_rate_limited(dummy: DummyTray) -> None:
    now = [0.0]
    presenter = TrayPresenter(dummy, clock=lambda: now[0])
    presenter.on_event(StateChanged(State.LISTENING))
    for i in range(10):  # 10 level events within 45 ms: one redraw
        now[0] = i * 0.005
        presenter.on_event(AudioLevel(i / 10))
    assert [f.icon.level for f in dummy.frames] == [0, 0, 1]  # idle, listening, first level
    assert presenter.view.level == 0.9, "the view still follows every event"
    now[0] = 0.2
    presenter.on_event(AudioLevel(0.6))
    assert dummy.frames[-1].icon.level == 6


def test_importing_the_tray_loads_no_toolkit() -> None:
    """Without a display, ``import pystray`` fails (its xorg backend connects at import)."""
    code = ("import sys, daemon.platform.tray, daemon.platform.tray.pystray_backend, daemon.platform.autostart;"
            "bad = [m for m in ('pystray', 'gi', 'Xlib', 'winreg', 'torch') if m in sys.modules];"
            "assert not bad, bad")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
