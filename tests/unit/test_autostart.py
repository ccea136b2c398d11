"""Autostart on all three OSes, on any OS: real files in tmp dirs, the one OS call faked."""
from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.platform.autostart import AutostartError, DummyAutostart, daemon_command, get_autostart
from daemon.platform.autostart import macos, windows
from daemon.platform.autostart.linux import LinuxAutostart, exec_value, parse_exec, read_entry
from daemon.platform.autostart.macos import MacAutostart
from daemon.platform.autostart.windows import WindowsAutostart, windowless

POSIX_CMD = ["/opt/sisyphus/venv/bin/python", "-m", "daemon.cli", "run"]
WIN_CMD = [r"C:\Program Files\Sisyphus\venv\Scripts\python.exe", "-m", "daemon.cli", "run"]


@pytest.fixture
def linux(tmp_path: Path) -> LinuxAutostart:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CONFIG_DIRS": str(tmp_path / "etc-xdg")}
    return LinuxAutostart(environ=env, home=tmp_path)


# ---- Linux: XDG autostart ------------------------------------------------------------

def test_linux_round_trip(linux: LinuxAutostart, tmp_path: Path) -> None:
    assert not linux.is_enabled()
    linux.enable(POSIX_CMD)
    assert linux.path == tmp_path / "config" / "autostart" / "io.github.sisyphus.Sisyphus.desktop"
    assert linux.is_enabled()
    entry = read_entry(linux.path)
    assert parse_exec(entry["Exec"]) == POSIX_CMD
    assert entry["X-GNOME-Autostart-enabled"] == "true" and entry["Type"] == "Application"
    linux.disable()
    assert not linux.path.exists() and not linux.is_enabled()
    linux.disable()  # disabling twice is fine


def test_linux_honours_gnome_toggle_and_hidden(linux: LinuxAutostart) -> None:
    linux.enable(POSIX_CMD)
    text = linux.path.read_text()
    linux.path.write_text(text.replace("X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-enabled=false"))
    assert not linux.is_enabled()  # the user switched it off in "Startup Applications"
    linux.path.write_text(text + "Hidden=true\n")
    assert not linux.is_enabled()
    linux.enable(POSIX_CMD)  # enabling again rewrites the entry
    assert linux.is_enabled()


def test_linux_masks_a_system_entry_instead_of_deleting(linux: LinuxAutostart, tmp_path: Path) -> None:
    system = tmp_path / "etc-xdg" / "autostart" / linux.file_name
    system.parent.mkdir(parents=True)
    system.write_text("[Desktop Entry]\nType=Application\nName=Sisyphus\nExec=/usr/bin/sisyphus run\n")
    assert linux.is_enabled()  # installed system-wide by a package
    linux.disable()
    assert read_entry(linux.path)["Hidden"] == "true" and system.exists()
    assert not linux.is_enabled()


@pytest.mark.parametrize("cmd", [
    POSIX_CMD,
    ["/home/me/my apps/python", "--name=50%", 'say "hi"', "$HOME", "back\\slash", "", "tab\there"],
])
def test_exec_quoting_round_trips(cmd: list[str]) -> None:
    value = exec_value(cmd)
    assert parse_exec(value) == cmd
    assert "%" not in value.replace("%%", "")  # a single % would be a field code


def test_linux_rejects_relative_interpreter_and_line_breaks(linux: LinuxAutostart) -> None:
    with pytest.raises(ValueError, match="absolute path"):
        linux.enable(["python3", "-m", "daemon.cli"])
    with pytest.raises(ValueError, match="line break"):
        linux.enable(["/usr/bin/python3", "a\nb"])
    assert not linux.path.exists()


def test_linux_unwritable_dir_names_the_file(linux: LinuxAutostart) -> None:
    linux.user_dir.parent.mkdir(parents=True)
    linux.user_dir.write_text("not a directory")
    with pytest.raises(AutostartError, match="autostart"):
        linux.enable(POSIX_CMD)


