"""``sisyphus doctor`` on this machine (no GPU, cpu profile) and with real problems injected.

The LLM check talks to the real scripted OpenAI-protocol server (a subprocess); the
venv check runs the test suite's real engine venvs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from installer import doctor
from installer.doctor import Context, GpuInfo
from tests.support.venvs import engine_python

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-doctor-secret-123"


@pytest.fixture(scope="module")
def llm(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("llm")
    (tmp / "script.json").write_text(json.dumps({"api_key": KEY, "model": "test-model"}))
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--port", "0",
                             "--script", str(tmp / "script.json")], cwd=REPO, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir whose cpu-profile venvs are the test suite's engine venvs."""
    venvs = tmp_path / "data" / "venvs"
    venvs.mkdir(parents=True)
    for name in ("whisper", "piper"):
        (venvs / name).symlink_to(engine_python(name).parent.parent)
    return tmp_path / "data"


def _doctor(tmp: Path, data_dir: Path, config: str, **env: str) -> subprocess.CompletedProcess:
    (tmp / "config.toml").write_text(config)
    secrets = ("LLM_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")  # the file's values must count
    full_env = {k: v for k, v in os.environ.items() if k not in secrets}
    full_env.update(SISYPHUS_CONFIG=str(tmp / "config.toml"), **env)
    return subprocess.run([sys.executable, "-m", "installer.doctor", "--data-dir", str(data_dir)], cwd=REPO,
                          env=full_env, capture_output=True, text=True, timeout=120)


def _config(url: str, key: str = KEY, profile: str = "cpu") -> str:
    return f'[daemon]\nprofile = "{profile}"\n[llm]\nbase_url = "{url}"\nmodel = "test-model"\napi_key = "{key}"\n'


def test_this_machine_no_gpu_cpu_profile_is_healthy(tmp_path: Path, data_dir: Path, llm: str) -> None:
    result = _doctor(tmp_path, data_dir, _config(llm))
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "no NVIDIA driver found" in out and "the cpu profile does not need one" in out
    assert "profile cpu -> cpu" in out
    assert "[  ok] venv whisper" in out and "[  ok] venv piper" in out
    assert f"{llm} answers (key set)" in out
    assert KEY not in out + result.stderr


def test_a_rejected_key_fails_without_printing_it(tmp_path: Path, data_dir: Path, llm: str) -> None:
    result = _doctor(tmp_path, data_dir, _config(llm, key="sk-wrong-key-456"))
    assert result.returncode == 1
    assert "[FAIL] llm" in result.stdout and "llm_auth" in result.stdout and "LLM_API_KEY" in result.stdout
    assert "sk-wrong-key-456" not in result.stdout + result.stderr


def test_a_broken_config_is_a_failure_naming_the_key(tmp_path: Path, data_dir: Path) -> None:
    result = _doctor(tmp_path, data_dir, '[llm]\ntimeout_s = "soon"\n[daemon]\nprofile = "turbo"\n')
    assert result.returncode == 1
    assert "[FAIL] config" in result.stdout
    assert "[llm] timeout_s" in result.stdout and "[daemon] profile" in result.stdout


def test_a_missing_venv_says_to_run_setup(tmp_path: Path, llm: str) -> None:
    empty = tmp_path / "empty"
    result = _doctor(tmp_path, empty, _config(llm))
    assert result.returncode == 1
    assert f"[FAIL] venv whisper  missing at {empty / 'venvs' / 'whisper'}" in result.stdout
    assert "run `sisyphus setup --profile cpu`" in result.stdout


# -- single checks, with the environment given -------------------------------------------

def _ctx(tmp: Path, profile: str, env: dict[str, str] | None = None) -> Context:
    from daemon.config.store import load

    ctx = Context(tmp / "none.toml", tmp, profile=profile, settings=load(tmp / "none.toml", env={}),
                  gpu=GpuInfo(why="no NVIDIA driver found (NVML: NVML Shared Library Not Found)"))
    if env is not None:
        ctx.env = env
    return ctx


def test_gpu_profile_without_a_driver_is_a_failure(tmp_path: Path) -> None:
    check = doctor.check_gpu(_ctx(tmp_path, "gpu"))
    assert check.status == doctor.FAIL and "install the NVIDIA driver" in check.fix
    assert doctor.check_gpu(_ctx(tmp_path, "cpu")).status == doctor.OK


