"""``tds flower``: Flower bound to 127.0.0.1 with every page behind basic auth.

Flower's own ``--basic-auth`` guards its UI and API but not ``/metrics`` and
``/healthcheck`` (their handlers never ask for the user), and without it the UI and
``/tasks/datatable`` show every task's arguments and tracebacks to anyone. So ``tds flower``
runs Flower in a process of its own (``python -m tds.ops.flower_auth``) after wrapping its
tornado application's ``find_handler``: a request without the right ``Authorization:
Basic`` header gets a 401 before any Flower handler runs — pages, API, websockets,
``/metrics`` and ``/healthcheck`` alike. The credentials come from
``TDS_FLOWER_BASIC_AUTH`` and reach Flower through its ``FLOWER_BASIC_AUTH`` variable, so they
never show in the process list.
"""

from __future__ import annotations

import base64
import hmac
import os
import sys


def authorized(header: str, credentials) -> bool:
    """Whether an ``Authorization`` header carries one of ``credentials`` (``user:password``)."""
    if not credentials:
        return True  # started with --insecure
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return False
    return any(hmac.compare_digest(given.encode(), c.encode()) for c in credentials)


def protect() -> None:
    """Every request to Flower's application is checked before its handler is found."""
    import tornado.web
    from flower.app import Flower

    class Unauthorized(tornado.web.RequestHandler):
        def prepare(self):
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'Basic realm="flower"')
            self.finish("authentication required\n")

    original = Flower.find_handler

    def find_handler(self, request, **kwargs):
        if not authorized(request.headers.get("Authorization", ""), self.options.basic_auth):
            return self.get_handler_delegate(request, Unauthorized)
        return original(self, request, **kwargs)

    Flower.find_handler = find_handler


def run(settings, address: str, port: int, extra: list[str]) -> None:
    """Replace this process with the protected Flower."""
    env = dict(os.environ)
    env.pop("FLOWER_BASIC_AUTH", None)
    if settings.flower_basic_auth:
        env["FLOWER_BASIC_AUTH"] = settings.flower_basic_auth
    os.execvpe(sys.executable, [sys.executable, "-m", "tds.ops.flower_auth", f"--address={address}", f"--port={port}",
                                *extra], env)


def main(argv: list[str]) -> None:
    from celery.bin.celery import main as celery_main

    protect()
    sys.argv = ["celery", "-A", "tasks", "flower", *argv]
    celery_main()


if __name__ == "__main__":
    main(sys.argv[1:])
