"""The test session's own guards: no network, and an empty TORCH_HOME."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import TORCH_HOME


def test_a_connection_fails_loudly_in_the_test_process():
    from sitecustomize import NetworkAccessInTests

    with pytest.raises(NetworkAccessInTests, match="must not use the network"):
        socket.create_connection(("pypi.org", 443), timeout=1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(NetworkAccessInTests):
            sock.connect(("93.184.216.34", 80))


def test_a_subprocess_has_the_guard_and_the_empty_torch_home():
    code = (
        "import os, socket\n"
        "try:\n"
        "    socket.create_connection(('93.184.216.34', 80), timeout=1)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "print(os.environ['TORCH_HOME'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out == ["NetworkAccessInTests", str(TORCH_HOME)]


def test_local_sockets_still_work():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"ok")
        assert right.recv(2) == b"ok"
    assert os.environ["TORCH_HOME"] == str(TORCH_HOME) and TORCH_HOME.is_dir()
