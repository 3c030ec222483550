"""--ray-address is answered by a bounded handshake before Ray is imported: a port where something other than
Ray listens (an HTTP server, a service that never speaks) is one line within seconds, not a hang. A real Ray
GCS passes (tests/test_cluster.py connects a sweep to one through the same check)."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from sweep_helpers import refused


@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 whose server sends `banner` to each connection (or nothing) and holds it."""
    servers = []

    def start(banner: bytes | None) -> int:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        servers.append(server)

        def serve():
            held = []
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    break
                held.append(conn)
                if banner is not None:
                    conn.sendall(banner)

        threading.Thread(target=serve, daemon=True).start()
        return server.getsockname()[1]

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize("banner, within", [(b"SSH-2.0-OpenSSH_9.6\r\n", 3.0),
                                            (b"HTTP/1.1 400 Bad Request\r\n\r\n", 3.0),
                                            (None, 9.0)])  # silent: the handshake's 5 s bound
def test_a_port_where_something_else_listens_is_refused_in_one_line(listener, banner, within, tmp_path, capsys):
    port = listener(banner)
    start = time.monotonic()
    line = refused(capsys, ["--storage-path", str(tmp_path / "s"), "--ray-address", f"127.0.0.1:{port}"])
    took = time.monotonic() - start
    assert f"--ray-address 127.0.0.1:{port}: something answers at 127.0.0.1:{port}, but not Ray" in line
    assert took < within, took
