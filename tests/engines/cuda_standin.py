"""A CPU stand-in for CUDA-graph capture: the graph path's Python logic, checked without a GPU.

``standin()`` patches what faster-qwen3-tts 0.5.4 calls from ``torch.cuda`` (CUDAGraph,
graph(), Stream, stream(), current_stream, synchronize, device, current_device). Capture
runs the captured step once under a dispatch trace and keeps that trace (the tape: every
aten op, the address of every tensor it reads or writes that was made outside the step,
every host value it takes); like a real capture it leaves no trace in the tensors it
wrote. ``replay()`` re-runs the step eagerly under the same trace and compares it with
the tape, op by op. What a CUDA graph gets wrong and eager code does not, raises:

- ``HostSync``: the step reads a device value on the host while capturing (``.item()``,
  ``.tolist()``, ``.cpu()``, ``bool(tensor)``, nonzero, boolean-mask indexing,
  ``torch.cuda.synchronize``): CUDA refuses to capture it.
- ``StaleAddress``: a tensor made outside the step is at another address than at capture
  (a buffer rebound instead of copied into, a weight whose storage was replaced): the
  graph would read or write the old memory.
- ``FrozenValue``: a host value (a Python number, a ``torch.tensor(...)`` made inside the
  step) differs from capture: the graph would replay the captured one.
- ``ReplayDiffers``: the replay runs other ops or shapes than the capture.

A replay that passes did exactly what the graph would have done, so frames from the
stand-in equal what the GPU computes up to kernel numerics. The captured region must be
one call of a method without arguments (``self._decode_step()``), as in 0.5.4.
"""
from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any, Callable, Iterator
from unittest import mock

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode


class HostSync(RuntimeError):
    """The captured step needs the host: CUDA-graph capture would fail."""


class StaleAddress(RuntimeError):
    """A replay reads or writes a tensor that moved since capture."""


class FrozenValue(RuntimeError):
    """A host value taken by the step changed since capture; the graph would replay the old one."""


class ReplayDiffers(RuntimeError):
    """A replay runs other ops than the capture."""


aten = torch.ops.aten
_SYNC_OPS = {aten.item.default, aten._local_scalar_dense.default, aten.is_nonzero.default}
_DATA_SHAPED = {aten.nonzero.default, aten.masked_select.default, aten._unique2.default, aten.unique_dim.default,
                aten.unique_consecutive.default, aten.equal.default}
_SYNC_METHODS = {"item", "tolist", "numpy", "cpu", "__bool__", "__int__", "__float__", "__index__"}
_INDEXING = {aten.index.Tensor, aten.index_put.default, aten.index_put_.default, aten._index_put_impl_.default}
_LIFT = {aten.lift_fresh.default, aten.lift_fresh_copy.default}
_state = threading.local()


def capturing() -> bool:
    return getattr(_state, "capturing", False)


