"""Logs of errors (issue #14, item 25): tracebacks never carry local variables (requests hold
personal data, and rendering them stalled a service per crash), and a connection error repeated
during an outage is written once per interval, not on every retry."""

from __future__ import annotations

import json
import logging
import sqlite3

import pytest
import structlog

from kefu_common.logging import RepeatedErrorFilter, configure_logging, get_logger


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:], root.level = saved


PHONES = ("1380013" + "8000", "1390013" + "9000")  # built, so no source line shows them
ID_NUMBER = "110105194912" + "31002X"


def _crash(customer_phone: str) -> None:
    request = {"phone": customer_phone, "id_number": ID_NUMBER}  # noqa: F841 - a local
    raise ValueError("boom")


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_logged_traceback_never_prints_local_variables(fmt, capsys) -> None:
    configure_logging("probe", fmt=fmt)
    log = get_logger("probe")
    try:
        _crash(PHONES[0])
    except ValueError:
        log.exception("rpc_crashed", method="/x")
    stdlib = logging.getLogger("stdlib.probe")
    try:
        _crash(PHONES[1])
    except ValueError:
        stdlib.exception("stdlib crash")
    out = capsys.readouterr().out
    assert "ValueError: boom" in out and "_crash" in out  # the traceback itself is there
    for secret in (*PHONES, ID_NUMBER):
        assert secret not in out


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_repeated_connection_error_is_written_once_per_interval_with_the_count(capsys) -> None:
    ticks = Ticks()
    configure_logging("probe", fmt="json", error_filter=RepeatedErrorFilter(interval=60.0, now=ticks))
    log = get_logger("probe")
    for _ in range(1000):  # a retry loop during a database outage: one attempt every 50 ms
        try:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        except OSError:
            log.exception("ticket_events_failed", retry_in=0.05)
        ticks.now += 0.05
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["event"] for line in lines] == ["ticket_events_failed"] * 1  # 50 s: one line
    ticks.now = 61.0
    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except OSError:
        log.exception("ticket_events_failed", retry_in=0.05)
    [again] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert again["repeated"] == 999  # what was held back since the last line


def test_other_errors_and_other_events_are_never_held_back(capsys) -> None:
    ticks = Ticks()
    configure_logging("probe", fmt="json", error_filter=RepeatedErrorFilter(interval=60.0, now=ticks))
    log = get_logger("probe")
    for i in range(5):
        try:
            raise ValueError(f"bad input {i}")
        except ValueError:
            log.exception("rpc_crashed")
        try:
            raise sqlite3.OperationalError("unable to open database")  # a driver's connection error
        except sqlite3.OperationalError:
            log.exception(f"pass_{i}_failed")
        log.info("still_here")
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert events.count("rpc_crashed") == 5 and events.count("still_here") == 5
    assert sorted(e for e in events if e.startswith("pass_")) == [f"pass_{i}_failed" for i in range(5)]