def test_gpu_profile_lists_missing_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    check = doctor.check_models(_ctx(tmp_path, "gpu"))
    assert check.status == doctor.FAIL and "zai-org/GLM-ASR-Nano-2512" in check.detail
    assert check.fix == "run `sisyphus models pull`"


def test_wayland_without_xwayland_explains_the_shortcut_fallback(tmp_path: Path) -> None:
    hotkey, _tray = doctor.check_desktop(_ctx(tmp_path, "cpu", {"WAYLAND_DISPLAY": "wayland-0"}))
    assert hotkey.status == doctor.WARN and "Wayland" in hotkey.detail
    assert "sisyphus ptt toggle" in hotkey.fix


def test_render_marks_failures_and_counts_them() -> None:
    text = doctor.render([doctor.Check("a", doctor.OK, "fine"), doctor.Check("bb", doctor.FAIL, "bad", "fix it")])
    assert text.splitlines() == ["[  ok] a   fine", "[FAIL] bb  bad", "           -> fix it", "1 problem(s) to fix"]


def test_doctor_setup_and_models_never_import_ml_libraries(tmp_path: Path) -> None:
    """They run in the light app venv: no torch, no transformers there; huggingface_hub is imported
    only when a model is looked up (the gpu profile), not for doctor on the cpu profile."""
    code = ("import sys, pathlib, installer.doctor as d, installer.setup, installer.models\n"
            "ctx = d.Context(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), gpu=d.probe_gpu(), ask_llm=False)\n"
            "d.run_checks(ctx)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'huggingface_hub') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "none.toml"), str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_macos_names_the_hotkey_permissions_the_user_must_grant(monkeypatch):
    from daemon.platform.hotkey import permissions

    monkeypatch.setattr(permissions, "_ask_macos", lambda: (False, None))
    check = doctor.macos_permission_check()
    assert check.status == doctor.WARN
    assert "Accessibility NOT granted" in check.detail and "Input Monitoring unknown" in check.detail
    assert "Privacy & Security > Accessibility" in check.fix and "Privacy & Security > Input Monitoring" in check.fix
    monkeypatch.setattr(permissions, "_ask_macos", lambda: (True, True))
    assert doctor.macos_permission_check().status == doctor.OK


def test_macos_permission_call_refuses_elsewhere():
    from daemon.platform.hotkey import permissions

    if sys.platform == "darwin":
        pytest.skip("this is macOS")
    with pytest.raises(OSError, match="only on macOS"):
        permissions._ask_macos()


def test_doctor_fails_when_the_assistant_cannot_hear_or_speak(tmp_path: Path, data_dir: Path) -> None:
    """No sound server, no sound card: `sisyphus doctor --no-llm` says so, with the fix, and exits 1."""
    (tmp_path / "config.toml").write_text('[daemon]\nprofile = "cpu"\n')
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/no-pulse/native", "XDG_RUNTIME_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "daemon.cli", "doctor", "--no-llm", "--data-dir", str(data_dir),
                             "--config", str(tmp_path / "config.toml")], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "[FAIL] audio input " in out and "the assistant cannot hear you" in out, out
    assert "[FAIL] audio output" in out and "the assistant cannot speak" in out
    assert "-> there is no default input device" in out
    assert "enable an input device, then choose one with `sisyphus set-input-device NAME`" in out
    assert out.rstrip().endswith("2 problem(s) to fix") and "all good" not in out


def test_without_portaudio_doctor_fails_once_naming_the_install_command(tmp_path, monkeypatch) -> None:
    from daemon.audio import portaudio
    from daemon.audio.errors import AudioError

    def no_portaudio():  # what load() raises when the library is absent (sounddevice's OSError)
        raise AudioError(f"PortAudio not found (PortAudio library not found): {portaudio.install_hint()}")

    monkeypatch.setattr(portaudio, "load", no_portaudio)
    [check] = doctor.check_audio(_ctx(tmp_path, "cpu"))
    assert check.status == doctor.FAIL and "neither hear nor speak" in check.detail
    assert "install" in check.fix and "portaudio" in check.fix.lower()
    assert doctor.render([check]).endswith("1 problem(s) to fix")
