"""installer.venvs.Pip: every pip call into an engine venv, a venv without pip of its own (as `uv venv` makes) included.

Real venvs and real pip runs; the wheel is built here, so no index is needed (but by the ASR fix-up test,
which fetches its one wheel from the package index as `sisyphus setup` does)."""
from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from daemon.paths import venv_python
from installer import fixups
from installer.venvs import Pip


def make_wheel(folder: Path, name: str = "sisyphus_probe", version: str = "1.0") -> Path:
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": "ANSWER = 42\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(wheel, "w") as out:
        for path, text in files.items():
            out.writestr(path, text)
        out.writestr(f"{info}/RECORD", "".join(f"{p},,\n" for p in files) + f"{info}/RECORD,,\n")
    return wheel


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory) -> Path:
    """A venv with no pip in it, like the ones `uv venv` makes."""
    dest = tmp_path_factory.mktemp("bare") / "venv"
    venv.EnvBuilder(with_pip=False).create(dest)
    return venv_python(dest)


def imports(python: Path, module: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0


def test_a_venv_without_pip_is_installed_into_and_uninstalled_from(bare_venv, tmp_path):
    said: list[str] = []
    pip = Pip(bare_venv, said.append)
    assert not pip.has_own_pip()
    pip.install("--no-deps", str(make_wheel(tmp_path)))
    assert imports(bare_venv, "sisyphus_probe") and not imports(bare_venv, "pip")  # into the venv, pip not added
    assert pip.run("uninstall", "sisyphus_probe")  # never asks (-y)
    assert not imports(bare_venv, "sisyphus_probe")
    assert said and all(line.startswith("$ ") for line in said)


def test_a_failing_install_raises_and_run_says_false(bare_venv, tmp_path):
    pip = Pip(bare_venv, lambda _m: None)
    with pytest.raises(subprocess.CalledProcessError):
        pip.install("--no-deps", str(tmp_path / "missing-1.0-py3-none-any.whl"))
    assert pip.run("install", "--no-deps", str(tmp_path / "missing-1.0-py3-none-any.whl")) is False


def test_the_venvs_own_pip_is_used_when_it_has_one(tmp_path):
    if not subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        pytest.skip("the test interpreter has no pip")
    pip = Pip(Path(sys.executable), lambda _m: None)
    assert pip.command("uninstall", "x") == [sys.executable, "-m", "pip", "uninstall", "-q",
                                            "--disable-pip-version-check", "-y", "x"]


def test_uv_is_asked_with_the_venvs_python_and_no_pip_only_flags(tmp_path):
    pip = Pip(tmp_path / "bin" / "python", lambda _m: None, uv="/opt/uv")
    assert pip.command("install", "-r", "req.txt") == ["/opt/uv", "pip", "install", "--python",
                                                       str(tmp_path / "bin" / "python"), "-r", "req.txt"]
    assert pip.command("uninstall", "x")[-1] == "x" and "-y" not in pip.command("uninstall", "x")


def test_the_asr_fixup_works_in_a_venv_without_pip(bare_venv):
    """The Silero VAD file, taken from the faster-whisper wheel on the index, lands in the venv (then is kept)."""
    said: list[str] = []
    fixups.asr(Pip(bare_venv, said.append), said.append)
    prefix = subprocess.run([str(bare_venv), "-c", "import sys; print(sys.prefix)"], capture_output=True,
                            text=True, check=True).stdout.strip()
    assert (Path(prefix) / "share" / "sisyphus" / "silero_vad_v6.onnx").is_file(), said
    said.clear()
    fixups.asr(Pip(bare_venv, said.append), said.append)
    assert said == [f"[asr] VAD model present: {Path(prefix) / 'share' / 'sisyphus' / 'silero_vad_v6.onnx'}"]


def test_a_venv_made_by_uv_is_served_by_uvs_pip(tmp_path):
    import shutil

    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (the bare-venv tests above cover a venv without pip)")
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(tmp_path / "venv")], check=True)
    python = venv_python(tmp_path / "venv")
    pip = Pip(python, lambda _m: None, uv=uv)
    assert not pip.has_own_pip()
    pip.install("--no-deps", str(make_wheel(tmp_path)))
    assert imports(python, "sisyphus_probe")
    assert pip.run("uninstall", "sisyphus_probe") and not imports(python, "sisyphus_probe")
