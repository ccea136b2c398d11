"""The llama.cpp server in this process (xllamacpp), and the Wyoming face the supervisor talks to.

Loading checks the file first (exists, is GGUF) so a bad ``[llm] embedded_model`` is a clear,
fatal start-up error (exit 78) instead of llama.cpp's "failed to init server". The HTTP server
binds 127.0.0.1 only. ``describe`` names the model, where it runs and the endpoint.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wyoming.asr import Transcript
from wyoming.event import Event
from wyoming.handle import Handled
from wyoming.info import Attribution, HandleModel, HandleProgram, Info

from engines.common.handler import CancelToken, Connection, Engine, Handler
from engines.protocol.errors import BAD_REQUEST, INTERNAL, EngineError, ModelNotFound
from engines.protocol.version import VERSION

_LOG = logging.getLogger(__name__)
GGUF_MAGIC = b"GGUF"
LOOPBACK = "127.0.0.1"
ATTRIBUTION = Attribution(name="llama.cpp (ggml-org), via xllamacpp", url="https://github.com/ggml-org/llama.cpp")
HANDLE_MAX_TOKENS = 512
# The key the HTTP server requires (set by the daemon in the environment, never on the command line):
# without one, any web page in the user's browser could post to this loopback port (llama.cpp allows
# every CORS origin).
API_KEY_ENV = "SISYPHUS_LLM_API_KEY"


@dataclass(frozen=True)
class Options:
    model: str
    port: int
    name: str = ""
    gpu_layers: int = -1
    context: int = 4096
    threads: int = 0
    temperature: float = 0.3  # the server's default (a request's own temperature wins): small models stay coherent
    debug: bool = False  # llama.cpp's info lines (one per request and slot) too; else warnings and errors


def check_model(path: str) -> Path:
    """The GGUF file to load; ModelNotFound (fatal at start) naming what is wrong and what to do."""
    model = Path(path).expanduser()
    fix = ("set [llm] embedded_model to a GGUF file, or to a hub `owner/repo/file.gguf` pulled with "
           "`sisyphus models pull llm` (empty: the small default model)")
    if not model.is_file():
        raise ModelNotFound(f"the LLM model file {model} does not exist: {fix}")
    with open(model, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelNotFound(f"the LLM model file {model} is not a GGUF file (llama.cpp loads only GGUF): {fix}")
    return model


class LlmEngine(Engine):
    def __init__(self, options: Options) -> None:
        super().__init__()
        model = check_model(options.model)
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = str(model)
        params.hostnames = [LOOPBACK]
        params.port = options.port
        params.n_ctx = options.context
        params.n_gpu_layers = options.gpu_layers
        params.n_parallel = 1
        params.sampling.temp = options.temperature
        if os.environ.get(API_KEY_ENV):
            params.api_keys = [os.environ[API_KEY_ENV]]
        params.verbosity = 3 if options.debug else 2  # llama.cpp: 2 warnings, 3 info (the log gets every line)
        params.model_alias = {options.name or model.stem}
        if options.threads > 0:
            params.cpuparams.n_threads = options.threads
            params.cpuparams_batch.n_threads = options.threads
        try:
            self.server: Any = xlc.Server(params)  # returns once the model is loaded and the port listens
        except RuntimeError as exc:  # llama.cpp logged why just above (stderr, in the daemon's log)
            raise EngineError(f"llama.cpp could not load {model} or listen on {LOOPBACK}:{options.port} ({exc}); "
                              "the engine log above says why", INTERNAL) from None
        self.name = options.name or model.stem
        self.url = f"http://{LOOPBACK}:{options.port}/v1"
        self.where = _where(xlc, options.gpu_layers)
        _LOG.info("%s ready at %s (%s)", self.name, self.url, self.where)

    def info(self) -> Info:
        about = f"llama.cpp server, model {self.name} on {self.where}, at {self.url}"
        model = HandleModel(name=self.name, description=about, attribution=ATTRIBUTION, installed=True,
                            version=None, languages=[])
        program = HandleProgram(name="sisyphus-llm", description=about, attribution=ATTRIBUTION, installed=True,
                                version=VERSION, models=[model])
        return Info(handle=[program])

    def new_handler(self, connection: Connection) -> Handler:
        return LlmHandler(self, connection)

    def chat(self, text: str, token: CancelToken) -> str:
        token.check()
        result = self.server.handle_chat_completions({"messages": [{"role": "user", "content": text}],
                                                      "max_tokens": HANDLE_MAX_TOKENS})
        if not isinstance(result, dict) or "choices" not in result:
            raise EngineError(f"llama.cpp answered {str(result)[:300]}", INTERNAL)
        return str(result["choices"][0]["message"]["content"] or "")

    def close(self) -> None:
        self.server = None  # the server's destructor stops its threads


def _where(xlc: Any, gpu_layers: int) -> str:
    """'CPU', or the GPU(s) llama.cpp sees when layers are offloaded (a CPU-only build sees none)."""
    gpus = [d.get("description") or d.get("name") for d in xlc.get_device_info()
            if "GPU" in str(d.get("type"))]
    if not gpus or gpu_layers == 0:
        return "CPU"
    layers = "all layers" if gpu_layers < 0 else f"{gpu_layers} layers"
    return f"GPU ({', '.join(map(str, gpus))}, {layers})"


class LlmHandler(Handler):
    """Wyoming ``handle``: a transcript in, the model's reply out as ``handled`` (one turn, no history)."""

    engine: LlmEngine

    async def handle_event(self, event: Event) -> None:
        if not Transcript.is_type(event.type):
            raise EngineError(f"the LLM engine handles transcripts only, not {event.type!r}", BAD_REQUEST)
        text = Transcript.from_event(event).text or ""
        reply = await self.run_model(self.engine.chat, text)
        await self.send(Handled(text=reply))
