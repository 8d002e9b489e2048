"""`make run` restarts a crashed service as a process supervisor would (issue #14 item 24):
at once after the first crash, then with a back-off that doubles up to a cap, back to none once
the service has stayed up; each restart is said in the log. Real child processes (a stand-in
interpreter that exits with code 3, or sleeps), an injected clock."""

from __future__ import annotations

import stat
from pathlib import Path

from kefu_common.devstack import Stack, Supervisor


PORTS = {"gateway": 1, "ticketing": 2, "escalation": 3, "scoring": 4}


def _interpreter(tmp_path: Path, body: str) -> str:
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _wait_exit(stack: Stack, name: str) -> None:
    stack.procs[name].wait(timeout=10)


def test_a_crashed_service_is_restarted_with_doubling_backoff_and_said_in_the_log(tmp_path: Path) -> None:
    stack = Stack(database_url="postgresql://unused/db", ports=PORTS,
                  python=_interpreter(tmp_path, "exit 3"))
    clock, said = FakeTime(), []
    supervisor = Supervisor(stack, max_backoff=4.0, clock=clock, say=said.append)
    stack.spawn("scoring")
    waits = []
    for _ in range(6):  # six crashes in a row
        _wait_exit(stack, "scoring")
        pid, noticed = stack.procs["scoring"].pid, None
        while stack.procs["scoring"].pid == pid:
            supervisor.check()
            noticed = clock.now if noticed is None else noticed
            if stack.procs["scoring"].pid == pid:
                clock.now += 0.25
        waits.append(clock.now - noticed)
    assert waits == [0.0, 1.0, 2.0, 4.0, 4.0, 4.0], waits  # doubling, capped at 4 s
    assert "kefu: scoring exited with code 3; restarting now (crash 1)" in said
    assert "kefu: scoring exited with code 3; restarting in 2s (crash 3)" in said
    assert sum(line.startswith("kefu: scoring restarted (pid ") for line in said) == 6


def test_a_service_that_stayed_up_restarts_at_once_after_its_next_crash(tmp_path: Path) -> None:
    crash = tmp_path / "crash"
    crash.touch()
    stack = Stack(database_url="postgresql://unused/db", ports=PORTS,
                  python=_interpreter(tmp_path, f'[ -e {crash} ] && exit 3; exec sleep 30'))
    clock, said = FakeTime(), []
    supervisor = Supervisor(stack, stable_after=60.0, clock=clock, say=said.append)
    stack.spawn("ticketing")
    for _ in range(3):  # three crashes: the next restart would wait 2 s
        _wait_exit(stack, "ticketing")
        pid = stack.procs["ticketing"].pid
        if _ == 2:
            crash.unlink()  # the third restart comes up and stays up
        while stack.procs["ticketing"].pid == pid:
            supervisor.check()
            clock.now += 0.5
    try:
        clock.now += 61.0
        supervisor.check()  # up for over a minute: its crash history is forgotten
        said.clear()
        stack.procs["ticketing"].kill()
        _wait_exit(stack, "ticketing")
        supervisor.check()
        assert said[0] == "kefu: ticketing exited with code -9; restarting now (crash 1)", said
        assert said[1].startswith("kefu: ticketing restarted (pid ")
    finally:
        stack.stop("ticketing")
