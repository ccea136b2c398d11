"""``sisyphus models``: real huggingface_hub pulls from a local hub (HF_ENDPOINT) into an HF cache.

The hub is a real HTTP server on 127.0.0.1 speaking the routes huggingface_hub calls for
a model snapshot: ``/api/models/<id>/revision/<rev>`` (commit and files),
``/api/models/<id>/tree/<commit>`` (the recursive file listing with sizes and LFS hashes)
and ``/<id>/resolve/<commit>/<file>`` (HEAD with X-Repo-Commit / ETag / X-Linked-Size, GET
with Range). A knob cuts the connection after N bytes, like a dropped Wi-Fi link; every
request is recorded, so "no request made" is checked on the wire.
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

from daemon.config import load
from daemon.profiles import ASR_MODEL, TTS_BASE_MODEL, TTS_MODEL
from installer import models
from tests.support.venvs import VENVS

constants = pytest.importorskip("huggingface_hub.constants",
                                reason="the app venv installs huggingface_hub (pyproject dependencies)")

REPO = Path(__file__).resolve().parents[2]
FINETUNE = "me/glm-asr-finetuned"  # a hub id a user configured instead of the default
SHA = "0123456789abcdef0123456789abcdef01234567"  # the commit the hub reports for "main"
WEIGHTS_SIZE = 3 * (1 << 20) + 12345
# huggingface_hub writes what it received in chunks of this size: only a cut past one is resumable
BIG_SIZE = 2 * constants.DOWNLOAD_CHUNK_SIZE + 12345
DEAD = "http://127.0.0.1:9"  # nothing listens there: offline


def _repo_files(seed: int, size: int = WEIGHTS_SIZE) -> dict[str, bytes]:
    pattern = bytes(range(seed, 251)) + bytes(range(seed))  # 251: no alignment with any chunk size
    weights = (pattern * (size // 251 + 1))[:size]
    return {"config.json": json.dumps({"seed": seed}).encode(), "model.safetensors": weights,
            "speech_tokenizer/config.json": b"{}"}


def _is_lfs(name: str) -> bool:
    return name.endswith(".safetensors")


def _etag(name: str, data: bytes) -> str:
    """Like the hub: the sha256 for LFS files, the git blob sha1 for the others."""
    if _is_lfs(name):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Hub:
    """A tiny Hugging Face hub: revision info, tree listing, resolve with HEAD/Range, a cut knob."""

    def __init__(self) -> None:
        ids = (ASR_MODEL, TTS_MODEL, TTS_BASE_MODEL, FINETUNE)
        self.repos = {rid: _repo_files(i, BIG_SIZE if rid == TTS_MODEL else WEIGHTS_SIZE)
                      for i, rid in enumerate(ids)}
        self.cut_after: int | None = None  # bytes of a file body sent before the connection drops (once)
        self.cut_at = 0  # where in the file the cut happened
        self.down_after_cut = False  # after the cut, file requests are hung up on until this is reset
        self.requests: list[tuple[str, str, str, str]] = []  # method, path, Range, Authorization
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                hub.serve(self, body=True)

            def do_HEAD(self) -> None:
                hub.serve(self, body=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = h.path.split("?")[0]
        self.requests.append((h.command, path, h.headers.get("Range", ""), h.headers.get("Authorization", "")))
        for rid, files in self.repos.items():
            if path.startswith(f"/api/models/{rid}/revision/"):
                siblings = [{"rfilename": n} for n in files]
                return self._json(h, {"id": rid, "sha": SHA, "siblings": siblings})
            if path.startswith(f"/api/models/{rid}/tree/"):
                return self._json(h, [self._entry(n, b) for n, b in files.items()] +
                                  [{"type": "directory", "path": "speech_tokenizer", "oid": "0" * 40, "size": 0}])
            prefix = f"/{rid}/resolve/"
            if path.startswith(prefix) and self.down_after_cut == "down":
                h.close_connection = True  # hang up without an answer, like a lost link
                return
            if path.startswith(prefix):
                revision, _, name = path[len(prefix):].partition("/")
                if revision in ("main", SHA) and name in files:
                    return self._file(h, name, files[name], body)
        self._send(h, 404, {"X-Error-Code": "RepoNotFound"}, b"not found", body)

    @staticmethod
    def _entry(name: str, data: bytes) -> dict:
        entry = {"type": "file", "path": name, "size": len(data), "oid": _etag(name, data)}
        if _is_lfs(name):
            entry["lfs"] = {"oid": _etag(name, data), "size": len(data), "pointerSize": 134}
        return entry

    def _file(self, h: BaseHTTPRequestHandler, name: str, data: bytes, body: bool) -> None:
        headers = {"X-Repo-Commit": SHA, "ETag": f'"{_etag(name, data)}"', "Accept-Ranges": "bytes"}
        if _is_lfs(name):
            headers.update({"X-Linked-Etag": f'"{_etag(name, data)}"', "X-Linked-Size": str(len(data))})
        start = int(h.headers["Range"].split("=")[1].split("-")[0]) if h.headers.get("Range") and body else 0
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        chunk = data[start:]
        if body and self.cut_after is not None and len(chunk) > self.cut_after:
            cut, self.cut_after = self.cut_after, None
            self.cut_at = start + cut
            self.down_after_cut = self.down_after_cut and "down"
            h.send_response(206 if start else 200)
            for key, value in {**headers, "Content-Length": str(len(chunk)), "Connection": "close"}.items():
                h.send_header(key, value)
            h.end_headers()
            h.wfile.write(chunk[:cut])
            h.wfile.flush()
            h.close_connection = True
            return
        self._send(h, 206 if start else 200, headers, chunk, body)

    def _json(self, h: BaseHTTPRequestHandler, data) -> None:
        self._send(h, 200, {"Content-Type": "application/json"}, json.dumps(data).encode(), True)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, headers: dict, data: bytes, body: bool) -> None:
        h.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(data))}.items():
            h.send_header(key, value)
        h.end_headers()
        if body:
            h.wfile.write(data)

    def ranges(self) -> list[str]:
        return [r for _, _, r, _ in self.requests if r]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    server = Hub()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.close()


def _assert_same(snapshot: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (snapshot / name).read_bytes() == data, name


def test_pull_fills_the_standard_cache_and_the_engine_gets_the_snapshot(hub: Hub, tmp_path: Path) -> None:
    snapshot = models.pull(ASR_MODEL, tmp_path)
    assert snapshot == tmp_path / "models--zai-org--GLM-ASR-Nano-2512" / "snapshots" / SHA
    _assert_same(snapshot, hub.repos[ASR_MODEL])
    assert models.resolve(ASR_MODEL, root=tmp_path) == str(snapshot)  # what the engine loads: no hub needed
    assert models.state(ASR_MODEL, tmp_path) == ("complete", snapshot)
    assert models.resolve(TTS_MODEL, root=tmp_path) == TTS_MODEL  # not cached: the engine fetches the id


def test_hf_token_is_sent_as_users_expect(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token")
    models.pull(TTS_BASE_MODEL, tmp_path)
    api_calls = [auth for _, path, _, auth in hub.requests if path.startswith("/api/")]
    assert api_calls and set(api_calls) == {"Bearer hf_secret_token"}


def test_a_cut_connection_is_resumed_with_a_range_request(hub: Hub, tmp_path: Path) -> None:
    hub.cut_after = constants.DOWNLOAD_CHUNK_SIZE + 1000
    snapshot = models.pull(TTS_MODEL, tmp_path, retries=0)
    _assert_same(snapshot, hub.repos[TTS_MODEL])
    starts = [int(r.split("=")[1].split("-")[0]) for r in hub.ranges()]
    assert starts and 0 < starts[0] <= hub.cut_at  # continued where the cut left it, not restarted


def test_a_model_already_in_the_cache_is_used_without_any_request(hub: Hub, tmp_path: Path) -> None:
    models.pull(ASR_MODEL, tmp_path)
    hub.requests.clear()
    assert models.cmd_pull("asr", tmp_path, None, retries=0) == 0
    assert models.pull(ASR_MODEL, tmp_path) == models.cached(ASR_MODEL, tmp_path)
    assert models.missing_models(None, tmp_path) == [TTS_MODEL, TTS_BASE_MODEL]
    assert hub.requests == []


def test_a_configured_local_path_is_used_as_it_is(hub: Hub, tmp_path: Path, capsys) -> None:
    local = tmp_path / "my-tts"
    local.mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[tts]\nmodel = "{local}"\n')
    settings = load(cfg)
    assert models.resolve(TTS_MODEL, configured=str(local), root=tmp_path) == str(local)
    assert models.missing_models(settings, tmp_path) == [ASR_MODEL, TTS_BASE_MODEL]
    hub.repos.pop(TTS_BASE_MODEL)  # only the local one may be asked for: the base model 404s now
    models.cmd_pull("tts", tmp_path, settings, retries=0)
    assert f"[tts] model is the local path {local}; not downloading" in capsys.readouterr().out
    assert not any(TTS_MODEL in path for _, path, _, _ in hub.requests)


def test_offline_names_what_is_missing_and_a_later_pull_completes(hub: Hub, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    hub.cut_after, hub.down_after_cut = constants.DOWNLOAD_CHUNK_SIZE + 1000, True
    with pytest.raises(models.DownloadError):
        models.pull(TTS_MODEL, tmp_path, retries=0)  # cut mid-file, then the hub is gone
    assert models.state(TTS_MODEL, tmp_path) == ("partial", None)
    assert models.resolve(TTS_MODEL, root=tmp_path) == TTS_MODEL  # never a half model to the engine
    monkeypatch.setenv("HF_ENDPOINT", DEAD)
    with pytest.raises(models.DownloadError) as err:
        models.pull(TTS_MODEL, tmp_path, retries=0, setting="[tts] model")
    text = str(err.value)
    assert f"{TTS_MODEL} is not (completely) in the Hugging Face cache {tmp_path}" in text
    assert "`sisyphus models pull`" in text and f"hf download {TTS_MODEL}" in text
    assert "set [tts] model to a local copy" in text
    assert models.missing_models(None, tmp_path) == [ASR_MODEL, TTS_MODEL, TTS_BASE_MODEL]

    hub.down_after_cut, hub.requests = False, []
    monkeypatch.setenv("HF_ENDPOINT", hub.url)  # back online: the next pull fetches only what is missing
    _assert_same(models.pull(TTS_MODEL, tmp_path, retries=0), hub.repos[TTS_MODEL])
    fetched = [path.rsplit("/", 1)[1] for method, path, _, _ in hub.requests if method == "GET" and "/resolve/" in path]
    assert fetched == ["model.safetensors"]  # huggingface_hub restarts an unfinished file, keeps finished ones


def test_an_unknown_repository_is_not_retried_and_names_the_setting(hub: Hub, tmp_path: Path) -> None:
    with pytest.raises(models.DownloadError, match=r"nobody/nothing at .*Check \[asr\] model.*HF_TOKEN"):
        models.pull("nobody/nothing", tmp_path, retries=3, setting="[asr] model")
    assert len([r for r in hub.requests if r[1].startswith("/api/")]) == 1


def test_a_configured_hub_id_is_pulled_instead_of_the_default(hub: Hub, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[asr]\nmodel = "{FINETUNE}"\n')
    settings = load(cfg)
    assert [w.repo_id for w in models.wanted(settings)] == [FINETUNE, TTS_MODEL, TTS_BASE_MODEL]
    assert models.cmd_pull("asr", tmp_path, settings, retries=0) == 0
    _assert_same(models.cached(FINETUNE, tmp_path), hub.repos[FINETUNE])
    assert models.cached(ASR_MODEL, tmp_path) is None
    assert models.missing_models(settings, tmp_path) == [TTS_MODEL, TTS_BASE_MODEL]
    assert models.resolve(ASR_MODEL, FINETUNE, tmp_path) == str(models.cached(FINETUNE, tmp_path))


def _cli(tmp: Path, url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_ENDPOINT": url, "HF_HUB_CACHE": str(tmp / "hf"), "SISYPHUS_CONFIG":
           str(tmp / "config.toml"), "XDG_DATA_HOME": str(tmp / "data"), **env}
    return subprocess.run([sys.executable, "-m", "installer.models", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_pull_and_list_follow_the_cache(hub: Hub, tmp_path: Path) -> None:
    before = _cli(tmp_path, hub.url, "list", "--profile", "gpu")
    assert before.returncode == 0 and before.stdout.count("missing") == 3, before.stdout
    assert f"Hugging Face cache {tmp_path / 'hf'}" in before.stdout  # HF_HUB_CACHE, as users know it
    pulled = _cli(tmp_path, hub.url, "pull", "tts")
    assert pulled.returncode == 0, pulled.stderr
    assert "100%" in pulled.stderr  # huggingface_hub's progress bars
    listed = _cli(tmp_path, hub.url, "list", "--profile", "gpu").stdout
    assert listed.count("complete") == 2 and listed.count("missing") == 1, listed
    offline = _cli(tmp_path, DEAD, "pull", "asr", "--retries", "0")
    assert offline.returncode == 1
    assert f"{ASR_MODEL} is not (completely) in the Hugging Face cache" in offline.stderr
    flagged = _cli(tmp_path, hub.url, "pull", "asr", HF_HUB_OFFLINE="1")
    assert flagged.returncode == 1 and "HF_HUB_OFFLINE" in flagged.stderr
    again = _cli(tmp_path, DEAD, "pull", "tts")  # cached: offline is fine, nothing is fetched
    assert again.returncode == 0 and again.stdout.count("already in the cache") == 2


def test_cli_list_on_the_cpu_profile_shows_the_shipped_models(tmp_path: Path) -> None:
    missing = _cli(tmp_path, DEAD, "list", "--profile", "cpu")
    assert missing.returncode == 0 and missing.stdout.count("run `sisyphus setup --profile cpu`") == 2
    assert "GLM-ASR" not in missing.stdout
    if not all((VENVS / n / "bin" / "python").exists() for n in ("whisper", "piper")):
        pytest.skip(f"the whisper and piper venvs are not built under {VENVS}")
    venvs = tmp_path / "data" / "sisyphus" / "venvs"
    venvs.mkdir(parents=True)
    for name in ("whisper", "piper"):
        (venvs / name).symlink_to(VENVS / name)
    shipped = _cli(tmp_path, DEAD, "list", "--profile", "cpu").stdout
    assert shipped.count("shipped") == 2 and "Whisper tiny.en" in shipped and "en_US-joe-medium" in shipped
