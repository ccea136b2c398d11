"""The README's ways to install, on a fresh machine: a new HOME, no display.

``installer/install.sh`` (from a clone):
Without PortAudio (the probe install.sh uses, pointed at ``false``) and no terminal to ask,
it stops before touching anything with the one command to run. With PortAudio (the harness
machine has libportaudio2 and a PulseAudio server), it installs the app and an engine venv
into the new HOME, and ``sisyphus doctor`` finds the microphone and the speakers.

Without a clone: the wheel, ``uv tool install``, ``sisyphus setup --profile cpu`` and a spoken question
answered by the headless daemon, everything from the installed package.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _fresh_env(home: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "PULSE_SERVER", "XDG_RUNTIME_DIR", "LANG", "PYENV_ROOT", "PIP_FIND_LINKS", "PIP_CERT",
            "PIP_DEFAULT_TIMEOUT", "PIP_DISABLE_PIP_VERSION_CHECK",
            # the machine's network settings (a user has them too): certificates, proxies, uv's index
            "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy",
            "no_proxy", "UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_NATIVE_TLS", "UV_SYSTEM_CERTS")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".local/bin" not in p)
    return {**env, "HOME": str(home), **extra}  # no DISPLAY, no XDG_* dirs: a new user's defaults


def _install(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "installer" / "install.sh"), *args], env=_fresh_env(home, **extra),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)


def test_without_portaudio_it_stops_with_the_one_command_to_run(tmp_path: Path) -> None:
    done = _install(tmp_path, SISYPHUS_PORTAUDIO_PROBE="false")
    assert done.returncode == 2, done.stderr
    sudo = "" if os.getuid() == 0 else "sudo "
    lines = done.stderr.strip().splitlines()
    assert lines == [f"== install.sh: PortAudio is missing: run  {sudo}apt-get install -y libportaudio2  then run "
                     f"{REPO}/installer/install.sh again (sisyphus can neither hear nor speak without it)"]
    assert not (tmp_path / ".local" / "bin" / "sisyphus").exists()
    assert not (tmp_path / ".local" / "share" / "sisyphus" / "app").exists()


def test_with_portaudio_it_installs_and_doctor_hears_and_speaks(tmp_path: Path) -> None:
    done = _install(tmp_path, "--profile", "cpu", "--only", "piper")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tray: GTK/AppIndicator" in done.stderr
    assert ".local/bin is not on your PATH" in done.stderr and "ollama pull llama3.2" in done.stderr
    assert "Traceback" not in done.stderr and "error:" not in done.stderr.lower()
    assert "installing sisyphus with uv" in done.stderr  # a thin wrapper over `uv tool install` (README)
    sisyphus = tmp_path / ".local" / "bin" / "sisyphus"
    app_python = sisyphus.read_text(errors="replace").splitlines()[0].removeprefix("#!")
    where = subprocess.run([app_python, "-c", "import engines; print(engines.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env=_fresh_env(tmp_path))
    assert where.stdout.startswith(str(tmp_path)), where  # the installed copy: the checkout may go away
    doctor = subprocess.run([str(sisyphus), "doctor", "--no-llm"], env=_fresh_env(tmp_path), capture_output=True,
                            text=True, timeout=300)
    audio = [line for line in doctor.stdout.splitlines() if "] audio " in line]
    assert len(audio) == 2 and all(line.startswith("[  ok]") for line in audio), doctor.stdout


# -- the way without a clone: the wheel, `uv tool install`, `sisyphus setup`, a spoken turn -----------

def _python_for_tools() -> str:
    """The base interpreter of this venv (uv must not download one: no network but PyPI here)."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(base if base.exists() else Path(sys.base_prefix) / "bin" / "python3")


def _uv() -> str:
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        if os.environ.get("CI"):
            pytest.fail("uv is not installed: the test extra has it (tests/run installs it)")
        pytest.skip("uv is not installed (pip install uv)")
    return uv