class _NoHostReads(TorchFunctionMode):
    """Tensor methods that read device memory on the host without reaching the dispatcher."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in _SYNC_METHODS:
            raise HostSync(f"Tensor.{name}() inside a captured step")
        return func(*args, **(kwargs or {}))


class Trace(TorchDispatchMode):
    """Every aten op of one run of the step: op, inputs (step-made or outside + address), host values."""

    def __init__(self, undo_writes: bool = False) -> None:
        super().__init__()
        self.ops: list[tuple] = []
        self.made: dict[int, tuple[int, int]] = {}  # id(tensor made in the step) -> (op, output)
        self.keep: list[Any] = []  # holds step-made tensors so their ids are not reused
        self.undo: dict[int, tuple[Any, Any]] | None = {} if undo_writes else None  # storage -> (it, copy)
        self.outside: set[int] = set()  # storages of tensors made outside the step
        self.lifted = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        _refuse_sync(func, args, kwargs)
        inputs = _leaves(args) + _leaves(tuple(kwargs.values()))
        if self.undo is not None:
            self.outside.update(x.untyped_storage().data_ptr() for x in inputs
                                if isinstance(x, torch.Tensor) and id(x) not in self.made)
            self._save_written(func, args, kwargs)
        out = func(*args, **kwargs)
        described = tuple(self._describe(x, func in _LIFT) for x in inputs)
        outputs = [x for x in _leaves((out,)) if isinstance(x, torch.Tensor)]
        index = len(self.ops)
        self.ops.append((func, described, tuple((tuple(t.shape), t.dtype) for t in outputs)))
        seen = {id(x) for x in inputs if isinstance(x, torch.Tensor)}
        for j, t in enumerate(outputs):
            if id(t) not in seen:  # an in-place op returns its input: still the outside tensor
                self.made[id(t)] = (index, j)
                self.keep.append(t)
        return out

    def _describe(self, x: Any, lifted: bool) -> tuple:
        if not isinstance(x, torch.Tensor):
            return ("value", x)
        if lifted:  # torch.tensor(host data) inside the step: the data is a host value
            self.lifted += 1
            return ("value", tuple(x.reshape(-1).tolist()), x.dtype)
        if id(x) in self.made:
            return ("made", self.made[id(x)])
        return ("outside", x.data_ptr(), tuple(x.shape), x.stride(), x.dtype)

    def _save_written(self, func, args, kwargs) -> None:
        """Keep the outside memory this op writes (directly or through a view) as it was: a capture computes
        nothing."""
        assert self.undo is not None
        for i, arg in enumerate(func._schema.arguments):
            if arg.alias_info is None or not arg.alias_info.is_write:
                continue
            value = args[i] if i < len(args) else kwargs.get(arg.name)
            for t in _leaves((value,)):
                if not isinstance(t, torch.Tensor):
                    continue
                storage = t.untyped_storage()
                if storage.data_ptr() in self.outside and storage.data_ptr() not in self.undo:
                    self.undo[storage.data_ptr()] = (storage, storage.clone())

    def restore(self) -> None:
        for storage, saved in (self.undo or {}).values():
            storage.copy_(saved)


def _leaves(items: tuple | list) -> list:
    """Tensors and host values of aten arguments (nested only in lists and tuples)."""
    out = []
    for x in items:
        if isinstance(x, (list, tuple)):
            out.extend(_leaves(x))
        else:
            out.append(x)
    return out


def _refuse_sync(func, args, kwargs) -> None:
    if func in _SYNC_OPS:
        raise HostSync(f"{func} inside a captured step (a device value read on the host)")
    kind = _needs_host(func, args, kwargs)
    if kind:
        raise HostSync(f"{kind} inside a captured step")


def _needs_host(func, args, kwargs) -> str:
    """Why this op needs a device value on the host (an output shape that depends on the data), or ""."""
    if func in _DATA_SHAPED:
        return str(func)
    if func in _INDEXING:
        indices = args[1] if len(args) > 1 else kwargs.get("indices")
        if any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices or ()):
            return f"{func} with a boolean mask (nonzero on the host)"
    if func is aten.repeat_interleave.Tensor and kwargs.get("output_size") is None:
        return "repeat_interleave without output_size"
    return ""


class HostReads:
    """Counts host reads of device values outside capture (what a GPU would wait for), by kind.

    ``allowed``: host buffers whose reads are not device reads (a pinned mailbox)."""

    def __init__(self, allowed: tuple[torch.Tensor, ...] = ()) -> None:
        self.allowed = {t.untyped_storage().data_ptr() for t in allowed}
        self.kinds: list[str] = []

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        reads = self

        class Methods(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                name = getattr(func, "__name__", "")
                if name in _SYNC_METHODS and not (args and isinstance(args[0], torch.Tensor) and
                                                  args[0].untyped_storage().data_ptr() in reads.allowed):
                    reads.kinds.append(f"Tensor.{name}()")
                return func(*args, **(kwargs or {}))

        class Ops(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kind = _needs_host(func, args, kwargs or {})
                if kind:
                    reads.kinds.append(kind)
                return func(*args, **(kwargs or {}))

        with Methods(), Ops():
            yield


def compare(tape: list[tuple], ops: list[tuple], where: str) -> None:
    """Raise on the first op where a replay's trace leaves the capture's."""
    if tape == ops:
        return
    for i, (want, got) in enumerate(zip(tape, ops)):
        if want == got:
            continue
        if want[0] != got[0] or len(want[1]) != len(got[1]):
            raise ReplayDiffers(f"{where}: op {i} is {got[0]} on replay, {want[0]} at capture")
        for k, (a, b) in enumerate(zip(want[1], got[1])):
            if a == b:
                continue
            if a[0] == "outside" and b[0] == "outside" and a[1] != b[1]:
                raise StaleAddress(f"{where}: op {i} ({got[0]}) input {k} {b[2]} {b[4]} is at {b[1]:#x}, "
                                   f"was at {a[1]:#x} when captured")
            if a[0] == "value" and b[0] == "value":
                raise FrozenValue(f"{where}: op {i} ({got[0]}) input {k} is {b[1:]!r}, was {a[1:]!r} when captured")
            raise ReplayDiffers(f"{where}: op {i} ({got[0]}) input {k} is {b!r}, was {a!r} when captured")
        raise ReplayDiffers(f"{where}: op {i} ({got[0]}) makes {got[2]}, made {want[2]} when captured")
    raise ReplayDiffers(f"{where}: {len(ops)} ops on replay, {len(tape)} at capture")


class StandInGraph:
    """``torch.cuda.CUDAGraph``: holds the captured step and its tape; replays eagerly, checked."""

    made: list["StandInGraph"] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.step: Callable[[], Any] | None = None
        self.tape: list[tuple] = []
        self.lifted = 0
        self.captures = 0
        self.replays = 0
        self.ops_checked = 0
        StandInGraph.made.append(self)

    @property
    def name(self) -> str:
        owner = getattr(self.step, "__self__", None)
        return f"{type(owner).__name__}.{getattr(self.step, '__name__', '?')}"

    def replay(self) -> None:
        if self.step is None:
            raise RuntimeError("replay() of a graph that was never captured")
        trace = Trace()  # host reads need no function mode here: they change the trace or raise in it
        with trace:
            self.step()
        compare(self.tape, trace.ops, f"replay {self.replays + 1} of {self.name}")
        self.replays += 1
        self.ops_checked += len(trace.ops)

    def reset(self) -> None:
        self.step, self.tape = None, []


class _Capture:
    """``torch.cuda.graph(g)``: finds the one method called in its body and traces it."""

    def __init__(self, graph: StandInGraph, *args: Any, **kwargs: Any) -> None:
        self.graph = graph

    def __enter__(self) -> "_Capture":
        if capturing():
            raise RuntimeError("nested CUDA-graph capture")
        body = sys._getframe(1)
        self.calls: list[Callable] = []

        def profile(frame, event, _arg):
            if event == "call" and frame.f_back is body and frame.f_code not in _OWN_CODE:
                self.calls.append(_as_method(frame))

        self.previous = sys.getprofile()
        self.trace = Trace(undo_writes=True)
        self.modes = contextlib.ExitStack()
        self.modes.enter_context(_NoHostReads())
        self.modes.enter_context(self.trace)
        _state.capturing = True
        sys.setprofile(profile)
        return self

    def __exit__(self, kind, error, tb) -> None:
        sys.setprofile(self.previous)
        _state.capturing = False
        self.modes.close()
        self.trace.restore()
        if kind is not None:
            return
        if len(self.calls) != 1:
            raise RuntimeError(f"the captured region calls {len(self.calls)} functions; the stand-in replays one "
                               "method call without arguments")
        self.graph.step, self.graph.tape, self.graph.lifted = self.calls[0], self.trace.ops, self.trace.lifted
        self.graph.captures += 1


_OWN_CODE = {_Capture.__exit__.__code__, _NoHostReads.__torch_function__.__code__,
             Trace.__torch_dispatch__.__code__}


def _as_method(frame) -> Callable:
    code = frame.f_code
    owner = frame.f_locals.get("self")
    method = getattr(owner, code.co_name, None)
    if owner is None or getattr(getattr(method, "__func__", None), "__code__", None) is not code or \
            code.co_argcount != 1:
        raise RuntimeError(f"captured region calls {code.co_name}(): the stand-in replays a method without arguments")
    return method


class _Stream:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def wait_stream(self, other: "_Stream") -> None:
        pass

    def synchronize(self) -> None:
        synchronize()

    def query(self) -> bool:
        return True


_DEFAULT_STREAM = _Stream()


def synchronize(device: Any = None) -> None:
    if capturing():
        raise HostSync("torch.cuda.synchronize() inside a captured step")


@contextlib.contextmanager
def _nothing(*args: Any, **kwargs: Any) -> Iterator[None]:
    yield


@contextlib.contextmanager
def standin() -> Iterator[list[StandInGraph]]:
    """Patch torch.cuda's graph API for the CPU; yields the list of graphs made meanwhile."""
    StandInGraph.made = []
    patches = dict(CUDAGraph=StandInGraph, graph=_Capture, Stream=_Stream, stream=_nothing, device=_nothing,
                   current_stream=lambda device=None: _DEFAULT_STREAM, synchronize=synchronize,
                   current_device=lambda: 0)
    with mock.patch.multiple(torch.cuda, **patches):
        yield StandInGraph.made


def summary(graphs: list[StandInGraph]) -> list[dict]:
    return [{"graph": g.name, "captures": g.captures, "tape_ops": len(g.tape), "replays": g.replays,
             "ops_checked": g.ops_checked,
             "host_values_lifted": g.lifted} for g in graphs if g.step is not None]
