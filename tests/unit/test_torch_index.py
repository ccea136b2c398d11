"""installer.torch_index: the one rule for where torch comes from, SISYPHUS_TORCH_INDEX, and the
one short check of the index (a real local HTTP server, and a port nobody listens on)."""
from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from daemon.vram.nvml import GpuInfo
from installer import setup, torch_index

REPO = Path(__file__).resolve().parents[2]
NO_DRIVER = GpuInfo("", (), why="no NVIDIA driver")


@pytest.fixture(autouse=True)
def _no_index_setting(monkeypatch) -> None:
    monkeypatch.delenv(torch_index.ENV, raising=False)
    torch_index.unreachable.cache_clear()


@pytest.fixture
def index_server():
    """An index that serves /whl/cpu/torch/ (HEAD and GET), and 404 elsewhere."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(200 if self.path == "/whl/cpu/torch/" else 404)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/"
    server.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_rule_cpu_index_on_linux_only_cuda_index_on_windows_and_the_setting_wins(monkeypatch) -> None:
    assert torch_index.choose("cpu", platform="linux") == torch_index.CPU_INDEX
    assert torch_index.choose("cpu", platform="win32") is None and torch_index.choose("cpu", platform="darwin") is None
    assert torch_index.choose("cuda", platform="linux") is None  # PyPI's Linux torch is the CUDA build
    assert torch_index.choose("cuda", platform="win32", driver_cuda="12.8").endswith("/cu128")
    monkeypatch.setenv(torch_index.ENV, "https://mirror.example/torch-cpu")
    assert torch_index.choose("cpu", platform="linux") == "https://mirror.example/torch-cpu"
    assert torch_index.choose("cuda", platform="win32") == "https://mirror.example/torch-cpu"
    assert torch_index.choose("cpu", "https://explicit/x", platform="linux") == "https://explicit/x"  # the flag wins
    monkeypatch.setenv(torch_index.ENV, "pypi")
    assert torch_index.choose("cpu", platform="linux") is None
    assert setup.make_plan("auto", NO_DRIVER, platform="linux").torch_index_url is None


def test_an_index_that_answers_is_used(index_server) -> None:
    assert torch_index.unreachable(index_server + "cpu") == ""
    assert torch_index.resolve("cpu", index_server + "cpu") == torch_index.Choice(index_server + "cpu")
    assert "HTTP 404" in torch_index.unreachable(index_server + "cu128")


def test_an_unreachable_index_is_asked_once_briefly_and_skipped_with_a_note() -> None:
    url = f"http://127.0.0.1:{closed_port()}/whl/cpu"
    started = time.monotonic()
    choice = torch_index.resolve("cpu", url)
    assert time.monotonic() - started < torch_index.CHECK_TIMEOUT_S + 1
    assert choice.url is None and url in choice.note and torch_index.ENV in choice.note
    asked: list[str] = []
    torch_index.resolve("cpu", url, check=lambda u: asked.append(u) or "refused")
    assert asked == [url]
    assert torch_index.resolve("cpu", "file:///opt/wheels").url == "file:///opt/wheels"  # pip reads files itself


def test_setup_prints_no_torch_line_where_no_torch_is_installed(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(setup, "build", lambda plan, *a: [])  # the plan and what it says, not the venvs
    assert setup.main(["--profile", "cpu", "--data-dir", str(tmp_path)], tmp_path / "config.toml") == 0
    said = capsys.readouterr().out
    assert "profile: cpu" in said and not any(line.startswith("torch") for line in said.splitlines()), said
    monkeypatch.setenv(torch_index.ENV, f"http://127.0.0.1:{closed_port()}/whl/cpu")
    assert setup.main(["--profile", "cpu", "--only", "asr", "--data-dir", str(tmp_path)], tmp_path / "config.toml") == 0
    said = capsys.readouterr().out
    assert "cannot be reached" in said and "torch: cpu from pip's own index" in said, said


def test_the_module_prints_the_index_for_tests_run() -> None:
    env = {**os.environ, torch_index.ENV: f"http://127.0.0.1:{closed_port()}/whl/cpu"}
    done = subprocess.run([sys.executable, "-m", "installer.torch_index"], env=env, capture_output=True, text=True,
                          cwd=REPO, timeout=30)
    assert done.returncode == 0 and done.stdout == "pypi\n" and "cannot be reached" in done.stderr
    env[torch_index.ENV] = "file:///opt/wheels"
    done = subprocess.run([sys.executable, "-m", "installer.torch_index"], env=env, capture_output=True, text=True,
                          cwd=REPO, timeout=30)
    assert done.stdout == "file:///opt/wheels\n"
