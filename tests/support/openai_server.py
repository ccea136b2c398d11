"""A real local HTTP server speaking the OpenAI chat-completions protocol, scripted.

Tests talk to it over a real socket with the real ``openai`` client, so what is
tested is what users run: SSE framing, chunked bodies, status codes, a stream cut
mid-way, a client that hangs up. Stdlib only (asyncio), 127.0.0.1, ephemeral port.

In-process::

    async with OpenAIServer([Script(reply="Hi there.")]) as server:
        client = LlmClient(server.url, ...)

As a subprocess (the daemon's end-to-end tests)::

    python -m tests.support.openai_server --port 0 --script s.json --log requests.jsonl

prints ``PORT <n>`` on stdout once listening. The script file holds either a list
of scripts (answered in order) or ``{"queue": [...], "rules": [...], "default": {...},
"model": "...", "api_key": "..."}``; a rule is a script with ``"match": "weather"``,
chosen (once the queue is empty) when the last user message contains it.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from tests.support.loop_thread import LoopThread


@dataclass
class Script:
    """How to answer one chat request."""

    reply: str = "Hello! How can I help?"
    deltas: list[str] | None = None  # explicit split; default: word by word
    first_token_delay_s: float = 0.0  # after the headers and the role chunk
    delta_delay_s: float = 0.0
    status: int = 200  # != 200: an OpenAI-style error body instead of a reply
    error_message: str = "scripted error"
    error_type: str = "server_error"
    disconnect_after: int | None = None  # close the socket after N content deltas
    hang_after: int | None = None  # stop sending (keep the socket) after N deltas
    hang_before_headers: bool = False  # never answer at all
    reasoning: str = ""  # sent first as reasoning_content deltas, never as content
    role_chunk: bool = True
    usage: bool = False
    finish_reason: str | None = "stop"
    match: str | None = None  # for rules: a substring of the last user message
    raw_events: list[str] | None = None  # send these SSE data payloads verbatim instead
    # after the reply's text: these calls ({"name", "arguments": dict or str, "id"?}) as streamed
    # delta.tool_calls, finish_reason "tool_calls"; "openai": id/name first, then the arguments in
    # pieces; "ollama": each call whole in one chunk
    tool_calls: list[dict] | None = None
    tool_style: str = "openai"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Script":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown script keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)

    def split(self, body: Any = None) -> list[str]:
        """The reply's deltas; ``{tool}`` in the reply is the last tool result the request carried."""
        if self.deltas is not None:
            return list(self.deltas)
        return _words(self.reply.replace("{tool}", _last_tool_result(body)) if "{tool}" in self.reply else self.reply)


def _words(text: str) -> list[str]:
    """"a b c" -> ["a ", "b ", "c"]: deltas the way LLM servers send them."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]] if text else []


@dataclass
class RequestRecord:
    """One request as the server saw it, and how it ended."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    started_at: float = field(default_factory=time.time)
    status: int = 0
    deltas_sent: int = 0
    client_disconnected: bool = False
    disconnected_at: float | None = None
    ended_at: float | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))


def _as_script(item: Script | dict[str, Any]) -> Script:
    return item if isinstance(item, Script) else Script.from_dict(item)


