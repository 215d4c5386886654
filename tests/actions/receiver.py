"""A real webhook receiver on a loopback port for tests: records requests, answers as told.

`down()` closes the listening socket (connections are refused, like a receiver that is
off), `up()` listens again on the same port. `respond` decides each answer from the
request, so a test can return 500s, 410, 429 with Retry-After, 302 to a private address...
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cep.store.redisproc import free_port

__all__ = ["Hit", "Receiver"]


@dataclass
class Hit:
    """One request the receiver got."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    """What to reply."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


class Receiver:
    """ThreadingHTTPServer on 127.0.0.1 that records every request."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.hits: list[Hit] = []
        self.respond: Callable[[Hit], Answer] = lambda hit: Answer()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> Receiver:
        """Listen (again) on the port."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                hit = Hit(time.time(), self.path, {k.lower(): v for k, v in self.headers.items()},
                          self.rfile.read(n))
                with outer.lock:
                    outer.hits.append(hit)
                ans = outer.respond(hit)
                if ans.delay:
                    time.sleep(ans.delay)
                self.send_response(ans.status)
                for k, v in ans.headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(ans.body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(ans.body)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def server_bind(self) -> None:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                super().server_bind()

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop listening: connections are refused until `up()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> list[str]:
        """webhook-id of every request, in arrival order."""
        with self.lock:
            return [h.headers.get("webhook-id", "") for h in self.hits]

    def __enter__(self) -> Receiver:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()
