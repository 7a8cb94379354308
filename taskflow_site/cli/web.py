"""The web process of `taskflow run`: daphne serving taskflow_site.asgi on the listening socket
the supervisor owns and hands down as a file descriptor (`--fd`).

Because the socket outlives any one web process, a new one can take over while the old one
finishes (docs/operations.md, "Restarting without downtime"): it writes "ready" to `--ready-fd`
once its reactor runs, and SIGTERM here is graceful — stop accepting (the socket stays open in
the supervisor and the new process, so no connection is refused), answer every connection
already accepted, the last time with "Connection: close" (idle kept-alive ones are closed, and
silent ones after SILENT_SECONDS; at most DRAIN_SECONDS in all), close WebSockets with 1012
"service restart" (clients reconnect with ?after=N), exit once the last answer has left.

A child entry point, unlike the rest of the CLI: it loads Django (through taskflow_site.asgi).
`taskflow run` forks it from the zygote (taskflow_site/cli/zygote.py, `serve`); run as
`python -m taskflow_site.cli.web` it works on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import http
import os
import signal
import socket
import time
import weakref

from autobahn.websocket.types import ConnectionDeny
from daphne.server import Server  # first: it installs Twisted's asyncio reactor
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor
from twisted.internet.address import UNIXAddress
from twisted.internet.endpoints import AdoptedStreamServerEndpoint
from twisted.web.http import HTTPChannel

from taskflow_site.asgi import application

DRAIN_SECONDS = 30.0
# A connection accepted before the drain and still silent this long after it began is a
# browser's preconnection, not a client between connect() and send(): closed, as an idle one.
# Under the supervisor's CHILD_GRACE (8 s), so it never makes a stop SIGKILL this process.
SILENT_SECONDS = 5.0
CLOSE_SERVICE_RESTART = 1012


class DenyingWebSocketProtocol(WebSocketProtocol):
    """daphne plus the ASGI "denial response": a "websocket.http.response.start" before accept
    answers the handshake with that HTTP status (an unknown path: taskflow_site.wsguard's 404),
    where daphne alone knows only 403."""

    denial_status = 403

    def handle_reply(self, message):
        kind = message.get("type")
        if kind == "websocket.http.response.start" and self.state == self.STATE_CONNECTING:
            self.denial_status = int(message.get("status", 403))
        elif kind == "websocket.http.response.body":
            if hasattr(self, "handshake_deferred") and not message.get("more_body"):
                phrase = http.HTTPStatus(self.denial_status).phrase
                self.handshake_deferred.errback(ConnectionDeny(self.denial_status, phrase))
                del self.handshake_deferred
                self.server.protocol_disconnected(self)
        else:
            super().handle_reply(message)


class DrainingHTTPChannel(HTTPChannel):
    """One HTTP connection, known to the server from the moment it is accepted: daphne's
    Server.connections learns of one only once a request line has arrived on it, so a drain
    that went by it alone closed connections whose request was still on its way (and answers
    not yet written out), and the client saw the connection closed without a response.

    (Twisted's HTTPFactory wraps its channel in a proxy that switches to HTTP/2 after TLS
    negotiation: daphne here speaks neither, the plain channel is what it serves.)"""

    served = 0
    heard = False

    def connectionMade(self) -> None:
        super().connectionMade()
        self.factory.server.channels.add(self)

    def dataReceived(self, data: bytes) -> None:
        self.heard = True
        super().dataReceived(data)

    def requestDone(self, request) -> None:
        self.served += 1
        super().requestDone(request)

    def checkPersistence(self, request, version) -> bool:
        if self.factory.server.draining_since is not None:
            request.responseHeaders.setRawHeaders(b"connection", [b"close"])
            return False
        return super().checkPersistence(request, version)

    def drain(self) -> None:
        """This connection's next answer is its last."""
        if self.requests:  # under way: checkPersistence may already have kept it alive
            self.persistent = False
            for request in self.requests:
                if not request.startedWriting:
                    request.responseHeaders.setRawHeaders(b"connection", [b"close"])
        elif self.served:
            # idle between requests: a client must be ready for a kept-alive connection to
            # close (RFC 9112, 9.3.1) and retries a request it had just sent on it; waiting
            # for clients that keep connections for minutes (nginx's upstream keepalive,
            # browsers) would hold this process DRAIN_SECONDS at every restart
            self.loseConnection()
        # else accepted, its first request on its way: answered, and closed (checkPersistence)

    def silent(self) -> bool:
        return not self.heard and not self.transport.disconnecting

    def open(self) -> bool:
        """Still HTTP and connected (a WebSocket takes the transport over: not ours to wait
        for), until the last byte of its answer has been written."""
        return bool(self.transport.connected) and self.transport.protocol is self


class WebServer(Server):
    """daphne's Server on an inherited socket, with a graceful stop."""

    def __init__(self, *, fds: list[int], ready_fd: int | None):
        # daphne insists on an endpoint; we adopt the sockets ourselves (any address family:
        # TCP, and the Unix socket a proxy on this machine may use)
        super().__init__(
            application=application,
            endpoints=[f"fd:fileno={fds[0]}"],
            signal_handlers=False,
            server_name="",
            verbosity=0,
            ready_callable=self._adopt,
        )
        self.endpoints = []
        self.fds = fds
        self.ready_fd = ready_fd
        self.ports: list = []
        self.draining_since: float | None = None
        # weak: a connection upgraded to a WebSocket is never "lost" to its HTTP channel
        self.channels: weakref.WeakSet[DrainingHTTPChannel] = weakref.WeakSet()

    def _adopt(self) -> None:
        self.ws_factory.protocol = DenyingWebSocketProtocol
        self.http_factory.protocol = DrainingHTTPChannel
        for fd in self.fds:
            endpoint = AdoptedStreamServerEndpoint(reactor, fd, _family_of(fd))
            endpoint.listen(self.http_factory).addCallback(self._listening)
        reactor.callWhenRunning(self._announce_ready)

    def _listening(self, port) -> None:
        self.ports.append(port)
        address = port.getHost()
        if isinstance(address, UNIXAddress):  # Twisted makes it 0666: back to our 0660
            os.chmod(address.name, 0o660)

    def _announce_ready(self) -> None:
        if self.ready_fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(self.ready_fd, b"ready\n")
            os.close(self.ready_fd)
        self.ready_fd = None

    def drain(self) -> None:
        """Stop accepting, close WebSockets, exit once every HTTP connection has closed."""
        if self.draining_since is not None:
            return
        self.draining_since = time.monotonic()
        for port in self.ports:
            port.stopListening()
        for channel in list(self.channels):
            if channel.open():
                channel.drain()
        for protocol in list(self.connections):
            if isinstance(protocol, WebSocketProtocol):
                with contextlib.suppress(Exception):  # already closing: nothing to do
                    protocol.serverClose(code=CLOSE_SERVICE_RESTART)
        self._stop_when_idle()

    def _stop_when_idle(self) -> None:
        # the connections, not daphne's requests: a request is "disconnected" there as soon as
        # its answer is handed to the transport, still to be written out when the reactor stops
        open_channels = [channel for channel in self.channels if channel.open()]
        waited = time.monotonic() - self.draining_since
        if waited > SILENT_SECONDS:
            for channel in open_channels:
                if channel.silent():
                    channel.loseConnection()
        if (open_channels or self._finishing()) and waited < DRAIN_SECONDS:
            reactor.callLater(0.02, self._stop_when_idle)
            return
        reactor.stop()

    def _finishing(self) -> bool:
        """Django still finishing a request whose answer is out (closing the response, its
        database connection): the reactor's stop would cancel it, and Django log the
        RequestAborted this leaves ("Task exception was never retrieved")."""
        return any(
            not isinstance(protocol, WebSocketProtocol)
            and "application_instance" in details
            and not details["application_instance"].done()
            for protocol, details in self.connections.items()
        )


def _family_of(fd: int) -> int:
    probe = socket.socket(fileno=os.dup(fd))
    try:
        return probe.family
    finally:
        probe.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="taskflow-web")
    parser.add_argument(
        "--fd", type=int, action="append", required=True, help="a listening socket (repeatable)"
    )
    parser.add_argument("--ready-fd", type=int, default=None, help="written once serving")
    args = parser.parse_args()
    serve(fds=args.fd, ready_fd=args.ready_fd)


def serve(fds: list[int], ready_fd: int | None) -> None:
    """Serve until SIGTERM/SIGINT and the drain end (here, or in a child of the zygote)."""
    server = WebServer(fds=fds, ready_fd=ready_fd)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: reactor.callFromThread(server.drain))
    server.run()


if __name__ == "__main__":
    main()