def test_desktop_file_validates(linux: LinuxAutostart) -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("desktop-file-validate missing in CI: apt-get install desktop-file-utils")
        pytest.skip("desktop-file-validate not installed (apt-get install desktop-file-utils)")
    linux.enable(["/opt/my apps/python", "-m", "daemon.cli", "run", "--profile=50%"])
    done = subprocess.run([tool, str(linux.path)], capture_output=True, text=True)
    assert done.returncode == 0 and "error" not in done.stdout.lower(), done.stdout + done.stderr
    linux.disable()
    system = linux.system_dirs[0] / linux.file_name
    system.parent.mkdir(parents=True)
    system.write_text(read_entry_text(POSIX_CMD))
    linux.disable()  # writes the hidden mask
    done = subprocess.run([tool, str(linux.path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def read_entry_text(cmd: list[str]) -> str:
    return f"[Desktop Entry]\nType=Application\nName=Sisyphus\nExec={exec_value(cmd)}\n"


# ---- Windows: HKCU Run key (winreg faked) ------------------------------------------

@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values: dict[str, str] = {}

    def fake_run_key(op: str, name: str, value: str | None = None) -> str | None:
        if op == "set":
            values[name] = value
        elif op == "delete":
            if name not in values:
                return None
            del values[name]
        else:
            return values.get(name)
        return None

    monkeypatch.setattr(windows, "_run_key", fake_run_key)
    return values


def test_windows_round_trip(registry: dict[str, str]) -> None:
    auto = WindowsAutostart()
    assert not auto.is_enabled()
    auto.enable(WIN_CMD)
    assert registry == {"Sisyphus": r'"C:\Program Files\Sisyphus\venv\Scripts\pythonw.exe" -m daemon.cli run'}
    assert auto.is_enabled()
    auto.disable()
    assert registry == {} and not auto.is_enabled()
    auto.disable()


def test_windows_keeps_other_interpreters_and_refuses_relative() -> None:
    assert windowless(r"C:\Sisyphus\sisyphus.exe") == r"C:\Sisyphus\sisyphus.exe"
    assert windowless(r"C:\Py\PYTHON.EXE") == r"C:\Py\pythonw.exe"
    with pytest.raises(ValueError, match="absolute path"):
        WindowsAutostart().enable(["python.exe", "-m", "daemon.cli"])


def test_windows_registry_error_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(op: str, name: str, value: str | None = None) -> None:
        raise PermissionError(5, "Access is denied")

    monkeypatch.setattr(windows, "_run_key", denied)
    with pytest.raises(AutostartError, match=r"HKEY_CURRENT_USER\\Software\\Microsoft"):
        WindowsAutostart().enable(WIN_CMD)


@pytest.mark.skipif(sys.platform != "win32", reason="the real registry exists only on Windows")
def test_windows_real_registry_round_trip() -> None:
    auto = WindowsAutostart(value_name="SisyphusTest")
    auto.enable([sys.executable, "-c", "pass"])
    try:
        assert auto.is_enabled()
    finally:
        auto.disable()
    assert not auto.is_enabled()


# ---- macOS: LaunchAgent (launchctl faked) ------------------------------------------

@pytest.fixture
def launchctl(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(macos, "_launchctl", lambda *args: calls.append(args) or 0)
    return calls


def test_macos_round_trip(tmp_path: Path, launchctl: list[tuple[str, ...]]) -> None:
    auto = MacAutostart(home=tmp_path)
    assert not auto.is_enabled()
    auto.enable(POSIX_CMD)
    agent = plistlib.loads(auto.path.read_bytes())
    assert auto.path == tmp_path / "Library" / "LaunchAgents" / "io.github.sisyphus.Sisyphus.plist"
    assert agent["ProgramArguments"] == POSIX_CMD and agent["Label"] == "io.github.sisyphus.Sisyphus"
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert auto.is_enabled()
    assert [c[0] for c in launchctl] == ["enable"]  # clears a stale override; never starts a 2nd daemon
    assert launchctl[0][1].endswith("/io.github.sisyphus.Sisyphus")
    auto.disable()
    assert not auto.path.exists() and not auto.is_enabled()


def test_macos_unreadable_plist_reads_as_disabled(tmp_path: Path, launchctl: list) -> None:
    auto = MacAutostart(home=tmp_path)
    auto.path.parent.mkdir(parents=True)
    auto.path.write_text("not a plist")
    assert not auto.is_enabled()


# ---- selection and the dummy ---------------------------------------------------------

@pytest.mark.parametrize("platform, cls", [
    ("linux", LinuxAutostart), ("freebsd14", LinuxAutostart), ("win32", WindowsAutostart),
    ("darwin", MacAutostart), ("dummy", DummyAutostart),
])
def test_get_autostart_by_platform(platform: str, cls: type) -> None:
    assert type(get_autostart(platform)) is cls


def test_env_selects_dummy_and_command_is_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SISYPHUS_AUTOSTART", "dummy")
    auto = get_autostart()
    auto.enable(daemon_command())
    assert auto.is_enabled() and Path(auto.command[0]).is_absolute()
    auto.disable()
    assert not auto.is_enabled()


# ---- `sisyphus autostart` --------------------------------------------------------------

def test_cli_enable_status_disable_keeps_the_setting_in_step(
        linux: LinuxAutostart, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from daemon.config.store import load
    from daemon.platform.autostart import cli

    monkeypatch.setattr(cli, "get_autostart", lambda: linux)
    config = tmp_path / "conf" / "config.toml"
    assert cli.main(["enable"], config) == 0
    assert parse_exec(read_entry(linux.path)["Exec"]) == [
        sys.executable, "-m", "daemon.cli", "--config", str(config.resolve()), "run"]
    assert load(config).daemon.autostart is True
    assert cli.main(["status"], config) == 0
    assert f"autostart: enabled ({linux.path})" in capsys.readouterr().out
    assert cli.main(["disable"], config) == 0
    assert not linux.is_enabled() and load(config).daemon.autostart is False


def test_cli_reports_an_unwritable_entry(linux: LinuxAutostart, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from daemon.platform.autostart import cli

    monkeypatch.setattr(cli, "get_autostart", lambda: linux)
    linux.user_dir.parent.mkdir(parents=True)
    linux.user_dir.write_text("a file where the autostart dir should be")
    assert cli.main(["enable"], tmp_path / "config.toml") == 1
    assert "cannot write the autostart entry" in capsys.readouterr().err
    assert not (tmp_path / "config.toml").exists(), "the setting must not claim what did not happen"


def test_locations_name_the_entry(tmp_path: Path) -> None:
    assert WindowsAutostart().location == r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run\Sisyphus"
    assert MacAutostart(home=tmp_path).location.endswith("LaunchAgents/io.github.sisyphus.Sisyphus.plist")
    assert "dummy" in DummyAutostart().location
