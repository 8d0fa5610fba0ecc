"""The tests' network guard: every Python process of the test session imports this at start-up
(``tests/conftest.py`` puts this folder first on ``PYTHONPATH``, so subprocesses get it too).

Any attempt to reach the network (a TCP/UDP connection, a DNS lookup of a host other than this
machine) raises :class:`NetworkAccessInTests`, which is no ``OSError``: code that handles
network errors gracefully cannot hide that it tried. Local sockets (Unix, loopback) still work.
"""

import socket

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "", None}


class NetworkAccessInTests(RuntimeError):
    """A test (or code it ran) tried to use the network."""


def _refuse(what: str, target: object) -> None:
    raise NetworkAccessInTests(f"tests must not use the network: {what} {target!r}")


def _is_remote(address: object) -> bool:
    return isinstance(address, tuple) and address[0] not in LOCAL_HOSTS


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_sendto = socket.socket.sendto
_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _is_remote(address):
        _refuse("connect to", address)
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _is_remote(address):
        _refuse("connect to", address)
    return _connect_ex(self, address)


def _guarded_sendto(self, data, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _is_remote(args[-1]):
        _refuse("send to", args[-1])
    return _sendto(self, data, *args)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in LOCAL_HOSTS:
        _refuse("look up", host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.socket.sendto = _guarded_sendto
socket.getaddrinfo = _guarded_getaddrinfo
