"""Config: defaults, env overrides, every kind of bad input, atomic writes that keep the user's keys."""
from __future__ import annotations

import os
import tomllib

import pytest

from daemon.config import store as config
from daemon.config.store import ConfigError, load, write_settings
from daemon.config.schema import Settings, render_defaults
from daemon.paths import asset


def test_missing_file_gives_defaults(tmp_path):
    assert load(tmp_path / "none.toml", env={}) == Settings()


def test_shipped_default_file_is_documented_defaults():
    text = asset("config.toml").read_text()
    assert text == render_defaults()
    assert config.from_table(tomllib.loads(text), asset("config.toml")) == Settings()
    assert "# timeout_s = 30.0" in text and "seconds to wait for the first token" in text


def test_values_are_read(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[llm]\nmodel = "qwen3"\ntimeout_s = 12\n[llm.extra]\nreasoning_effort = "low"\n'
                    '[hotkey]\nmode = "toggle"\n[asr]\ncommand = ["srv", "--uri", "{uri}"]\n')
    s = load(path, env={})
    assert s.llm.model == "qwen3" and s.llm.timeout_s == 12.0 and isinstance(s.llm.timeout_s, float)
    assert s.llm.extra == {"reasoning_effort": "low"}
    assert s.hotkey.mode == "toggle" and s.asr.command == ["srv", "--uri", "{uri}"]


@pytest.mark.parametrize("env,file_key,expected", [
    ({"LLM_API_KEY": "llm-key", "OPENAI_API_KEY": "oa-key"}, "", "llm-key"),
    ({"OPENAI_API_KEY": "oa-key"}, "", "oa-key"),
    ({"OPENAI_API_KEY": "oa-key"}, "file-key", "file-key"),
    ({"LLM_API_KEY": "llm-key"}, "file-key", "llm-key"),
    ({}, "", ""),
])
def test_api_key_precedence(tmp_path, env, file_key, expected):
    path = tmp_path / "c.toml"
    path.write_text(f'[llm]\napi_key = "{file_key}"\n' if file_key else "")
    assert load(path, env=env).llm.api_key == expected


