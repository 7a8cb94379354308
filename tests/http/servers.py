"""A tiny real HTTP server on 127.0.0.1 for HTTP-job, netguard and webhook tests."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # never answer (until the server stops)


class LocalServer:
    """Routes map a path to a Reply or to a callable(count) -> Reply (count = hits so far)."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.scheme = "https" if tls else "http"
        self.routes: dict[str, Reply | Callable[[int], Reply]] = {}
        self.requests: list[Recorded] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    Recorded(self.command, self.path, dict(self.headers.items()), body)
                )
                hits = sum(1 for r in server.requests if r.path == self.path)
                route = server.routes.get(self.path.split("?")[0], Reply(404, b"not found"))
                reply = route(hits) if callable(route) else route
                if reply.hang:
                    server.release.wait(30)
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
