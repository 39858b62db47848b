"""What a failed attempt leads to: the decision :func:`tds.process.failures.decide` takes and the
inbox and the tasks' retry policy act on. Kept apart from the classification so that the
webhook receiver, which records nothing but new events, never loads the Zoho client."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class Action(enum.StrEnum):
    RETRY = "retry"
    WAIT = "wait"
    DEAD = "dead"
    SUPERSEDED = "superseded"  # another attempt holds the event: this one records nothing


@dataclass(frozen=True)
class Decision:
    action: Action
    countdown: float = 0.0
    wait_until: dt.datetime | None = None


def describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:4000]
