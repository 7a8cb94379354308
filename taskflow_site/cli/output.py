"""What the CLI prints: coloured on a terminal unless NO_COLOR or --no-color, and time-stamped
under `taskflow run`, where its lines sit among the children's log lines."""

from __future__ import annotations

import os
import sys
import time

from taskflow_site.config import Config


class Out:
    def __init__(self, color: bool, timestamps: bool = False):
        self.color = color
        self.timestamps = timestamps

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def stamp(self, text: str) -> str:
        return f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}" if self.timestamps else text

    def say(self, text: str = "") -> None:
        print(self.stamp(text), flush=True)

    def ok(self, text: str) -> None:
        self.say(self.paint(text, "32"))

    def warn(self, text: str) -> None:
        print(self.stamp(self.paint(f"taskflow: {text}", "33")), file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        print(self.stamp(self.paint(f"taskflow: {text}", "31")), file=sys.stderr, flush=True)


def output_for(config: Config | None) -> Out:
    no_color = bool(config and config.no_color) or bool(os.environ.get("NO_COLOR"))
    return Out(color=not no_color and sys.stdout.isatty())
