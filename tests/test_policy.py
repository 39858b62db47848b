"""The retry policy every task declares (tasks/policy.py): what a retry knows of the attempt before it."""

from __future__ import annotations

from tasks.policy import zoho_task
from tds.zoho.errors import ZohoTransientError


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
