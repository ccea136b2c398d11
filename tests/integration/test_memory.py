"""VRAM fallback and idle unload on real processes: fake engines, scripted GPU readings."""
from __future__ import annotations

import json

from tests.integration.test_conversation import settings
from tests.support.openai_server import ThreadedServer
from tests.support.daemon import Daemon, write_tone_wav


def test_low_vram_unloads_then_a_turn_reloads_on_demand(tmp_path):
    server = ThreadedServer()
    vram = tmp_path / "vram.json"
    vram.write_text(json.dumps({"total_mb": 24000, "free_mb": 20000}))
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=0.6)
    conf = settings(server.server.url, vram={"poll_s": 0.2, "min_free_mb": 1000, "recover_free_mb": 3000})
    d = Daemon(tmp_path, conf, "--fake-engines", "--mic-file", str(mic), "--no-audio")
    d.env["SISYPHUS_VRAM_FILE"] = str(vram)
    try:
        with d:
            assert d.status()["vram"]["free_mb"] == 20000
            start = len(d.events)
            vram.write_text(json.dumps({"total_mb": 24000, "free_mb": 400}))  # a game starts
            i = d.wait_event(lambda e: e["kind"] == "engine" and e["state"] == "unloaded", start=start)
            unloaded = d.events[i]["name"]
            assert "free GPU memory 400 MB" in d.events[i]["reason"]
            assert d.status()["engines"][unloaded]["pid"] is None  # the process is gone
            turn = d.turn()  # the turn waits for the reload instead of failing
            d.turn_end(turn, timeout=30)
            assert not any(e["kind"] == "error" for e in d.events[turn:])
    finally:
        server.stop()


def test_idle_unload_and_reload(tmp_path):
    server = ThreadedServer()
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=0.6)
    conf = settings(server.server.url, vram={"poll_s": 0.2, "enabled": False})
    conf["tts"]["idle_unload_min"] = 0.02  # 1.2 s
    try:
        with Daemon(tmp_path, conf, "--fake-engines", "--mic-file", str(mic), "--no-audio") as d:
            d.wait(lambda: d.status()["engines"]["tts"]["state"] == "unloaded", 20, "tts idle-unloaded")
            assert d.status()["engines"]["asr"]["state"] == "ready"
            turn = d.turn()
            d.turn_end(turn, timeout=30)
            assert "speech" in d.kinds(turn)
    finally:
        server.stop()


def test_cuda_oom_frees_the_other_engine_and_retries_once(tmp_path):
    from tests.support.daemon import fake_engine_command

    server = ThreadedServer()
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=0.6)
    conf = settings(server.server.url, vram={"enabled": False})
    conf["asr"]["command"] = fake_engine_command("asr", "--transcript", "hello there", "--error-once", "cuda_oom")
    try:
        with Daemon(tmp_path, conf, "--fake-engines", "--mic-file", str(mic), "--no-audio") as d:
            turn = d.turn()
            d.turn_end(turn, timeout=30)
            events = d.events[turn:]
            assert not any(e["kind"] == "error" for e in events)  # the retry succeeded
            assert [e["text"] for e in events if e["kind"] == "transcript" and e["final"]] == ["hello there"]
            unload = [e for e in events if e["kind"] == "engine" and e["state"] == "unloaded"]
            assert unload and unload[0]["name"] == "tts" and "out of GPU memory" in unload[0]["reason"]
            assert "speech" in d.kinds(turn)  # the TTS engine came back on demand for the reply
    finally:
        server.stop()
