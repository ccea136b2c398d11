"""Children die with the daemon and stop the way each OS allows: the real process group here,
Windows' job object and CTRL_BREAK with kernel32 replaced by a recording fake."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time

import pytest

from daemon.platform.process import DummyTie, new_tie
from daemon.platform.process import posix, windows
from engines.common import lifeline, transport, win32


@pytest.mark.parametrize("platform, kind", [("linux", "LinuxTie"), ("darwin", "PosixTie"),
                                            ("freebsd14", "PosixTie"), ("win32", "WindowsTie"),
                                            ("sunos5", "DummyTie")])
def test_each_os_gets_its_tie(platform, kind):
    assert type(new_tie(platform)).__name__ == kind


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="real process groups and PDEATHSIG")
def test_linux_tie_stops_the_whole_group(tmp_path):
    tie = new_tie()
    pidfile = tmp_path / "grandchild"
    child = subprocess.Popen(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], **tie.spawn_kwargs())
    tie.adopt(child)
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    grandchild = int(pidfile.read_text())
    tie.terminate()
    assert child.wait(10) != 0
    assert _gone(grandchild), "the engine's own child outlived the stop"
    tie.kill()  # already gone: no error
    tie.close()


def test_posix_tie_signals_the_group_and_tolerates_a_gone_child(monkeypatch):
    sent = []
    monkeypatch.setattr(posix, "_killpg", lambda pgid, sig: sent.append((pgid, sig)))
    tie = posix.PosixTie()
    tie.adopt(FakeChild(4321))
    tie.terminate()
    tie.kill()
    assert sent == [(4321, 15), (4321, 9)]
    assert tie.spawn_kwargs() == {"start_new_session": True}  # macOS: no PDEATHSIG there
    assert posix.LinuxTie().spawn_kwargs()["preexec_fn"] is posix._die_with_parent

    def gone(pgid, sig):
        raise ProcessLookupError

    monkeypatch.setattr(posix, "_killpg", gone)
    tie.terminate()


class FakeChild:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.calls: list[str] = []

    def terminate(self) -> None:
        self.calls.append("terminate")

    def kill(self) -> None:
        self.calls.append("kill")


def test_dummy_tie_uses_the_childs_own_terminate_and_kill():
    tie, child = DummyTie(), FakeChild(7)
    tie.adopt(child)
    tie.terminate()
    tie.kill()
    assert child.calls == ["terminate", "kill"]


class FakeKernel32:
    """Records every call; hands out handles; can be told to fail one function."""

    def __init__(self, console: int = 1, fail: str = "", wait: int = win32.WAIT_TIMEOUT) -> None:
        self.calls: list[tuple] = []
        self.console, self.fail, self.wait = console, fail, wait
        self.next_handle = 100
        self.limits: windows.ExtendedLimits | None = None

    def _handle(self, name: str, *args) -> int:
        self.calls.append((name, *args))
        if self.fail == name:
            return 0
        self.next_handle += 1
        return self.next_handle

    def CreateJobObjectW(self, *args):
        return self._handle("CreateJobObjectW")

    def OpenProcess(self, access, inherit, pid):
        return self._handle("OpenProcess", access, pid)

    def SetInformationJobObject(self, job, klass, ref, size):
        self.calls.append(("SetInformationJobObject", job, klass, size))
        self.limits = windows.ExtendedLimits.from_buffer_copy(ctypes.string_at(ctypes.addressof(ref._obj), size))
        return self.fail != "SetInformationJobObject"

    def AssignProcessToJobObject(self, job, process):
        self.calls.append(("AssignProcessToJobObject", job, process))
        return self.fail != "AssignProcessToJobObject"

    def TerminateJobObject(self, job, code):
        self.calls.append(("TerminateJobObject", job, code))
        return True

    def CloseHandle(self, handle):
        self.calls.append(("CloseHandle", handle))
        return True

    def GetConsoleWindow(self):
        return self.console

    def WaitForSingleObject(self, handle, ms):
        self.calls.append(("WaitForSingleObject", handle, ms))
        return self.wait

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


@pytest.fixture
def kernel32(monkeypatch):
    fake = FakeKernel32()
    monkeypatch.setattr(win32, "kernel32", lambda: fake)
    return fake


def test_windows_job_kills_its_processes_when_the_daemon_goes(kernel32):
    tie = windows.WindowsTie()
    tie.adopt(FakeChild(555))
    assert kernel32.limits is not None
    assert kernel32.limits.BasicLimitInformation.LimitFlags & windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    job = tie.job
    assert ("OpenProcess", win32.PROCESS_SET_QUOTA | win32.PROCESS_TERMINATE, 555) in kernel32.calls
    assert ("AssignProcessToJobObject", job, 102) in kernel32.calls
    assert ("CloseHandle", 102) in kernel32.calls  # the process handle is not kept; the job's is
    assert ("CloseHandle", job) not in kernel32.calls
    tie.close()
    assert kernel32.calls[-1] == ("CloseHandle", job) and tie.job is None


def test_windows_struct_is_the_win64_layout():
    if ctypes.sizeof(ctypes.c_void_p) == 8:
        assert ctypes.sizeof(windows.ExtendedLimits) == 144  # JOBOBJECT_EXTENDED_LIMIT_INFORMATION on x64
        assert windows.BasicLimits.LimitFlags.offset == 16


def test_windows_spawn_flags_follow_the_console(kernel32):
    with_console = windows.WindowsTie().spawn_kwargs()["creationflags"]
    assert with_console == windows.CREATE_NEW_PROCESS_GROUP
    kernel32.console = 0  # pythonw: no console, so no window per engine either
    assert windows.WindowsTie().spawn_kwargs()["creationflags"] == (
        windows.CREATE_NEW_PROCESS_GROUP | windows.CREATE_NO_WINDOW)


def test_windows_terminate_sends_ctrl_break_then_kill_ends_the_job(kernel32, monkeypatch):
    breaks = []
    monkeypatch.setattr(windows, "_ctrl_break", breaks.append)
    tie, child = windows.WindowsTie(), FakeChild(555)
    tie.adopt(child)
    tie.terminate()
    assert breaks == [555] and "TerminateJobObject" not in kernel32.names()
    tie.kill()
    assert ("TerminateJobObject", tie.job, windows.EXIT_KILLED) in kernel32.calls
    assert child.calls == []  # the job ended the whole tree; no per-process kill needed


def test_windows_terminate_without_a_shared_console_terminates_the_job(kernel32, monkeypatch):
    def no_console(pid):
        raise OSError(6, "The handle is invalid")

    monkeypatch.setattr(windows, "_ctrl_break", no_console)
    tie = windows.WindowsTie()
    tie.adopt(FakeChild(555))
    tie.terminate()
    assert "TerminateJobObject" in kernel32.names()


@pytest.mark.parametrize("fail", ["CreateJobObjectW", "SetInformationJobObject", "OpenProcess",
                                  "AssignProcessToJobObject"])
def test_windows_without_a_job_still_stops_the_child(kernel32, fail, caplog):
    kernel32.fail = fail
    tie, child = windows.WindowsTie(), FakeChild(555)
    tie.adopt(child)
    assert tie.job is None
    assert "not in a job object" in caplog.text and "--parent-pid" in caplog.text
    tie.kill()
    assert child.calls == ["kill"]
    created = kernel32.names().count("CreateJobObjectW") - (fail == "CreateJobObjectW")
    assert kernel32.names().count("CloseHandle") >= created  # no job handle leaks


def test_windows_calls_refuse_to_run_elsewhere():
    if sys.platform == "win32":
        pytest.skip("this is Windows")
    with pytest.raises(OSError, match="only on Windows"):
        windows._ctrl_break(1)
    with pytest.raises(OSError, match="only on Windows"):
        win32.kernel32.__wrapped__()


# -- the engine side: the --parent-pid watch and the transport ------------------------------

def test_parent_watch_posix():
    assert lifeline.parent_watch(os.getppid(), "linux")()
    assert not lifeline.parent_watch(os.getppid() + 100000, "darwin")()


def test_parent_watch_windows_waits_on_a_handle_opened_once(kernel32):
    alive = lifeline.parent_watch(4242, "win32")
    assert alive() and alive()
    assert kernel32.names().count("OpenProcess") == 1
    kernel32.wait = 0  # WAIT_OBJECT_0: the daemon exited
    assert not alive()
    kernel32.fail = "OpenProcess"
    assert not lifeline.parent_watch(4242, "win32")()


def test_engine_uris_per_os(tmp_path):
    assert transport.local_uri("asr", tmp_path, "linux") == f"unix://{tmp_path / 'asr.sock'}"
    uri = transport.local_uri("asr", tmp_path, "win32")
    assert uri.startswith("tcp://127.0.0.1:") and int(uri.rsplit(":", 1)[1]) > 0
    transport.check_uri(uri, platform="win32")
    with pytest.raises(ValueError, match="not available on Windows; use tcp://127.0.0.1"):
        transport.check_uri(f"unix://{tmp_path}/asr.sock", platform="win32")


async def test_daemon_client_names_the_windows_problem(monkeypatch, tmp_path):
    from daemon.errors import EngineUnavailable
    from daemon.supervisor.clients import Connection

    monkeypatch.setattr(transport.sys, "platform", "win32")
    with pytest.raises(EngineUnavailable, match="not available on Windows"):
        await Connection.open("asr", f"unix://{tmp_path}/asr.sock")
