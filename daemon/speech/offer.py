"""What a TTS engine offers: the voices it can speak now, and whether it clones voices.

Only our own engines (their Wyoming program's name starts with ``sisyphus-``) answer
the ``x-voice-*`` events; other servers ignore them (wyoming-piper never answers), so
voice management is refused at once for those, naming what would serve it.

wyoming-piper advertises its whole catalog (174 voices) as installed, though with
``--local-files-only`` (the cpu profile) it can speak only the voices whose files lie in
its ``--data-dir`` folders: for a piper we run, those files decide what is offered.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from wyoming.info import Info, TtsProgram, TtsVoice

from engines.protocol.voices import OWN_PROGRAM_PREFIX

CLONING_NEEDS = ("cloned voices need sisyphus' own TTS engine (Qwen3-TTS): the gpu profile "
                 "(`sisyphus setup --profile gpu`, then `[daemon] profile = \"gpu\"`), or `[tts] uri` of a "
                 "machine that runs it, on its Wyoming side (tcp://HOST:PORT: the OpenAI audio API clones no voices)")


def programs(info: Info | None) -> list[TtsProgram]:
    return [p for p in (info.tts if info else None) or [] if p.installed]


def manages_voices(info: Info | None) -> bool:
    """True when the engine answers x-voice-* (add, remove, list cloned voices)."""
    return any(p.name.startswith(OWN_PROGRAM_PREFIX) for p in programs(info))


def cannot_clone(info: Info | None) -> str:
    """Why voices cannot be added or removed on this engine, and what would serve them."""
    names = ", ".join(f"{p.name} {p.version or ''}".strip() for p in programs(info)) or "unknown"
    return f"the speech engine ({names}) cannot clone voices: it speaks only its own voices; {CLONING_NEEDS}"


def unknown_voice(name: str, offered: list[str] | None) -> str:
    """Why ``name`` cannot be chosen: the voices that can (or that none are known yet)."""
    if offered is None:
        return (f"cannot check the voice {name!r} yet: the speech engine has not described its voices "
                "(it is starting); try again when `sisyphus status` shows tts ready")
    listing = ", ".join(offered[:20]) + (f" and {len(offered) - 20} more" if len(offered) > 20 else "")
    return (f"the speech engine has no voice named {name!r}; it offers: {listing or 'none'}. "
            "Choose one with `sisyphus set-voice NAME` (`sisyphus voices list` describes them)")


def offered_voices(info: Info | None, argv: Sequence[str] = ()) -> list[TtsVoice]:
    """The voices the engine can speak now (``argv``: how we run it, if we do)."""
    voices = [v for p in programs(info) for v in p.voices if v.installed]
    local = piper_voice_files(argv)
    if local is not None:
        voices = [v for v in voices if v.name in local]
    return voices


def offered_names(info: Info | None, argv: Sequence[str] = ()) -> list[str]:
    return [v.name for v in offered_voices(info, argv)]


def piper_voice_files(argv: Sequence[str]) -> set[str] | None:
    """Names of the voices (``NAME.onnx`` beside ``NAME.onnx.json``) in a wyoming-piper's data dirs;
    None when ``argv`` does not run wyoming-piper with a data dir."""
    if not any(part == "wyoming_piper" or Path(part).name == "wyoming-piper" for part in argv):
        return None
    dirs = [Path(value) for flag, value in zip(argv, argv[1:]) if flag == "--data-dir"]
    dirs += [Path(part.split("=", 1)[1]) for part in argv if part.startswith("--data-dir=")]
    if not dirs:
        return None
    return {onnx.name[:-len(".onnx")] for folder in dirs if folder.is_dir() for onnx in folder.glob("*.onnx")
            if onnx.with_name(onnx.name + ".json").is_file()}
