"""``sisyphus models pull|list``: the speech models, kept in the standard Hugging Face cache.

Downloads go through ``huggingface_hub`` (``snapshot_download``): the shared cache
that transformers, ``hf download`` and other local-model tools use, so a model a
user already has is used as it is and never fetched again (not even a request is
made). A cut connection is resumed with a Range request (an interrupted pull keeps
its finished files; huggingface_hub restarts the unfinished one), checksums, progress bars on stderr, ``HF_ENDPOINT``
(a mirror), ``HF_TOKEN`` (gated or private models), ``HF_HOME`` / ``HF_HUB_CACHE``
and ``HF_HUB_OFFLINE`` all work as users know them from huggingface_hub.

A model setting that names an existing local directory is used as it is. The
look-ups the daemon needs (``resolve``, ``missing_models``) read the cache only,
with no network, and hand the engines the snapshot directory, which they load
with ``from_pretrained`` without asking the hub. huggingface_hub is imported only
when a model is looked up (``sisyphus doctor`` on the cpu profile never needs it).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from daemon import paths
from daemon.config.schema import LlmSettings
from daemon.supervisor.models import REVISIONS, cached, hub_cache, state, wanted



class DownloadError(Exception):
    """A pull that could not finish; the message says what is missing and what to do."""


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def pull(repo_id: str, root: Path | None = None, retries: int = 3, setting: str = "the model setting") -> Path:
    """The snapshot dir of ``repo_id``: the cached one when complete (no request), else downloaded."""
    if (found := cached(repo_id, root)) is not None:
        return found
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if constants.is_offline_mode():
        raise DownloadError(offline_message(repo_id, root, setting, "HF_HUB_OFFLINE is set: unset it to download"))
    for attempt in range(retries + 1):
        try:
            return Path(snapshot_download(repo_id, revision=REVISIONS.get(repo_id), cache_dir=root,
                                          endpoint=endpoint()))
        except (RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError) as exc:
            raise DownloadError(
                f"{repo_id} at {endpoint()}: {_reason(exc)}. Check {setting}; for a gated or private model "
                "accept its terms on the hub and set HF_TOKEN to an access token") from None
        except Exception as exc:  # network down, cut mid-file, disk full: retried, then explained
            if attempt == retries:
                raise DownloadError(offline_message(repo_id, root, setting, _reason(exc))) from None
            time.sleep(min(2.0**attempt, 10.0) * 0.5)
    raise AssertionError("unreachable")


def offline_message(repo_id: str, root: Path | None, setting: str, reason: str) -> str:
    cache = hub_cache(root)
    return (f"{repo_id} is not (completely) in the Hugging Face cache {cache} and could not be downloaded from "
            f"{endpoint()} ({reason}). Run `sisyphus models pull` again when online (it keeps the files "
            f"already downloaded); offline, run `hf download {repo_id}` on a machine with access and copy its cache "
            f"folder to {cache}, or set {setting} to a local copy of the model")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def missing_models(settings, root: Path | None = None) -> list[str]:
    """Hub ids the gpu profile needs that are neither configured locally nor in the cache (for doctor)."""
    return [w.repo_id for w in wanted(settings) if not w.local and cached(w.repo_id, root) is None]


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())  # follows the cache's links


def list_gpu(root: Path | None, settings) -> list[dict]:
    rows = []
    for w in wanted(settings):
        if w.local:
            rows.append(_row(w.setting, w.local, "local", w.local))
            continue
        what, found = state(w.repo_id, root)
        fix = "run `sisyphus models pull` to " + ("resume it" if what == "partial" else "download it")
        rows.append(_row(w.setting, w.repo_id, what, found, "" if found else fix))
    return rows


def list_cpu(data_dir: Path) -> list[dict]:
    """The cpu profile's models ship inside its engine venvs (see daemon/supervisor/cpu.py)."""
    from daemon.supervisor.cpu import PIPER_DATA, PIPER_VOICE, WHISPER_DEFAULT
    from daemon.supervisor.profiles import venv_python

    rows = []
    for setting, venv, inside, name in (("[asr] (whisper)", "whisper", WHISPER_DEFAULT, "Whisper tiny.en"),
                                        ("[tts] (piper)", "piper", PIPER_DATA, PIPER_VOICE)):
        try:
            folder: Path | None = paths.venv_site_packages(venv_python(data_dir, venv)) / inside
        except FileNotFoundError:
            folder = None
        if folder is not None and folder.exists():
            rows.append(_row(setting, name, "shipped", folder))
        else:
            rows.append(_row(setting, name, "missing", None,
                             f"the {venv} venv is not built: run `sisyphus setup --profile cpu`"))
    return rows


