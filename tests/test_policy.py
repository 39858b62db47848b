"""The retry policy every task declares (tasks/policy.py): what a retry knows of the attempt before it,
and Celery's own signals from a task body."""

from __future__ import annotations

from celery import signals
from celery.exceptions import Ignore, Reject

from tasks.policy import zoho_task
from tds.zoho.errors import ZohoTransientError
from tests.helpers import wait_for

# Tasks the session worker knows from its start (defined when this module is collected).
handed_to_on_failure: list[str] = []  # what the policy asked to record: each would be a dead letter
attempts: list[tuple[str, int]] = []


def _record(task, exc, decision, *args, **kwargs):
    handed_to_on_failure.append(f"{task.name}: {exc.__class__.__name__}")
    return decision


@zoho_task("tests.policy.retries_itself", on_failure=_record)
def retries_itself(self):
    attempts.append((self.name, self.request.retries))
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "second attempt"


@zoho_task("tests.policy.ignores_itself", on_failure=_record)
def ignores_itself(self):
    attempts.append((self.name, self.request.retries))
    raise Ignore()


@zoho_task("tests.policy.rejects_itself", on_failure=_record)
def rejects_itself(self):
    attempts.append((self.name, self.request.retries))
    raise Reject("not for this worker", requeue=False)


def test_a_retry_after_an_unrecorded_failure_says_so_and_a_recorded_one_does_not(settings):
    seen, recorder_down = [], [True]

    def on_failure(task, exc, decision, *args, **kwargs):
        if recorder_down.pop() if recorder_down else False:
            raise ConnectionError("the database is down")  # the failure cannot be recorded
        return decision

    @zoho_task("tests.flaky_for_the_policy", on_failure=on_failure)
    def flaky(self, n):
        seen.append(self.request.unrecorded_failure)
        if len(seen) < 3:
            raise ZohoTransientError("503 from Zoho")
        return n

    assert flaky.apply(args=[7]).get() == 7
    # first attempt; the retry after the unrecorded failure; the retry after a recorded one
    assert seen == [False, True, False]


def test_retry_ignore_and_reject_from_a_task_body_pass_untouched(worker):
    handed_to_on_failure.clear()
    attempts.clear()
    ended = []

    def on_postrun(sender=None, state=None, **_):
        if sender.name.startswith("tests.policy."):
            ended.append((sender.name, state))

    signals.task_postrun.connect(on_postrun, weak=False)
    try:
        retries_itself.delay()
        ignores_itself.delay()
        rejects_itself.delay()
        wait_for(lambda: len(ended) == 4, timeout=30, what="the four attempts")
    finally:
        signals.task_postrun.disconnect(on_postrun)
    assert sorted(ended) == [("tests.policy.ignores_itself", "IGNORED"), ("tests.policy.rejects_itself", "REJECTED"),
                             ("tests.policy.retries_itself", "RETRY"), ("tests.policy.retries_itself", "SUCCESS")]
    assert sorted(attempts) == [("tests.policy.ignores_itself", 0), ("tests.policy.rejects_itself", 0),
                                ("tests.policy.retries_itself", 0), ("tests.policy.retries_itself", 1)]
    assert handed_to_on_failure == []
