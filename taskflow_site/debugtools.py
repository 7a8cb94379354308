"""Debug profiling (LocalFlow's pprof), only with --debug / TASKFLOW_DEBUG and only for admins:
`?profile=1` on any page returns that request's cProfile report; /debug/stacks lists the stacks
of every thread of the web process; `kill -USR1 <pid>` makes a process dump its stacks to its log.
/debug/ lists them, and LocalFlow's address, /debug/pprof/, leads there.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
import traceback

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse


def _is_admin(request) -> bool:
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated and getattr(user, "is_admin", False))


def install_stack_dump_signal() -> None:
    """`kill -USR1 <pid>` writes every thread's stack to stderr (the log); debug mode only."""
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)


class ProfileMiddleware:
    """Profile one request with cProfile when an admin adds ?profile=1 in debug mode."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not (settings.DEBUG and "profile" in request.GET and _is_admin(request)):
            return self.get_response(request)
        profiler = cProfile.Profile()
        response = profiler.runcall(self.get_response, request)
        report = io.StringIO()
        stats = pstats.Stats(profiler, stream=report).sort_stats("cumulative")
        stats.print_stats(60)
        header = f"{request.method} {request.path} -> {response.status_code}\n\n"
        return HttpResponse(header + report.getvalue(), content_type="text/plain; charset=utf-8")


def _debug_admin(request) -> None:
    if not (settings.DEBUG and _is_admin(request)):
        raise Http404


def stacks(request):
    """Every thread's current stack in this (web) process; 404 unless debug mode and admin."""
    _debug_admin(request)
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        parts.append(f"Thread {names.get(ident, '?')} ({ident}):\n")
        parts.append("".join(traceback.format_stack(frame)))
        parts.append("\n")
    return HttpResponse("".join(parts), content_type="text/plain; charset=utf-8")


INDEX = """TaskFlow profiling (debug mode, admins only); LocalFlow's /debug/pprof/ leads here.

/debug/stacks    every thread's stack in this web process (pprof's goroutine dump)
?profile=1       on any page or API address (/api/jobs?profile=1): that request's cProfile
                 report by cumulative time (pprof's CPU profile)
kill -USR1 PID   a process (web, cluster) writes every thread's stack to its log
"""


def profiling_index(request):
    """What debug mode offers and where; 404 unless debug mode and an admin."""
    _debug_admin(request)
    return HttpResponse(INDEX, content_type="text/plain; charset=utf-8")


def pprof(request, rest: str = ""):
    """LocalFlow's /debug/pprof/ (and anything under it): our profiling index."""
    _debug_admin(request)
    return HttpResponseRedirect(reverse("debug-index"))