def _tool_env(home: Path, uv: str) -> dict[str, str]:
    """A new user who installed uv: HOME, ~/.local/bin and uv on PATH, nothing of this checkout
    (no PYTHONPATH, and the commands run in a folder outside it). The uv cache is kept between runs
    (.cache/uv, or SISYPHUS_TEST_UV_CACHE) so only the first run downloads the engines' packages."""
    env = _fresh_env(home, XDG_RUNTIME_DIR=str(home / "run"), PYTHONUNBUFFERED="1", UV_PYTHON_DOWNLOADS="never",
                     UV_CACHE_DIR=os.environ.get("SISYPHUS_TEST_UV_CACHE", str(REPO / ".cache" / "uv")))
    env["PATH"] = os.pathsep.join([str(home / ".local" / "bin"), str(Path(uv).parent), "/usr/local/bin", "/usr/bin",
                                   "/bin"])
    (home / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
    return env


def test_the_wheel_installs_with_uv_sets_up_the_cpu_profile_and_answers_a_spoken_question(tmp_path: Path) -> None:
    from tests.desktop.test_e2e_cpu import ANSWER, QUESTION, LlmServer, _closeness
    from tests.support.spoken import transcribe

    uv = _uv()
    dist, home, elsewhere = tmp_path / "dist", tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([uv, "build", "--out-dir", str(dist), str(REPO)], check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("sisyphus_assistant-*.whl"))  # built from the sdist beside it, as uv does
    assert next(dist.glob("sisyphus_assistant-*.tar.gz")).stat().st_size > 0
    env = _tool_env(home, uv)

    def run(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(list(args), env=env, cwd=elsewhere, capture_output=True, text=True, timeout=timeout)
        assert not check or done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done

    run(uv, "tool", "install", "--python", _python_for_tools(), str(wheel), timeout=600)
    sisyphus = home / ".local" / "bin" / "sisyphus"
    app_python = sisyphus.read_text(errors="replace").splitlines()[0].removeprefix("#!")
    where = run(app_python, "-c", "import daemon, engines, installer; print(daemon.__file__, engines.__file__)")
    assert str(REPO) not in where.stdout and str(home) in where.stdout, where.stdout  # the installed copy only
    assert run("sisyphus", "--version").stdout.strip().startswith("sisyphus ")

    started = time.monotonic()
    setup = run("sisyphus", "setup", "--profile", "cpu", timeout=900)
    print(f"sisyphus setup --profile cpu from the wheel: {time.monotonic() - started:.0f} s")
    assert "next: `sisyphus doctor`" in setup.stdout and "torch" not in setup.stdout.lower(), setup.stdout
    venvs = home / ".local" / "share" / "sisyphus" / "venvs"
    for name in ("whisper", "piper"):  # each engine venv has the app's own code too, from the installed app
        found = run(str(venvs / name / "bin" / "python"), "-c", "import engines.protocol; print(engines.__file__)")
        assert found.stdout.startswith(str(venvs / name)), found.stdout
    again = run("sisyphus", "setup", "--profile", "cpu", timeout=300)
    assert again.stdout.count("is healthy") == 2 and "installing" not in again.stdout, again.stdout

    llm = LlmServer(tmp_path)
    config = Path(run("sisyphus", "config", "path").stdout.strip())
    assert config.is_relative_to(home) and config.exists()  # setup wrote the documented defaults
    config.write_text(f'[daemon]\nprofile = "cpu"\n[llm]\nbase_url = "{llm.url}"\nmodel = "test-model"\n'
                      'api_key = "sk-test"\n[audio]\nearcons = false\n[asr]\nready_timeout_s = 120.0\n'
                      '[tts]\nready_timeout_s = 120.0\n')
    question, answer = tmp_path / "question.wav", tmp_path / "answer.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(question), QUESTION], check=True, timeout=30)
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen(["sisyphus", "run", "--headless", "--mic-file", str(question),
                                   "--speaker-file", str(answer)], env=env, cwd=elsewhere, stdout=out, stderr=out)
    try:
        status = _wait(lambda: _status(run, daemon, log), 150, "engines ready", log)
        assert status["profile"] == "cpu", status
        run("sisyphus", "ptt", "press")
        time.sleep(_seconds(question) + 0.5)
        run("sisyphus", "ptt", "release")
        _wait(lambda: (s := _status(run, daemon, log)) and s["state"] == "idle" and s["last_timings_ms"], 90,
              "the turn's end", log)
        shown = run("sisyphus", "status").stdout
        assert [line.split()[:2] for line in shown.splitlines() if line.startswith(("asr ", "tts "))] == [
            ["asr", "ready"], ["tts", "ready"]], shown
        heard = transcribe(venvs / "whisper" / "bin" / "python", answer)
        assert any(w in t.lower() for t in llm.user_texts() for w in ("weather", "forecast")), llm.user_texts()
        assert "sunny" in heard.lower() and _closeness(heard, ANSWER) >= 0.8, heard
        warnings = [line for line in log.read_text().splitlines() if " WARNING " in line]
        assert not warnings, warnings
    finally:
        run("sisyphus", "quit", check=False)
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        llm.stop()


def _status(run, daemon: subprocess.Popen, log: Path) -> dict | None:
    assert daemon.poll() is None, f"the daemon exited {daemon.returncode}:\n{log.read_text()[-4000:]}"
    done = run("sisyphus", "status", "--json", check=False)
    if done.returncode != 0:
        return None
    status = json.loads(done.stdout)
    return status if all(e["state"] == "ready" for e in status["engines"].values()) else None


def _wait(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout} s; log:\n{log.read_text()[-4000:]}")


def _seconds(wav: Path) -> float:
    import wave

    with wave.open(str(wav), "rb") as f:
        return f.getnframes() / f.getframerate()
