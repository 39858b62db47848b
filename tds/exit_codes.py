"""What the ``tds`` command's exit status means, and the one-line form of expected failures.

An expected failure (a setting missing, PostgreSQL or Redis down, a name mistyped) is
printed as one line — what failed, then how to fix it — and exits with one of the codes
below. ``tds --debug ...`` shows the traceback instead. ``docs/operations.md`` has the same
table with what to do for each code.

=====  ==========================================================================
code   meaning
=====  ==========================================================================
0      done
1      the command ran and found a problem (a sync failed, a reconcile found a
       mismatch or could not repair it, a doctor check ✘, a migration is pending,
       the demo's changes did not all land; ``tds status``: a warning)
2      usage or configuration: a bad option, an unknown entity, a missing or
       malformed setting
3      another run of an entity holds its lock (sync, reconcile)
4      refused: the sync's estimate does not fit today's Zoho quota
5      the database: unreachable, missing, or its schema is not current
6      Redis: unreachable
7      Zoho: the credentials were refused, or Zoho could not be reached
8      refused to touch data that is not TDS's to touch (the demo and a
       database holding real data)
130    interrupted by Ctrl-C (143: by SIGTERM); a run is marked aborted
=====  ==========================================================================
"""

from __future__ import annotations

import enum

from tds.config import mask_url


class ExitCode(enum.IntEnum):
    OK = 0
    PROBLEM = 1
    USAGE = 2
    ALREADY_RUNNING = 3
    OVER_BUDGET = 4
    DATABASE = 5
    REDIS = 6
    ZOHO = 7
    REFUSED = 8
    INTERRUPTED = 130
    TERMINATED = 143


class Failure(Exception):
    """An expected failure: ``what`` failed, ``fix`` says what to do; exits with ``code``."""

    def __init__(self, what: str, fix: str, code: ExitCode) -> None:
        super().__init__(what)
        self.what = mask_url(what)
        self.fix = mask_url(fix)
        self.code = code

    def line(self) -> str:
        return f"{self.what}; {self.fix}" if self.fix else self.what


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, with any URL password masked."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return mask_url(text[0].strip()) if text else exc.__class__.__name__


def database_failure(exc: BaseException, shown_url: str) -> Failure:
    """A database error as one line: missing database, wrong password, server down, old schema."""
    text = str(getattr(exc, "orig", None) or exc)
    lowered = text.lower()
    if "does not exist" in lowered and "database" in lowered:
        name = shown_url.rsplit("/", 1)[-1].split("?")[0]
        return Failure(f"database {shown_url} does not exist",
                       f"create it (createdb {name}, or CREATE DATABASE {name}) and run tds db upgrade",
                       ExitCode.DATABASE)
    if "password authentication failed" in lowered or "authentication failed" in lowered:
        return Failure(f"database {shown_url} refused the user or password",
                       "correct the user and password in TDS_DATABASE_URL", ExitCode.DATABASE)
    if ("no such table" in lowered or "undefinedtable" in lowered
            or ("relation" in lowered and "does not exist" in lowered)):
        return Failure(f"database {shown_url} has no TDS schema or an old one",
                       "run tds db upgrade", ExitCode.DATABASE)
    if "unable to open database file" in lowered:
        return Failure(f"database {shown_url} cannot be opened",
                       "check that the folder exists and is writable", ExitCode.DATABASE)
    return Failure(f"database {shown_url} is unreachable ({first_line(exc)})",
                   "start PostgreSQL or correct the host and port in TDS_DATABASE_URL", ExitCode.DATABASE)


def redis_failure(exc: BaseException, shown_url: str) -> Failure:
    return Failure(f"Redis at {shown_url} is unreachable ({first_line(exc)})",
                   "start Redis or correct TDS_REDIS_URL", ExitCode.REDIS)
