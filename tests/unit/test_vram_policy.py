"""The VRAM fallback policy, fed scripted readings (no GPU, no clock)."""
from __future__ import annotations

from daemon.vram.policy import EngineView, Reading, VramPolicy


def engines(asr_used=1.0, tts_used=2.0, asr_loaded=True, tts_loaded=True, busy=(), vram=(), idle=0.0):
    return [EngineView("asr", asr_loaded, "asr" in busy, asr_used, "asr" in vram, idle),
            EngineView("tts", tts_loaded, "tts" in busy, tts_used, "tts" in vram, idle)]


def policy() -> VramPolicy:
    return VramPolicy(min_free_mb=1000, recover_free_mb=3000, cooldown_s=10)


def low(free=500):
    return Reading(24000, free)


def test_listening_keeps_asr_and_unloads_tts():
    assert policy().decide(low(), "listening", engines(), 100) == [("unload", "tts", "free GPU memory 500 MB < 1000 MB")]


def test_speaking_keeps_tts():
    assert policy().decide(low(), "speaking", engines(), 100)[0][:2] == ("unload", "asr")


def test_idle_unloads_least_recently_used():
    assert policy().decide(low(), "idle", engines(asr_used=50, tts_used=10), 100)[0][:2] == ("unload", "tts")
    assert policy().decide(low(), "idle", engines(asr_used=5, tts_used=10), 100)[0][:2] == ("unload", "asr")


def test_never_unloads_a_busy_engine_or_the_one_needed_next():
    assert policy().decide(low(), "idle", engines(busy=("asr", "tts")), 100) == []
    assert policy().decide(low(), "listening", engines(tts_loaded=False), 100) == []


def test_reload_needs_the_higher_floor():
    p = policy()
    view = engines(tts_loaded=False, vram=("tts",))
    assert p.decide(Reading(24000, 2000), "idle", view, 100) == []  # between the floors: wait
    assert p.decide(Reading(24000, 3500), "idle", view, 100)[0][:2] == ("reload", "tts")


def test_no_flapping_near_the_floor():
    p = policy()
    actions = []
    loaded = {"asr": True, "tts": True}
    for t, free in enumerate([990, 1010, 995, 1005, 990, 2900, 3100, 2950, 990, 3100]):
        view = [EngineView(n, loaded[n], False, 0.0, not loaded[n]) for n in ("asr", "tts")]
        for action, name, _ in p.decide(Reading(24000, free), "idle", view, float(t * 3)):
            actions.append((t, action, name))
            loaded[name] = action == "reload"
    # one unload, then the cooldown and the 3000 MB floor hold it until memory is really back
    assert actions[0][1] == "unload" and len(actions) <= 3
    assert all(b[0] - a[0] >= 4 for a, b in zip(actions, actions[1:]))  # >= 10 s apart


def test_idle_unload_timer():
    p = policy()
    view = engines(asr_used=0.0, tts_used=590.0, idle=600.0)
    assert p.decide(None, "idle", view, 650.0) == [("unload", "asr", "idle for 10 min")]
    assert p.decide(None, "idle", engines(busy=("asr",), idle=600.0, asr_used=0.0, tts_used=600), 650.0) == []


def test_no_reading_no_vram_action():
    assert policy().decide(None, "idle", engines(), 100) == []
