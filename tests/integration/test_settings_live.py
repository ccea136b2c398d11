"""Editing the settings file while the daemon runs: good edits apply, garbage is reported and ignored."""
from __future__ import annotations

from tests.integration.test_conversation import settings
from tests.support.openai_server import ThreadedServer
from tests.support.daemon import Daemon


def test_config_edits_are_reloaded_and_garbage_keeps_the_running_config(tmp_path):
    server = ThreadedServer()
    try:
        with Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--no-audio") as d:
            start = len(d.events)
            original = d.config.read_text()
            d.config.write_text("[tts\nvoice = 'broken")
            i = d.wait_event(lambda e: e["kind"] == "error" and e["code"] == "config_invalid", start=start)
            assert "TOML syntax error" in d.events[i]["text"] and "previous settings stay" in d.events[i]["text"]
            assert d.status()["state"] == "idle"
            d.config.write_text(original.replace('voice = "bass"', 'voice = "soprano"'))
            d.wait_event(lambda e: e["kind"] == "settings" and e["key"] == "voice" and e["value"] == "soprano",
                         start=i)
            assert d.config.read_text().count("soprano") == 1  # never rewritten by the daemon
    finally:
        server.stop()
