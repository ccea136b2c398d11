"""The installable app: the right `daemon` package, a light daemon, assets in the wheel, the CLI."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import daemon

REPO = Path(__file__).resolve().parents[2]


def test_daemon_is_this_repos_package_not_python_daemon():
    # PyPI's python-daemon also installs a top-level `daemon`: it must not be the one imported.
    assert Path(daemon.__file__).resolve().parent == REPO / "daemon"
    assert hasattr(daemon, "__version__") and not hasattr(daemon, "DaemonContext")


def test_daemon_never_imports_ml_libraries():
    code = ("import sys, daemon.cli, daemon.app.run, daemon.app.parts, daemon.assistant.turn, daemon.supervisor.supervisor, "
            "daemon.llm.client, installer.doctor, daemon.audio.playback, daemon.audio.capture, daemon.platform.tray.icons; "
            "heavy = [m for m in ('torch', 'transformers', 'qwen_tts', 'scipy') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_ships_assets_and_both_packages(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("*.whl"))
    assert wheel.name.startswith(f"sisyphus_assistant-{daemon.__version__}-")  # the version's one home
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "daemon/_assets/config.toml" in names
    assert "engines/common/runner.py" in names and "engines/fake/tts.py" in names
    assert "installer/venvs.py" in names
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "sisyphus = daemon.cli:main" in entry


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"sisyphus {daemon.__version__}"


def test_config_check_and_path(tmp_path):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('[llm]\nmodel = "m"\n')
    bad.write_text('[llm]\ntimeout_s = "x"\n[hotkey]\nmode = "hold"\n')
    assert run_cli("--config", str(good), "config", "check").returncode == 0
    result = run_cli("--config", str(bad), "config", "check")
    assert result.returncode == 1
    assert str(bad) in result.stderr and "[llm] timeout_s" in result.stderr and "[hotkey] mode" in result.stderr
    assert run_cli("--config", str(good), "config", "path").stdout.strip() == str(good)


def test_config_init_writes_documented_defaults_once(tmp_path):
    path = tmp_path / "new" / "config.toml"
    assert run_cli("--config", str(path), "config", "init").returncode == 0
    assert "# sisyphus settings" in path.read_text()
    again = run_cli("--config", str(path), "config", "init")
    assert again.returncode == 1 and "not overwriting" in again.stderr


def test_run_with_bad_config_explains_and_exits(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[llm\n")
    result = run_cli("--config", str(bad), "run", "--headless", "--fake-engines")
    assert result.returncode == 2 and "TOML syntax error" in result.stderr and str(bad) in result.stderr
    assert bad.read_text() == "[llm\n"


def test_status_when_not_running(tmp_path):
    import os

    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    result = run_cli("status", env=env)
    assert result.returncode == 1 and "not running" in result.stderr


def test_delegated_verbs_take_their_own_options(tmp_path):
    from daemon.cli import split_delegated

    assert split_delegated(["--config", "c.toml", "setup", "--profile", "cpu"]) == (
        ["--config", "c.toml", "setup"], ["--profile", "cpu"])
    assert split_delegated(["status"]) == (["status"], [])
    result = run_cli("--config", str(tmp_path / "c.toml"), "doctor", "--help")
    assert result.returncode == 0 and "--no-llm" in result.stdout


def test_global_options_after_a_delegated_verb_are_the_cli_s():
    from daemon.cli import pull_global_options

    assert pull_global_options(["--profile", "cpu", "--config", "x.toml", "--debug"]) == (
        ["--profile", "cpu"], "x.toml", True)
    assert pull_global_options(["--config=y.toml", "pull"]) == (["pull"], "y.toml", False)
    assert pull_global_options(["--", "--debug"]) == (["--", "--debug"], None, False)  # after --: the verb's own


def test_help_names_verbs_and_options_not_modules():
    shown = run_cli("--help")
    assert shown.returncode == 0
    for verb in ("run", "status", "voices", "devices", "setup", "models", "doctor", "autostart", "--version"):
        assert verb in shown.stdout, verb
    assert "installer." not in shown.stdout and "daemon." not in shown.stdout, shown.stdout
    assert "--json" in run_cli("status", "--help").stdout and "--json" in run_cli("voices", "list", "--help").stdout
