"""``sisyphus models pull|list``: the GPU profile's speech models, downloaded with resume.

Plain resumable HTTP (urllib, ``Range`` requests) from the Hugging Face hub's
``resolve`` URLs, so it runs in the light app venv (no huggingface_hub there).
``HF_ENDPOINT`` picks another hub or a mirror (the tests point it at a local
server), ``HF_TOKEN`` is sent when set. Each model goes into its own plain
directory, ``<models dir>/<org>--<name>``, which ``from_pretrained`` loads as it is:
the commit and its file list are saved first (``manifest.json``), files are
written as ``.part``, checked (size, and sha256 for the LFS weights) and renamed
when whole, and ``complete`` marks a finished model. An interrupted
pull resumes where it stopped; offline, the error names each missing file and
the directory to put it in.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from daemon import paths
from daemon.supervisor.models import COMPLETE, MANIFEST, model_dir, models_dir, wanted

CHUNK = 1 << 20


class DownloadError(Exception):
    """A pull that could not finish; the message says what is missing and what to do."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int | None  # None when the hub did not say
    sha256: str | None = None  # the hub gives it for LFS files (the weights)


@dataclass(frozen=True)
class Manifest:
    """The file list of one commit: a resumed pull keeps downloading that same commit."""

    revision: str
    files: list[RemoteFile]


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _request(url: str, headers: dict[str, str] | None = None) -> urllib.request.Request:
    headers = dict(headers or {})
    if token := os.environ.get("HF_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    return urllib.request.Request(url, headers={"User-Agent": "sisyphus-models", **headers})


def fetch_manifest(repo_id: str, revision: str = "main") -> Manifest:
    """The repository's commit and file list (sizes, LFS checksums) from the hub API."""
    url = f"{endpoint()}/api/models/{repo_id}/revision/{urllib.parse.quote(revision)}?blobs=true"
    with urllib.request.urlopen(_request(url), timeout=30) as reply:
        info = json.load(reply)
    files = [RemoteFile(s["rfilename"], s.get("size"), (s.get("lfs") or {}).get("sha256"))
             for s in info.get("siblings", [])]
    return Manifest(info.get("sha") or revision, files)


def load_manifest(target: Path) -> Manifest | None:
    try:
        data = json.loads((target / MANIFEST).read_text())
        return Manifest(data["revision"], [RemoteFile(**f) for f in data["files"]])
    except (OSError, ValueError, TypeError, KeyError):
        return None


def save_manifest(target: Path, manifest: Manifest) -> None:
    target.mkdir(parents=True, exist_ok=True)
    files = [f.__dict__ for f in manifest.files]
    (target / MANIFEST).write_text(json.dumps({"revision": manifest.revision, "files": files}, indent=1))


Progress = Callable[[str, int, int | None], None]


def download_file(url: str, dest: Path, size: int | None, progress: Progress, sha256: str | None = None) -> None:
    """Download ``url`` to ``dest`` through ``dest.part``, continuing a previous partial file;
    a file whose checksum is wrong is deleted (the next attempt starts it over)."""
    part = dest.with_name(dest.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    if size is not None and done > size:
        part.unlink()
        done = 0
    headers = {"Range": f"bytes={done}-"} if done else {}
    try:
        reply = urllib.request.urlopen(_request(url, headers), timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or size is None or done != size:  # 416: nothing left to send
            raise
        reply = None
    if reply is not None:
        with reply, open(part, "ab" if reply.status == 206 else "wb") as out:
            done = done if reply.status == 206 else 0
            while chunk := reply.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                progress(dest.name, done, size)
    if size is not None and done != size:
        raise DownloadError(f"{dest.name}: got {done} of {size} bytes (the connection ended early)")
    if sha256 and _sha256(part) != sha256:
        part.unlink()
        raise DownloadError(f"{dest.name}: the checksum is wrong (expected sha256 {sha256}); deleted it")
    part.replace(dest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def pull(repo_id: str, root: Path, progress: Progress, retries: int = 3, setting: str = "the model setting") -> Path:
    """Download every file of ``repo_id`` into its model dir; resume what is there."""
    target = model_dir(root, repo_id)
    if (target / COMPLETE).exists():
        return target
    manifest = _manifest(repo_id, target, setting)
    for f in manifest.files:
        dest = target / f.name
        if f.name.startswith("/") or ".." in Path(f.name).parts:
            raise DownloadError(f"{repo_id}: refusing the file name {f.name!r} from {endpoint()} (outside {target})")
        if dest.exists() and (f.size is None or dest.stat().st_size == f.size):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        url = f"{endpoint()}/{repo_id}/resolve/{manifest.revision}/{urllib.parse.quote(f.name)}"
        step = functools.partial(download_file, url, dest, f.size, progress, f.sha256)
        _with_retries(step, retries, repo_id, target, f.name)
    (target / COMPLETE).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
    return target


def _manifest(repo_id: str, target: Path, setting: str) -> Manifest:
    manifest = load_manifest(target)
    if manifest is not None:
        return manifest
    try:
        manifest = fetch_manifest(repo_id)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(
            f"cannot list the files of {repo_id} at {endpoint()} ({_reason(exc)}). Offline: download every "
            f"file of https://huggingface.co/{repo_id}/tree/main into {target}/ and create an empty file "
            f"{target / COMPLETE}, or set {setting} to a local copy") from None
    save_manifest(target, manifest)
    return manifest


def _with_retries(step: Callable[[], None], retries: int, repo_id: str, target: Path, name: str) -> None:
    for attempt in range(retries + 1):
        try:
            return step()
        except (urllib.error.URLError, OSError, DownloadError) as exc:
            if attempt == retries:
                missing = [f.name for f in missing_files(target)]
                raise DownloadError(
                    f"{repo_id}: {name} failed ({_reason(exc)}). Missing in {target}/: {', '.join(missing)}. "
                    f"Run `sisyphus models pull` again to resume, or offline put those files from "
                    f"https://huggingface.co/{repo_id}/tree/main there") from None
            time.sleep(min(2.0**attempt, 10.0) * 0.5)


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", None) or exc)


def missing_files(target: Path) -> list[RemoteFile]:
    manifest = load_manifest(target)
    return [f for f in (manifest.files if manifest else []) if not (target / f.name).exists()]


def state(target: Path) -> tuple[str, int]:
    """("complete" | "partial" | "missing", bytes on disk)."""
    if not target.exists():
        return "missing", 0
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    return ("complete" if (target / COMPLETE).exists() else "partial"), size


def missing_models(settings, root: Path | None = None) -> list[str]:
    """Hub ids the gpu profile needs that are neither configured locally nor downloaded (for doctor)."""
    root = models_dir(root)
    return [w.repo_id for w in wanted(settings) if not w.local and state(model_dir(root, w.repo_id))[0] != "complete"]


class Bar:
    """A one-line progress bar on stderr (a line per 10% when stderr is not a terminal)."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream, self.tty = stream, stream.isatty()
        self._last: tuple[str, int] = ("", -1)

    def __call__(self, name: str, done: int, size: int | None) -> None:
        pct = int(done * 100 / size) if size else -1
        step = pct if self.tty else pct // 10
        if (name, step) == self._last:
            return
        self._last = (name, step)
        filled = max(pct, 0) * 30 // 100
        text = f"  {name[-40:]:<40} [{'#' * filled:<30}] {done / 1e6:8.1f} MB" + (f" {pct:3d}%" if size else "")
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        if self.tty and size and done >= size:
            self.stream.write("\n")
        self.stream.flush()


def _load_settings(config_path: Path):
    from daemon.config.store import ConfigError, load

    try:
        return load(config_path)
    except ConfigError as exc:
        print(f"sisyphus models: ignoring the settings file ({exc}); fix it with `sisyphus config check`",
              file=sys.stderr)
        return None


def cmd_list(root: Path, settings) -> int:
    for w in wanted(settings):
        if w.local:
            print(f"{w.setting:<16} {w.local}  (configured path, used as it is)")
            continue
        target = model_dir(root, w.repo_id)
        what, size = state(target)
        extra = f", missing {len(missing_files(target))} file(s)" if what == "partial" else ""
        print(f"{w.setting:<16} {w.repo_id:<40} {what:<8} {size / 1e9:6.2f} GB  {target}{extra}")
    return 0


def cmd_pull(which: str, root: Path, settings, retries: int) -> int:
    for w in wanted(settings):
        if which not in ("all", w.section):
            continue
        if w.local:
            print(f"{w.setting} is the local path {w.local}; not downloading")
            continue
        print(f"{w.repo_id} -> {model_dir(root, w.repo_id)}")
        try:
            pull(w.repo_id, root, Bar(), retries, w.setting)
        except DownloadError as exc:
            print(f"sisyphus models: {exc}", file=sys.stderr)
            return 1
        print(f"{w.repo_id}: complete")
    return 0


def main(argv: list[str], config_path: Path) -> int:
    parser = argparse.ArgumentParser(prog="sisyphus models", description="Download or list the speech models.")
    sub = parser.add_subparsers(dest="action", required=True)
    pull_p = sub.add_parser("pull", help="download (and resume) the models")
    pull_p.add_argument("which", nargs="?", choices=["asr", "tts", "all"], default="all")
    pull_p.add_argument("--retries", type=int, default=3, help="resumed attempts per file after a cut")
    list_p = sub.add_parser("list", help="what is present, and its size")
    for p in (pull_p, list_p):
        p.add_argument("--dir", type=Path, help=f"models directory (default: {models_dir()})")
    args = parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    root, settings = models_dir(args.dir), _load_settings(config_path)
    if args.action == "list":
        return cmd_list(root, settings)
    return cmd_pull(args.which, root, settings, args.retries)


if __name__ == "__main__":  # `python -m ...` works without the app's CLI (tests, the install scripts)
    sys.exit(main(sys.argv[1:], paths.config_path()))