def test_base_url_env_applies_only_when_file_is_silent(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("")
    assert load(path, env={"OPENAI_BASE_URL": "http://x/v1"}).llm.base_url == "http://x/v1"
    path.write_text('[llm]\nbase_url = "http://mine/v1"\n')
    assert load(path, env={"OPENAI_BASE_URL": "http://x/v1"}).llm.base_url == "http://mine/v1"


@pytest.mark.parametrize("text,fragments", [
    ('[llm\nmodel = "x"', ["TOML syntax error", "line 1"]),
    ('[llm]\ntimeout_s = "soon"\n', ["[llm] timeout_s", "expected a number"]),
    ('[llm]\ntimeout_s = -1\n', ["[llm] timeout_s", "at least 1"]),
    ('[hotkey]\nmode = "hold"\n', ["[hotkey] mode", "'ptt', 'toggle'"]),
    ('[audio]\nearcons = "yes"\n', ["[audio] earcons", "true or false"]),
    ('[llm]\nmodle = "x"\n', ["unknown key [llm] modle", "model"]),
    ('[lm]\nmodel = "x"\n', ["unknown section [lm]", "llm"]),
    ('llm = 3\n', ["[llm] must be a table"]),
    ('[llm]\nhistory_turns = true\n', ["[llm] history_turns", "an integer"]),
    ('[asr]\ncommand = ["a", 1]\n', ["[asr] command", "list of strings"]),
    ('[hotkey]\nchord = "<ctrl>+<hyper>+space"\n', ["[hotkey] chord", "unknown key '<hyper>'", "Valid names"]),
    ('[hotkey]\nchord = "<ctrl>++space"\n', ["[hotkey] chord", "empty part"]),
    ('[tts]\nuri = "gpu-box:10200"\n', ["[tts] uri", "tcp://HOST:PORT"]),
    ('[asr]\nuri = "tcp://gpu-box:port"\n', ["[asr] uri", "tcp://HOST:PORT"]),
    ('[asr]\nuri = "stdio://"\n', ["[asr] uri", "tcp://HOST:PORT"]),
    ('[asr]\ncommand = ["", "--uri", "{uri}"]\n', ["[asr] command", "name the program"]),
])
def test_bad_input_names_file_key_and_allowed(tmp_path, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    message = str(err.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message
    assert path.read_text() == text  # never overwritten


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[llm]\ntimeout_s = "x"\nmax_retries = -3\n[tray]\ntheme = "pink"\n')
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert len(err.value.problems) == 3


def test_write_keeps_comments_and_other_keys(tmp_path):
    path = tmp_path / "c.toml"
    original = '# my settings\n[llm]\nmodel = "qwen3"  # the good one\n\n[tts]\n# my voice\nvoice = "Ryan"\n'
    path.write_text(original)
    write_settings(path, {"tts": {"voice": "Aiden"}, "audio": {"output_device": "USB Headset"}})
    text = path.read_text()
    assert "# my settings" in text and 'model = "qwen3"  # the good one' in text and "# my voice" in text
    data = tomllib.loads(text)
    assert data["tts"]["voice"] == "Aiden" and data["audio"]["output_device"] == "USB Headset"
    write_settings(path, {"llm": {"history_turns": 4}})
    assert tomllib.loads(path.read_text())["llm"] == {"model": "qwen3", "history_turns": 4}


def test_write_into_missing_file_starts_from_template(tmp_path):
    path = tmp_path / "sub" / "c.toml"
    write_settings(path, {"hotkey": {"mode": "toggle"}}, template=render_defaults())
    text = path.read_text()
    assert "# chord = " in text
    assert load(path, env={}).hotkey.mode == "toggle"
    # the key went under its commented default, not at the end of the file
    assert text.index('mode = "toggle"') < text.index("[tray]")


def test_bad_write_changes_nothing(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[hotkey]\nmode = "ptt"\n')
    with pytest.raises(ConfigError):
        write_settings(path, {"hotkey": {"mode": "sometimes"}})
    assert path.read_text() == '[hotkey]\nmode = "ptt"\n'
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]  # no temp file left behind


def test_atomic_write_keeps_mode(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("")
    os.chmod(path, 0o600)
    write_settings(path, {"tray": {"theme": "dark"}})
    assert path.stat().st_mode & 0o777 == 0o600


def test_config_path_precedence(tmp_path, monkeypatch):
    from daemon.paths import config_path

    monkeypatch.setenv("SISYPHUS_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(tmp_path / "arg.toml") == tmp_path / "arg.toml"
    assert config_path() == tmp_path / "env.toml"
    monkeypatch.delenv("SISYPHUS_CONFIG")
    assert config_path().name == "config.toml" and "sisyphus" in str(config_path())


def test_config_check_reports_a_bad_hotkey_chord(tmp_path):
    """It used to pass the check, then start-up died after the engines were spawned."""
    import subprocess
    import sys

    path = tmp_path / "config.toml"
    path.write_text('[hotkey]\nchord = "<ctrl>+<alt>+spcae"\n')
    result = subprocess.run([sys.executable, "-m", "daemon.cli", "--config", str(path), "config", "check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "[hotkey] chord = '<ctrl>+<alt>+spcae': unknown key 'spcae'" in result.stderr, result.stderr


def test_good_engine_uris_pass():
    good = {"asr": {"uri": "tcp://gpu-box:10300"}, "tts": {"uri": "unix:///run/user/1000/tts.sock"}}
    settings = config.from_table(good, asset("config.toml"))
    assert settings.asr.uri == "tcp://gpu-box:10300"


def test_the_schema_says_what_the_tray_shows_and_what_applies_live():
    """One home for both lists: the tray view, the published menu values and the reload derive from them."""
    from daemon.config.schema import LIVE_SETTINGS, TRAY_SETTINGS, Settings, flagged
    from daemon.platform.tray import view

    assert set(TRAY_SETTINGS) == {("tts", "voice"), ("audio", "input_device"), ("audio", "output_device"),
                                  ("hotkey", "mode"), ("hotkey", "chord"), ("daemon", "autostart"), ("tray", "theme")}
    # [llm]: what a reload applies to the client; choosing or starting the embedded engine needs a restart
    restart = {"backend", "embedded_model", "gpu_layers", "context_tokens", "embedded_ready_timeout_s",
               "embedded_idle_unload_min"}
    llm = {("llm", key) for key in Settings().llm.__dataclass_fields__} - {("llm", key) for key in restart}
    assert set(LIVE_SETTINGS) == llm | {("hotkey", "mode"), ("audio", "min_press_ms"), ("asr", "language"),
                                        ("tts", "language"), ("tts", "voice"), ("audio", "input_device"), ("audio", "output_device"),
                                        ("tray", "theme"), ("daemon", "autostart")}
    assert ("llm", "api_key") not in TRAY_SETTINGS  # a secret never enters the tray's view
    assert view.TRAY_SETTINGS == {f"{s}.{k}" for s, k in TRAY_SETTINGS}
    assert flagged("tray") == TRAY_SETTINGS and len(set(LIVE_SETTINGS)) == len(LIVE_SETTINGS)
