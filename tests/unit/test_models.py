"""``sisyphus models``: downloads from a local hub (HF_ENDPOINT), resume after a cut, offline errors.

The hub is a real HTTP server on 127.0.0.1 speaking the two endpoints the puller uses:
``/api/models/<id>/revision/main`` (file list with sizes) and ``/<id>/resolve/main/<file>``
(with ``Range``). A knob cuts the connection after N bytes, like a dropped Wi-Fi link.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from daemon.supervisor.models import ASR_MODEL, TTS_BASE_MODEL, TTS_MODEL, resolve
from installer import models

REPO = Path(__file__).resolve().parents[2]
FINETUNE = "me/glm-asr-finetuned"  # a hub id a user configured instead of the default
SHA = "0123456789abcdef0123456789abcdef01234567"  # the commit the hub reports for "main"


def _repo_files(seed: int) -> dict[str, bytes]:
    pattern = bytes(range(seed, 251)) + bytes(range(seed))  # 251: no alignment with the chunk size
    weights = (pattern * (3 * models.CHUNK // 251 + 50))[: 3 * models.CHUNK + 12345]
    return {"config.json": json.dumps({"seed": seed}).encode(), "model.safetensors": weights,
            "speech_tokenizer/config.json": b"{}"}


class Hub:
    """A tiny Hugging Face hub: file lists, resolve URLs with Range, and a cut knob."""

    def __init__(self) -> None:
        ids = (ASR_MODEL, TTS_MODEL, TTS_BASE_MODEL, FINETUNE)
        self.repos = {rid: _repo_files(i) for i, rid in enumerate(ids)}
        self.cut_after: int | None = None  # bytes sent before the connection drops (once)
        self.corrupt_once = False  # flip one byte of the next weights download
        self.ranges: list[str] = []
        self.revisions: set[str] = set()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                hub.serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        for rid, files in self.repos.items():
            if path == f"/api/models/{rid}/revision/main":
                siblings = [self._sibling(n, b) for n, b in files.items()]
                return self._send(h, 200, json.dumps({"id": rid, "sha": SHA, "siblings": siblings}).encode())
            prefix = f"/{rid}/resolve/"
            if path.startswith(prefix):
                revision, _, name = path[len(prefix):].partition("/")
                self.revisions.add(revision)
                if revision in ("main", SHA) and name in files:
                    return self._file(h, files[name])
        self._send(h, 404, b"not found")

    @staticmethod
    def _sibling(name: str, data: bytes) -> dict:
        """Like the hub: weights are LFS files and come with their sha256."""
        lfs = {"lfs": {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}
        return {"rfilename": name, "size": len(data), **(lfs if name.endswith(".safetensors") else {})}

    def _file(self, h: BaseHTTPRequestHandler, data: bytes) -> None:
        start = 0
        if rng := h.headers.get("Range"):
            self.ranges.append(rng)
            start = int(rng.split("=")[1].split("-")[0])
        body = data[start:]
        if self.corrupt_once and len(data) > models.CHUNK:
            self.corrupt_once = False
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        h.send_response(206 if start else 200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if self.cut_after is not None and len(body) > self.cut_after:
            cut, self.cut_after = self.cut_after, None
            h.wfile.write(body[:cut])
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(body)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    server = Hub()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield server
    server.close()


def _quiet(name: str, done: int, size: int | None) -> None:
    pass


def _assert_same(target: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (target / name).read_bytes() == data, name
    assert (target / models.COMPLETE).exists()
    assert not list(target.rglob("*.part"))


def test_pull_downloads_every_file(hub: Hub, tmp_path: Path) -> None:
    target = models.pull(ASR_MODEL, tmp_path, _quiet)
    assert target == tmp_path / "zai-org--GLM-ASR-Nano-2512"
    _assert_same(target, hub.repos[ASR_MODEL])
    assert resolve(ASR_MODEL, root=tmp_path) == str(target)  # what the engine should load
    assert hub.revisions == {SHA}  # files come from the listed commit, not a moving "main"


def test_a_corrupt_download_is_deleted_and_fetched_again(hub: Hub, tmp_path: Path) -> None:
    hub.corrupt_once = True
    with pytest.raises(models.DownloadError, match=r"model\.safetensors: the checksum is wrong"):
        models.pull(ASR_MODEL, tmp_path, _quiet, retries=0)
    target = models.model_dir(tmp_path, ASR_MODEL)
    assert not (target / "model.safetensors").exists() and not (target / "model.safetensors.part").exists()
    hub.corrupt_once = True
    models.pull(ASR_MODEL, tmp_path, _quiet, retries=1)  # the retry starts the file over
    _assert_same(target, hub.repos[ASR_MODEL])


def test_a_cut_connection_is_resumed_with_a_range_request(hub: Hub, tmp_path: Path) -> None:
    hub.cut_after = models.CHUNK + 1000
    target = models.pull(TTS_MODEL, tmp_path, _quiet, retries=1)
    _assert_same(target, hub.repos[TTS_MODEL])
    assert hub.ranges == [f"bytes={models.CHUNK + 1000}-"]


def test_a_second_run_resumes_what_the_first_left(hub: Hub, tmp_path: Path) -> None:
    hub.cut_after = 2 * models.CHUNK
    with pytest.raises(models.DownloadError, match=r"model\.safetensors failed.*Missing in .*: model\.safetensors"):
        models.pull(ASR_MODEL, tmp_path, _quiet, retries=0)
    target = models.model_dir(tmp_path, ASR_MODEL)
    assert (target / "model.safetensors.part").stat().st_size == 2 * models.CHUNK
    assert models.state(target)[0] == "partial"
    models.pull(ASR_MODEL, tmp_path, _quiet, retries=0)
    _assert_same(target, hub.repos[ASR_MODEL])
    assert hub.ranges == [f"bytes={2 * models.CHUNK}-"]


def test_offline_names_the_missing_files_and_where_they_go(hub: Hub, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    hub.cut_after = 10
    with pytest.raises(models.DownloadError):
        models.pull(TTS_BASE_MODEL, tmp_path, _quiet, retries=0)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: offline
    target = models.model_dir(tmp_path, TTS_BASE_MODEL)
    with pytest.raises(models.DownloadError) as err:
        models.pull(TTS_BASE_MODEL, tmp_path, _quiet, retries=0)
    text = str(err.value)
    assert f"Missing in {target}/" in text and "model.safetensors" in text
    assert "speech_tokenizer/config.json" in text and "config.json" in text

    fresh = tmp_path / "fresh"
    with pytest.raises(models.DownloadError, match=r"cannot list the files of zai-org/GLM-ASR-Nano-2512.*"
                       r"into .*fresh/zai-org--GLM-ASR-Nano-2512/.*\[asr\] model"):
        models.pull(ASR_MODEL, fresh, _quiet, retries=0, setting="[asr] model")


def test_missing_models_and_configured_paths(hub: Hub, tmp_path: Path) -> None:
    from daemon.config.store import load

    settings = load(tmp_path / "none.toml")
    assert models.missing_models(settings, tmp_path) == [ASR_MODEL, TTS_MODEL, TTS_BASE_MODEL]
    models.pull(ASR_MODEL, tmp_path, _quiet)
    local = tmp_path / "my-tts"
    local.mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[tts]\nmodel = "{local}"\n')
    assert models.missing_models(load(cfg), tmp_path) == [TTS_BASE_MODEL]
    assert resolve(TTS_MODEL, configured=str(local), root=tmp_path) == str(local)


def test_a_configured_hub_id_is_pulled_instead_of_the_default(hub: Hub, tmp_path: Path) -> None:
    from daemon.config.store import load

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[asr]\nmodel = "{FINETUNE}"\n')
    settings = load(cfg)
    assert [w.repo_id for w in models.wanted(settings)] == [FINETUNE, TTS_MODEL, TTS_BASE_MODEL]
    assert models.cmd_pull("asr", tmp_path, settings, retries=0) == 0
    _assert_same(models.model_dir(tmp_path, FINETUNE), hub.repos[FINETUNE])
    assert not models.model_dir(tmp_path, ASR_MODEL).exists()
    assert models.missing_models(settings, tmp_path) == [TTS_MODEL, TTS_BASE_MODEL]
    assert resolve(ASR_MODEL, FINETUNE, tmp_path) == str(models.model_dir(tmp_path, FINETUNE))
    assert resolve(TTS_MODEL, "", tmp_path) == TTS_MODEL  # not downloaded: the engine fetches it


def _cli(tmp: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_ENDPOINT": url, "SISYPHUS_CONFIG": str(tmp / "config.toml")}
    return subprocess.run([sys.executable, "-m", "installer.models", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_pull_and_list(hub: Hub, tmp_path: Path) -> None:
    root = tmp_path / "models"
    before = _cli(tmp_path, hub.url, "list", "--dir", str(root))
    assert before.returncode == 0 and before.stdout.count("missing") == 3
    pulled = _cli(tmp_path, hub.url, "pull", "tts", "--dir", str(root))
    assert pulled.returncode == 0, pulled.stderr
    assert "model.safetensors" in pulled.stderr and "100%" in pulled.stderr  # the progress bar
    listed = _cli(tmp_path, hub.url, "list", "--dir", str(root)).stdout
    assert listed.count("complete") == 2 and listed.count("missing") == 1
    offline = _cli(tmp_path, "http://127.0.0.1:9", "pull", "asr", "--dir", str(root))
    assert offline.returncode == 1 and "cannot list the files of zai-org/GLM-ASR-Nano-2512" in offline.stderr
