"""The retry policy every TDS task declares, once: ``@zoho_task(name, on_failure=…)``.

In the spirit of Celery's ``autoretry_for``/``retry_backoff``: the task body only does
its work; when it raises, :func:`tds.process.failures.decide` says what the failure means, the
task's ``on_failure`` records it (for an inbox event: :func:`tds.inbox.events.record_failure`),
and then, read top-down:

* retry → ``self.retry(countdown=…)``: the task shows as RETRY in Flower;
* wait (daily quota spent) → the task returns; the event waits in PostgreSQL and the
  sweeper enqueues it when its time has come (never as a long ETA message);
* dead → the exception is raised again, so the task ends as FAILURE in Flower and in its
  metrics, with the dead letter already committed;
* superseded (another attempt holds the event) → the task returns; that attempt decides.

Celery's own signals from the body — ``self.retry()`` (``Retry``), ``Ignore`` and
``Reject`` — pass untouched, as in Celery's ``autoretry``: they are not failures, so they
are neither decided nor recorded.

When recording the failure itself fails (PostgreSQL is down: the usual reason a task fails
then), nothing is known to be recorded, so the task retries with the backoff countdown
whatever the decision was: the failure is recorded by a later attempt, once the database
answers, and the event never waits for the sweeper.
"""

from __future__ import annotations

import functools
import logging
from typing import Callable

from celery import shared_task
from celery.exceptions import Ignore, Reject, Retry

from tds.config import get_settings
from tds.inbox.decisions import Action, Decision
from tds.process import failures

log = logging.getLogger(__name__)

# on_failure(task, exc, decision, *args, **kwargs) -> the decision that stands
# the keyword a retry carries when its previous attempt could not record its failure; the
# task sees it as ``self.request.unrecorded_failure`` (that attempt may still hold its event)
UNRECORDED = "_tds_unrecorded_failure"
FailureRecorder = Callable[..., Decision]


def zoho_task(name: str, on_failure: FailureRecorder | None = None):
    """Declare a task with TDS's retry policy (see the module docstring)."""

    def decorate(body):
        @functools.wraps(body)
        def run(self, *args, **kwargs):
            # a retry sent because the previous attempt could not record its failure
            self.request.unrecorded_failure = bool(kwargs.pop(UNRECORDED, False))
            try:
                return body(self, *args, **kwargs)
            except (Retry, Ignore, Reject):
                raise  # the body already told Celery what to do with this attempt
            except Exception as exc:
                decision = failures.decide(get_settings(), exc, self.request.retries)
                if on_failure is not None:
                    try:
                        decision = on_failure(self, exc, decision, *args, **kwargs)
                    except Exception as record_exc:
                        log.warning("%s[%s]: could not record its failure (%s: %s); retrying", self.name,
                                    self.request.id, record_exc.__class__.__name__, record_exc)
                        raise self.retry(kwargs={**kwargs, UNRECORDED: True}, exc=exc,
                                         countdown=failures.unrecorded_countdown(get_settings(),
                                                                                 self.request.retries)) from None
                if decision.action is Action.RETRY:
                    raise self.retry(kwargs=kwargs, exc=exc, countdown=decision.countdown)
                if decision.action is Action.DEAD:
                    raise
                return {"status": str(decision.action),
                        "until": decision.wait_until.isoformat() if decision.wait_until else None}

        return shared_task(name=name, bind=True, max_retries=None)(run)

    return decorate
