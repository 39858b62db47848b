"""One log format for every process: ``TDS_LOG_FORMAT=text`` (default) or ``json``.

Every line carries the component (``receiver``, ``worker``, ``beat``, ``cli``, ``status-page``,
``flower``, ``demo``) and, when the code runs for one, the inbox event id (``event_id``) or
sync run id (``run_id``), set with :func:`context`; in text they follow the level
(``worker event=42``), in JSON they are keys. :func:`setup` is called once per process by
the ``tds`` command, the Celery app's worker and beat signals, and the receiver's factory.

Secrets stay out: settings print masked (:class:`tds.config.Settings`), the access log
leaves out the query string, and :class:`Redact` replaces any configured secret that still
reaches a message with ``***``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys

_event_id: contextvars.ContextVar = contextvars.ContextVar("tds_event_id", default=None)
_run_id: contextvars.ContextVar = contextvars.ContextVar("tds_run_id", default=None)
_component = "tds"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(component)s%(context)s %(name)s: %(message)s"


@contextlib.contextmanager
def context(event_id=None, run_id=None):
    """Tag every log line inside with this inbox event or sync run."""
    tokens = []
    if event_id is not None:
        tokens.append((_event_id, _event_id.set(event_id)))
    if run_id is not None:
        tokens.append((_run_id, _run_id.set(run_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Adds ``component``, ``event_id``, ``run_id`` (and ``context`` for the text format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.component = _component
        record.event_id = getattr(record, "event_id", None) or _event_id.get()
        record.run_id = getattr(record, "run_id", None) or _run_id.get()
        parts = [f"event={record.event_id}"] if record.event_id is not None else []
        parts += [f"run={record.run_id}"] if record.run_id is not None else []
        record.context = (" " + " ".join(parts)) if parts else ""
        return True


class Redact(logging.Filter):
    """Replaces any of ``secrets`` in a formatted message (and its traceback) with ``***``."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = self._clean(text), None
        return True

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _secrets(settings) -> list[str]:
    import dataclasses

    found = [getattr(settings, f.name) for f in dataclasses.fields(settings) if f.metadata.get("secret")]
    from urllib.parse import urlsplit

    for url in (settings.database_url, settings.redis_url):
        password = urlsplit(url).password
        if password:
            found.append(password)
    return [str(v) for v in found if v]


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        return JsonFormatter("%(asctime)s %(levelname)s %(component)s %(name)s %(message)s %(event_id)s %(run_id)s",
                             rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
    return logging.Formatter(TEXT_FORMAT)


def setup(settings, component: str, stream=None, keep: bool = False) -> None:
    """Configure the root logger for this process (idempotent: handlers are replaced). With
    ``keep``, a process already set up keeps its component (an app built inside the demo or a
    test logs as that process)."""
    global _component
    root = logging.getLogger()
    if keep and any(getattr(h, "_tds", False) for h in root.handlers):
        return
    _component = component
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    handler.addFilter(ContextFilter())
    handler.addFilter(Redact(_secrets(settings)))
    for old in list(root.handlers):
        if getattr(old, "_tds", False):
            root.removeHandler(old)
    handler._tds = True
    root.addHandler(handler)
    root.setLevel(settings.log_level)