def _row(setting: str, model: object, what: str, folder: Path | str | None, fix: str = "") -> dict:
    """One model of ``sisyphus models list`` (daemon/commands/output.py prints it)."""
    found = Path(folder) if folder else None
    size = _size(found) if found is not None and found.is_dir() else None
    return {"setting": setting, "model": str(model), "state": what, "size_bytes": size,
            "path": str(found) if found else None, "fix": fix}


def _load_settings(config_path: Path):
    from daemon.config.store import ConfigError, load

    try:
        return load(config_path)
    except ConfigError as exc:
        print(f"sisyphus models: ignoring the settings file ({exc}); fix it with `sisyphus config check`",
              file=sys.stderr)
        return None


def report(root: Path | None, settings, profile: str = "gpu", data_dir: Path | None = None) -> dict:
    """What ``sisyphus models list`` shows: where the profile's models live, and each one's state."""
    if profile == "fake":
        return {"profile": profile, "where": "the fake profile uses no models (`sisyphus models list --profile gpu` "
                "shows the gpu ones)", "models": []}
    if profile == "cpu":
        return {"profile": profile, "where": "cpu profile: the models ship inside the engine venvs (no download); "
                "`sisyphus models list --profile gpu` shows the gpu profile's",
                "models": list_cpu(data_dir or paths.data_dir())}
    return {"profile": profile, "where": f"gpu profile: Hugging Face cache {hub_cache(root)}",
            "models": list_gpu(root, settings)}


def cmd_list(root: Path | None, settings, profile: str = "gpu", data_dir: Path | None = None,
             json: bool = False) -> int:
    from daemon.commands.output import as_json, models

    found = report(root, settings, profile, data_dir)
    print(as_json(found) if json else "\n".join(models(found)))
    return 0


def cmd_pull(which: str, root: Path | None, settings, retries: int) -> int:
    for w in wanted(settings):
        if which not in ("all", w.section):
            continue
        if w.local:
            print(f"{w.setting} is the local path {w.local}; not downloading")
            continue
        if (found := cached(w.repo_id, root)) is not None:
            print(f"{w.repo_id}: already in the cache, {found}")
            continue
        print(f"{w.repo_id}: downloading from {endpoint()} into {hub_cache(root)}", flush=True)
        try:
            found = pull(w.repo_id, root, retries, w.setting)
        except DownloadError as exc:
            print(f"sisyphus models: {exc}", file=sys.stderr)
            return 1
        print(f"{w.repo_id}: complete, {found}")
    return 0


def _profile(requested: str, settings) -> str:
    from daemon.supervisor.profiles import resolve as resolve_profile

    if requested == "auto":
        requested = settings.daemon.profile if settings is not None else "auto"
    return resolve_profile(requested, paths.data_dir())