def _last_user_text(body: Any) -> str:
    for message in reversed((body or {}).get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _last_tool_result(body: Any) -> str:
    for message in reversed((body or {}).get("messages") or []):
        if message.get("role") == "tool":
            return str(message.get("content") or "")
    return "(no tool result)"


def tool_call_chunks(calls: list[dict], style: str) -> list[list[dict]]:
    """Each chunk's ``delta.tool_calls`` for ``calls``, the way OpenAI (pieces) or Ollama (whole) send them."""
    chunks = []
    for index, call in enumerate(calls):
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        head = {"index": index, "id": call.get("id", f"call_{index}_x"), "type": "function"}
        if style == "ollama":
            chunks.append([{**head, "function": {"name": call["name"], "arguments": text}}])
            continue
        chunks.append([{**head, "function": {"name": call["name"], "arguments": ""}}])
        step = max(1, len(text) // 3)
        chunks += [[{"index": index, "function": {"arguments": text[i:i + step]}}] for i in range(0, len(text), step)]
    return chunks


class _ClientGone(Exception):
    pass


class OpenAIServer:
    """The scripted server; an async context manager."""

    def __init__(self, queue: Iterable[Script | dict] = (), *, rules: Iterable[Script | dict] = (),
                 default: Script | dict | None = None, model: str = "test-model",
                 api_key: str | None = None, log_path: Path | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        """``api_key``: when set, requests without ``Bearer <api_key>`` get a 401."""
        self.queue = [_as_script(s) for s in queue]
        self.rules = [_as_script(s) for s in rules]
        self.default = _as_script(default) if default is not None else Script()
        self.model, self.api_key, self.log_path = model, api_key, log_path
        self.requests: list[RequestRecord] = []
        self._host, self._port = host, port
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()
        self._changed = asyncio.Condition()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """The base URL a client is given (with ``/v1``)."""
        return f"http://{self._host}:{self.port}/v1"

    @property
    def chats(self) -> list[RequestRecord]:
        """The chat requests (a daemon also asks GET /models once at start)."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def start(self) -> "OpenAIServer":
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):  # Python 3.11 has no Server.close_clients()
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    async def __aenter__(self) -> "OpenAIServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def enqueue(self, *scripts: Script | dict) -> None:
        self.queue.extend(_as_script(s) for s in scripts)

    async def wait_ended(self, index: int, timeout: float = 5.0) -> RequestRecord:
        """Wait until request ``index`` (0-based) has ended; its record."""
        async def ended() -> RequestRecord:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: len(self.requests) > index and self.requests[index].ended_at is not None)
            return self.requests[index]
        return await asyncio.wait_for(ended(), timeout)

    def _pick(self, body: Any) -> Script:
        if self.queue:
            return self.queue.pop(0)
        text = _last_user_text(body).lower()
        for rule in self.rules:
            if rule.match and rule.match.lower() in text:
                return rule
        return self.default

    # -- connection handling -----------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        record: RequestRecord | None = None
        watch: asyncio.Task | None = None
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            record = await self._read_request(reader)
            if record is None:
                return
            self.requests.append(record)
            await self._notify()
            watch = asyncio.create_task(reader.read(1))  # completes when the client hangs up
            await self._route(record, _Conn(writer, watch, record))
        except (_ClientGone, ConnectionError):
            pass
        finally:
            self._handlers.discard(task)
            if watch is not None:
                watch.cancel()
            writer.close()
            if record is not None:
                record.ended_at = time.time()
                self._log(record)
                await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _log(self, record: RequestRecord) -> None:
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(record.to_json() + "\n")

    async def _read_request(self, reader: asyncio.StreamReader) -> RequestRecord | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines[1:] if ":" in line)}
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        return RequestRecord(method, path.split("?")[0], headers, body)

    async def _route(self, record: RequestRecord, conn: "_Conn") -> None:
        path = record.path.removeprefix("/v1")
        if self.api_key is not None and record.headers.get("authorization") != f"Bearer {self.api_key}":
            return await conn.error(401, "Incorrect API key provided.", "invalid_request_error")
        if record.method == "GET" and path == "/models":
            return await conn.json(200, {"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "test"}]})
        if record.method != "POST" or path != "/chat/completions":
            return await conn.error(404, f"no route {record.method} {record.path}", "invalid_request_error")
        script = self._pick(record.body)
        if script.hang_before_headers:
            return await conn.until_gone()
        if script.status != 200:
            return await conn.error(script.status, script.error_message, script.error_type)
        if isinstance(record.body, dict) and record.body.get("stream"):
            return await self._stream(script, conn, record.body)
        return await conn.json(200, self._completion(script))

    def _completion(self, script: Script) -> dict[str, Any]:
        message = {"role": "assistant", "content": script.reply}
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": self.model, "choices": [
                    {"index": 0, "message": message, "finish_reason": script.finish_reason}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    async def _stream(self, script: Script, conn: "_Conn", body: dict[str, Any]) -> None:
        await conn.start_sse()
        if script.raw_events is not None:
            for data in script.raw_events:
                await conn.raw_event(data)
            return await conn.end_sse()
        if script.role_chunk:
            await conn.event(self._chunk({"role": "assistant", "content": ""}))
        for part in _words(script.reasoning):
            await conn.event(self._chunk({"reasoning_content": part}))
        await conn.pause(script.first_token_delay_s)
        for n, delta in enumerate(script.split(body)):
            if n and script.delta_delay_s:
                await conn.pause(script.delta_delay_s)
            if n == script.disconnect_after:
                return conn.abort()
            if n == script.hang_after:
                return await conn.until_gone()
            await conn.event(self._chunk({"content": delta}))
            conn.record.deltas_sent += 1
        finish = script.finish_reason
        if script.tool_calls:
            for calls in tool_call_chunks(script.tool_calls, script.tool_style):
                await conn.event(self._chunk({"tool_calls": calls}))
            finish = "tool_calls"
        await conn.event(self._chunk({}, finish))
        if script.usage or (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 1, "completion_tokens": conn.record.deltas_sent, "total_tokens": 2}
            await conn.event({**self._chunk({}), "choices": [], "usage": usage})
        await conn.end_sse()


class ThreadedServer:
    """The scripted server on its own loop thread, so blocking test code can run beside it."""

    def __init__(self, **kw: Any) -> None:
        self.thread = LoopThread()
        self.server = OpenAIServer(**kw)
        self.thread.run(self.server.start())

    def stop(self) -> None:
        self.thread.run(self.server.stop())
        self.thread.stop()


class _Conn:
    """Writing one response, noticing when the client hangs up."""

    def __init__(self, writer: asyncio.StreamWriter, watch: asyncio.Task, record: RequestRecord) -> None:
        self.writer, self.watch, self.record = writer, watch, record

    def _gone(self) -> None:
        self.record.client_disconnected = True
        self.record.disconnected_at = time.time()
        raise _ClientGone

    async def _write(self, data: bytes) -> None:
        if self.watch.done():
            self._gone()
        self.writer.write(data)
        try:
            await self.writer.drain()
        except ConnectionError:
            self._gone()

    async def pause(self, seconds: float) -> None:
        """Sleep, but notice the client hanging up meanwhile."""
        done, _ = await asyncio.wait({self.watch}, timeout=seconds)
        if done:
            self._gone()

    async def until_gone(self) -> None:
        await asyncio.wait({self.watch})
        self._gone()

    def abort(self) -> None:
        self.writer.transport.close()  # mid-body: the client sees an incomplete chunked read

    async def _head(self, status: int, headers: str) -> None:
        self.record.status = status
        await self._write(f"HTTP/1.1 {status} X\r\n{headers}Connection: close\r\n\r\n".encode())

    async def json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        await self._head(status, f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n")
        await self._write(data)

    async def error(self, status: int, message: str, kind: str) -> None:
        await self.json(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    async def start_sse(self) -> None:
        await self._head(200, "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                              "Transfer-Encoding: chunked\r\n")

    async def _chunked(self, data: bytes) -> None:
        await self._write(b"%x\r\n%s\r\n" % (len(data), data))

    async def event(self, payload: dict[str, Any]) -> None:
        await self.raw_event(json.dumps(payload))

    async def raw_event(self, data: str) -> None:
        await self._chunked(b"data: " + data.encode() + b"\n\n")

    async def end_sse(self) -> None:
        await self._chunked(b"data: [DONE]\n\n")
        await self._write(b"0\r\n\r\n")


def load_script_file(path: Path) -> dict[str, Any]:
    """A script file as keyword arguments for ``OpenAIServer``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):
        return {"queue": data}
    allowed = {"queue", "rules", "default", "model", "api_key"}
    if not isinstance(data, dict) or set(data) - allowed:
        raise ValueError(f"{path}: expected a list of scripts or an object with keys {sorted(allowed)}")
    return data


async def _main(args: argparse.Namespace) -> None:
    options = load_script_file(args.script) if args.script else {}
    server = OpenAIServer(**options, log_path=args.log, host=args.host, port=args.port)
    async with server:
        print(f"PORT {server.port}", flush=True)
        await asyncio.Event().wait()  # until the process is terminated


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port (printed)")
    parser.add_argument("--script", type=Path, help="JSON script file (see the module docstring)")
    parser.add_argument("--log", type=Path, help="append one JSON line per finished request")
    try:
        asyncio.run(_main(parser.parse_args(argv)))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
