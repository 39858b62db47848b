"""Progress of syncs and reconciles for a person at a terminal, or plain log lines.

At a terminal: one bar per entity — records so far, the expected total when it is known
(rows here), records per second and the time left — and a visible state while TDS waits:
"waiting for Zoho rate limit" or "daily quota spent until HH:MM". Without a terminal (cron,
a log file), one plain line per page and per state, never bars cut at 80 columns.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

import click


class Progress:
    def __init__(self, stream=None, cancel=None):
        self.stream = stream or sys.stderr
        self.cancel = cancel  # tds.runs.Cancel: Ctrl-C ends a wait at once, and nothing is printed after it
        self.interactive = self.stream.isatty()
        self._rich = None
        self._task = None
        self._label = ""
        self._started = 0.0
        self._seen = 0

    @contextmanager
    def session(self):
        if self.interactive:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            with RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                              console=Console(file=self.stream), transient=False) as bars:
                self._rich = bars
                yield self
            self._rich = None
        else:
            yield self

    def start(self, label: str, expected: int | None = None) -> None:
        self._label, self._started, self._seen = label, time.monotonic(), 0
        if self._rich is not None:
            self._task = self._rich.add_task(label, total=expected, rate="")
        else:
            self._line(f"{label}: started" + (f", about {expected:,} records" if expected else ""))

    def page(self, records: int, seen: int, pages: int, expected: int | None = None) -> None:
        self._seen = seen
        rate = seen / max(1e-6, time.monotonic() - self._started)
        if self._rich is not None:
            total = expected if expected and expected >= seen else None
            self._rich.update(self._task, completed=seen, total=total, description=self._label,
                              rate=f"{rate:,.0f}/s, {pages} pages")
        else:
            self._line(f"{self._label}: {seen:,} records, {pages} pages, {rate:,.0f} records/s")

    def state(self, text: str) -> None:
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, description=f"{self._label} [yellow]{text}")
        else:
            self._line(f"{self._label}: {text}")

    def done(self, text: str, failed: bool = False) -> None:
        if self._rich is not None and self._task is not None:
            self._rich.update(self._task, description=f"{'[red]' if failed else ''}{self._label}: {text}",
                              total=self._seen or 1, completed=self._seen or 1)
        else:
            self._line(f"{self._label}: {text}")

    def sleep(self, seconds: float) -> None:
        """The Zoho client's sleep while it waits for the shared rate limit."""
        if self.cancel is None:
            self.state(f"waiting for Zoho rate limit ({seconds:.0f}s)")
            time.sleep(seconds)
            self.state("")
            return
        self.cancel.check()
        self.state(f"waiting for Zoho rate limit ({seconds:.0f}s)")
        self.cancel.sleep(seconds)
        self.state("")

    def _line(self, text: str) -> None:
        if self.cancel is not None and self.cancel.is_set:
            return  # a thread still finishing its call after Ctrl-C prints nothing more
        click.echo(f"{time.strftime('%H:%M:%S')} {text}", file=self.stream)
