"""Admission per model (running slots, a bounded first-in first-out queue) and the REST body
budget."""

import asyncio
import threading

import pytest

from kerasnlp_lab.serving.admission import Admission
from kerasnlp_lab.serving.body_budget import BodyBudget
from kerasnlp_lab.serving.errors import ServingError
from tests.serving.conftest import wait_until


def test_slots_queue_and_refusal():
    admission = Admission(max_running=2, max_queued=1)
    admission.enter("m", timeout=1)
    admission.enter("m", timeout=1)
    admission.enter("other", timeout=1)  # models have their own slots
    granted = threading.Event()
    waiting = threading.Thread(target=lambda: (admission.enter("m", timeout=30), granted.set()))
    waiting.start()
    wait_until(lambda: admission.counts("m") == (2, 1), "the thread to join the queue")
    with pytest.raises(ServingError) as caught:
        admission.enter("m", timeout=1)
    assert (caught.value.code, caught.value.message) == (
        "RESOURCE_EXHAUSTED",
        "Model m has 2 requests running and 1 waiting, its limits "
        "(max_concurrent_requests_per_model=2, max_queued_requests_per_model=1); retry later",
    )
    admission.leave("m")  # hands the slot to the waiting request
    waiting.join(30)
    assert granted.is_set() and admission.counts("m") == (2, 0)
    for model in ("m", "m", "other"):
        admission.leave(model)
    assert admission.counts("m") == (0, 0) and admission.counts("other") == (0, 0)


def test_a_wait_past_the_timeout_leaves_the_queue():
    admission = Admission(max_running=1, max_queued=1)
    admission.enter("m", timeout=1)
    with pytest.raises(ServingError) as caught:
        admission.enter("m", timeout=0)
    assert (caught.value.code, caught.value.message) == (
        "DEADLINE_EXCEEDED",
        "Timed out waiting for a running slot of model m "
        "(the request's time limit passed in the queue)",
    )
    assert admission.counts("m") == (1, 0)


def test_async_waiters_are_granted_in_order_and_time_out():
    admission = Admission(max_running=1, max_queued=2)

    async def scenario():
        admission.enter("m", timeout=1)
        first = asyncio.create_task(admission.enter_async("m", timeout=30))
        await asyncio.sleep(0)  # lets the task join the queue
        with pytest.raises(
            ServingError,
            match=r"^Timed out waiting for a running slot of model m \(the "
            r"request's time limit passed in the queue\)$",
        ):
            await admission.enter_async("m", timeout=0)
        assert admission.counts("m") == (1, 1)
        admission.leave("m")
        await first
        assert admission.counts("m") == (1, 0)
        admission.leave("m")

    asyncio.run(scenario())
    assert admission.counts("m") == (0, 0)


def test_body_budget():
    budget = BodyBudget(10)
    budget.reserve(6)
    with pytest.raises(ServingError) as caught:
        budget.reserve(5)
    assert (caught.value.code, caught.value.message) == (
        "RESOURCE_EXHAUSTED",
        "The server holds 6 bytes of request bodies; 5 more would pass its limit "
        "(max_buffered_request_bytes=10); retry later",
    )
    budget.release(6)
    budget.reserve(10)
    assert budget.held == 10
