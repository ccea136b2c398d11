"""The tray view reducer, fed the daemon's real events (and strangers it must ignore)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce as fold
from types import SimpleNamespace

from hypothesis import given, strategies as st

from daemon.events import (
    AudioLevel, EngineState, EngineStateChanged, ErrorEvent, ReplyDelta, SettingsChanged, State,
    StateChanged, TranscriptEvent, VoicesChanged,
)
from daemon.platform.tray.icons import Health
from daemon.platform.tray.view import REPLY_CHARS, TOOLTIP_CHARS, TrayView, initial_view, reduce


def run(*events: object, view: TrayView | None = None) -> TrayView:
    return fold(reduce, events, view or TrayView())


def test_state_and_level() -> None:
    view = run(StateChanged(State.LISTENING, turn=1), AudioLevel(0.42))
    assert view.state == "listening" and view.level == 0.42
    assert view.title.startswith("Sisyphus: Listening")
    view = run(StateChanged(State.THINKING, turn=1), view=view)
    assert view.level == 0.0, "the meter must drop when the microphone closes"
    assert run(AudioLevel(0.9), view=view).level == 0.0, "levels outside Listening are ignored"
    assert run(StateChanged(State.LISTENING), AudioLevel(3.0)).level == 1.0


def test_transcript_and_reply_start_in_the_tooltip() -> None:
    view = run(TranscriptEvent("what time is it", final=True, turn=3),
               ReplyDelta("It is ", turn=3), ReplyDelta("noon.", turn=3))
    assert view.transcript == "what time is it" and view.reply == "It is noon."
    assert "You: what time is it" in view.title and "Reply: It is noon." in view.title
    view = run(TranscriptEvent("and tomorrow?", final=False, turn=4), view=view)
    assert view.reply == "", "a new turn's transcript clears the old reply"
    view = run(ReplyDelta("Sunny.", turn=4), view=view)
    assert view.reply == "Sunny."


def test_only_the_start_of_a_long_reply_is_kept() -> None:
    view = run(*[ReplyDelta("word " * 10, turn=1) for _ in range(50)])
    assert len(view.reply) == REPLY_CHARS and view.reply.endswith("…")
    assert len(view.title) <= TOOLTIP_CHARS


def test_health_badge_from_engine_states() -> None:
    assert TrayView().health is Health.OK
    view = run(EngineStateChanged("asr", EngineState.STARTING), EngineStateChanged("tts", EngineState.READY))
    assert view.health is Health.LOADING
    view = run(EngineStateChanged("asr", EngineState.READY), EngineStateChanged("tts", EngineState.BACKOFF), view=view)
    assert view.health is Health.DEGRADED and "(engines degraded)" in view.title
    view = run(EngineStateChanged("tts", EngineState.UNLOADED), view=view)
    assert view.health is Health.DEGRADED, "an engine unloaded for VRAM shows degraded (design)"
    view = run(EngineStateChanged("tts", EngineState.READY), view=view)
    assert view.health is Health.OK


def test_failed_engine_notifies_once_and_clears_on_recovery() -> None:
    view = run(EngineStateChanged("tts", EngineState.FAILED, reason="CUDA out of memory"))
    assert view.health is Health.FAILED
    assert "tts engine failed: CUDA out of memory" in view.failure and "Restart engines" in view.failure
    assert view.notice and view.notice.serial == 1 and view.notice.text == view.failure
    again = run(EngineStateChanged("tts", EngineState.FAILED, reason="CUDA out of memory"), view=view)
    assert again.notice == view.notice, "the same failure must not notify twice"
    recovered = run(EngineStateChanged("tts", EngineState.STARTING), EngineStateChanged("tts", EngineState.READY),
                    view=again)
    assert recovered.failure == "" and recovered.health is Health.OK


def test_errors_a_user_must_act_on_notify_others_only_show() -> None:
    view = run(ErrorEvent("llm_auth", "The LLM rejected the API key; set OPENAI_API_KEY"))
    assert view.notice and view.notice.serial == 1
    assert view.failure in view.title
    view = run(ErrorEvent("bad_audio", "The recording was empty; hold the key while speaking"), view=view)
    assert view.failure.startswith("The recording was empty") and view.notice.serial == 1
    view = run(ErrorEvent("model_not_found", "No model at /m; run the installer"), view=view)
    assert view.notice.serial == 2


def test_a_spoken_reply_clears_a_turn_error_but_not_a_failed_engine() -> None:
    view = run(ErrorEvent("llm_timeout", "The LLM did not answer; check the server"), StateChanged(State.SPEAKING))
    assert view.failure == ""
    view = run(EngineStateChanged("asr", EngineState.FAILED), StateChanged(State.SPEAKING))
    assert view.failure != ""


def test_initial_view_from_the_daemon_settings() -> None:
    from daemon.config.schema import Settings

    view = initial_view(Settings())
    assert view.settings["hotkey.mode"] == "ptt" and view.settings["audio.input_device"] == "default"
    assert "llm.api_key" not in view.settings, "secrets never enter the view"
    assert initial_view({"tts": {"voice": "Ryan"}, "llm": {"api_key": "sk-x"}}).voice == "Ryan"


def test_settings_outside_the_tray_are_ignored() -> None:
    view = TrayView()
    assert reduce(view, SettingsChanged("llm", "api_key", "sk-secret")) is view


def test_voices_and_settings() -> None:
    view = run(VoicesChanged((("Ryan", "English male", False), ("Mine", "", True))),
               SettingsChanged("tts", "voice", "Mine"), SettingsChanged("hotkey", "mode", "toggle"))
    assert view.voices[1] == ("Mine", "", True)
    assert view.voice == "Mine" and view.settings["hotkey.mode"] == "toggle"


@dataclass(frozen=True)
class Unknown:
    kind = "timings"
    turn: int = 1


def test_unknown_and_malformed_events_leave_the_view_unchanged() -> None:
    view = run(StateChanged(State.LISTENING))
    for event in (Unknown(), object(), SimpleNamespace(kind="level"), SimpleNamespace(kind="state"),
                  SimpleNamespace(kind="engine", name="tts"), SimpleNamespace(kind="level", level="loud"),
                  SimpleNamespace(kind="reply", text="x", turn=None)):
        assert reduce(view, event) is view


def test_duck_typed_events_work_without_the_classes() -> None:
    view = run(SimpleNamespace(kind="state", state="speaking"),
               SimpleNamespace(kind="engine", name="asr", state="failed", reason=""))
    assert view.state == "speaking" and view.health is Health.FAILED


def test_repeated_events_return_the_same_view() -> None:
    view = run(StateChanged(State.IDLE), SettingsChanged("tray", "theme", "light"))
    assert reduce(view, StateChanged(State.IDLE)) is view
    assert reduce(view, SettingsChanged("tray", "theme", "light")) is view


events = st.one_of(
    st.builds(StateChanged, st.sampled_from(list(State)), turn=st.integers(0, 3)),
    st.builds(EngineStateChanged, st.sampled_from(["asr", "tts"]), st.sampled_from(list(EngineState))),
    st.builds(AudioLevel, st.floats(-2, 2, allow_nan=False)),
    st.builds(ReplyDelta, st.text(max_size=30), turn=st.integers(0, 3)),
    st.builds(TranscriptEvent, st.text(max_size=30), st.booleans(), turn=st.integers(0, 3)),
    st.builds(ErrorEvent, st.sampled_from(["llm_auth", "bad_audio", "engine_failed"]), st.text(max_size=200)),
)


@given(st.lists(events, max_size=40))
def test_invariants_hold_for_any_event_sequence(sequence: list) -> None:
    view = run(*sequence)
    assert 0.0 <= view.level <= 1.0
    assert view.level == 0.0 or view.state == "listening"
    assert len(view.reply) <= REPLY_CHARS and len(view.title) <= TOOLTIP_CHARS
    assert view.title.startswith("Sisyphus: ")
    assert (view.health is Health.FAILED) == ("failed" in view.engines.values())
