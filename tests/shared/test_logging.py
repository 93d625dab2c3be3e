"""The workers' log set-up, checked against kafka-python's real transport class."""

from __future__ import annotations

import logging
import socket

import pytest
from kafka.net.transport import KafkaTCPTransport

from shared.logging import configure_logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_read_racing_the_transports_own_close_logs_no_traceback(capsys, restore_root_logger):
    configure_logging("INFO", worker="test")
    transport = KafkaTCPTransport(net=None, sock=None)
    transport.close()  # what the consumer's close does before the network thread reads
    _, err = transport._sock_recv()  # the network thread's read after the close
    assert err is not None
    assert "Traceback" not in capsys.readouterr().err


def test_a_receive_error_on_a_live_connection_still_logs_its_traceback(capsys, restore_root_logger):
    configure_logging("INFO", worker="test")
    a, b = socket.socketpair()
    a.close()  # recv on a closed fd raises OSError: a real fault, not a close race
    transport = KafkaTCPTransport(net=None, sock=a)
    try:
        _, err = transport._sock_recv()
    finally:
        b.close()
    assert err is not None
    logged = capsys.readouterr().err
    assert "Error receiving network data" in logged
    assert "Traceback" in logged