def pull_llm(value: str, root: Path | None, llm: LlmSettings, retries: int = 3) -> int:
    """``sisyphus models pull llm [owner/repo/file.gguf]``: one GGUF file into the Hugging Face cache."""
    from daemon.llm import embedded

    value = value or embedded.model_setting(llm)[1]
    if not value:
        print(f"[llm] the embedded engine's default model ({embedded.DEFAULT_NAME}) ships inside its venv: nothing "
              "to download. A real model: `sisyphus models pull llm owner/repo/file.gguf`")
        return 0
    if Path(value).expanduser().is_file():
        print(f"[llm] {value} is a local file; not downloading")
        return 0
    hub = embedded.hub_parts(value)
    if hub is None:
        print(f"sisyphus models: {value!r} is neither a local GGUF file nor owner/repo/file.gguf (a file of a "
              "Hugging Face repository, e.g. the Q4_K_M .gguf of an instruct model)", file=sys.stderr)
        return 2
    found = embedded.cached_file(*hub, root)
    if found is None:
        print(f"[llm] {value}: downloading from {endpoint()} into {hub_cache(root)}", flush=True)
        try:
            found = _download(*hub, root, retries)
        except DownloadError as exc:
            print(f"sisyphus models: {exc}", file=sys.stderr)
            return 1
    print(f"[llm] {value}: in the cache, {found}")
    if value != embedded.model_setting(llm)[1]:
        print(f'to use it: set embedded_model = "{value}" under [llm] in the settings file (`sisyphus config path`)')
    return 0


def _download(repo_id: str, filename: str, root: Path | None, retries: int) -> Path:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    setting = "[llm] embedded_model"
    if constants.is_offline_mode():
        raise DownloadError(offline_message(repo_id, root, setting, "HF_HUB_OFFLINE is set: unset it to download"))
    for attempt in range(retries + 1):
        try:
            return Path(hf_hub_download(repo_id, filename, cache_dir=root, endpoint=endpoint()))
        except (RepositoryNotFoundError, GatedRepoError, EntryNotFoundError) as exc:
            raise DownloadError(f"{repo_id}/{filename} at {endpoint()}: {_reason(exc)}. Check the repository and "
                                "the file name (the hub page's Files tab); for a gated model set HF_TOKEN") from None
        except Exception as exc:  # network down, cut mid-file: retried, then explained
            if attempt == retries:
                raise DownloadError(offline_message(repo_id, root, setting, _reason(exc))) from None
    raise AssertionError("unreachable")


def main(argv: list[str], config_path: Path) -> int:
    parser = argparse.ArgumentParser(prog="sisyphus models", description="Download or list the speech models.")
    sub = parser.add_subparsers(dest="action", required=True)
    pull_p = sub.add_parser("pull", help="download (and resume) the gpu profile's models into the HF cache")
    pull_p.add_argument("which", nargs="?", choices=["asr", "tts", "llm", "all"], default="all")
    pull_p.add_argument("file", nargs="?", default="", help="llm only: owner/repo/file.gguf (default: [llm] "
                        "embedded_model)")
    pull_p.add_argument("--retries", type=int, default=3, help="resumed attempts after a cut")
    list_p = sub.add_parser("list", help="the models of the profile, what is present and its size")
    list_p.add_argument("--profile", choices=["auto", "gpu", "cpu", "fake"], default="auto",
                        help="whose models to list (default: the configured profile)")
    list_p.add_argument("--json", action="store_true", help="print the list as JSON (for scripts)")
    for p in (pull_p, list_p):
        p.add_argument("--dir", type=Path, help="Hugging Face cache folder (default: HF_HUB_CACHE, "
                       "else $HF_HOME/hub, else ~/.cache/huggingface/hub)")
    args = parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    settings = _load_settings(config_path)
    if args.action == "list":
        return cmd_list(args.dir, settings, _profile(args.profile, settings), json=args.json)
    if args.file and args.which != "llm":
        parser.error(f"{args.file!r}: naming a file is for `sisyphus models pull llm owner/repo/file.gguf` only")
    if args.which == "llm":  # one GGUF file for the embedded LLM engine (installer/llm_setup.py)
        return pull_llm(args.file, args.dir, settings.llm if settings else LlmSettings(), args.retries)
    return cmd_pull(args.which, args.dir, settings, args.retries)


if __name__ == "__main__":  # `python -m ...` works without the app's CLI (tests, the install scripts)
    from installer.entry import run

    run(main)
