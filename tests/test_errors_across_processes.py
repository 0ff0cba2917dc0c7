"""Every public exception crosses a process boundary as itself: pickle (every protocol),
copy, a real process pool, and a real Celery worker with its pickle and json serializers.

The errors are the SDK's own, raised by a client against scripted answers
(``httpx.MockTransport``), by a ledger that cannot be opened and by the sandbox: a worker
process or a Celery task raises them the same way.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from gatepay_async.sandbox import CardNotFound, Sandbox
from gatepay_sync import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    GatePay,
    GiftCard,
    GiftCardStatus,
    InvalidRequestError,
    LedgerError,
    OutcomeUnknownError,
    RateLimitError,
    RequestNotSentError,
    ResponseValidationError,
    ServerError,
    ValidationError,
    WaitTimeoutError,
)
from tests.helpers import (
    BASE_URL,
    CARD_KEY,
    CARD_NUMBER,
    CLIENT_ID,
    SECRET_KEY,
    TEMPLATE_ID,
    Recorder,
    card_data,
    envelope,
    fail,
    raw,
    success,
)
from tests.secret_leaks import leaked_pieces, raised_texts

# ------------------------------------------------------------------------ the errors


def _client(*answers: httpx.Response | BaseException, **options: Any) -> GatePay:
    """A client (no retries) whose requests get ``answers`` in turn."""
    return GatePay(
        client_id=CLIENT_ID,
        secret_key=SECRET_KEY,
        base_url=BASE_URL,
        http_client=httpx.Client(transport=httpx.MockTransport(Recorder(*answers))),
        max_retries=0,
        **options,
    )


def _create(gp: GatePay, amount: Any = Decimal("0.99")) -> object:
    with gp:
        return gp.gift_cards.create(
            title="Holiday", template_id=TEMPLATE_ID, currency="USDT", amount=amount
        )


def _templates(answer: httpx.Response | BaseException) -> object:
    with _client(answer) as gp:
        return gp.gift_cards.list_templates()


def _query(answer: httpx.Response | BaseException, **lookup: str) -> object:
    with _client(answer) as gp:
        return gp.gift_cards.query(**(lookup or {"card_number": CARD_NUMBER}))


def _wait() -> object:
    pending = success({"card_num": CARD_NUMBER, "key": CARD_KEY, "amount": "5", "status": 1})
    with _client(pending) as gp:
        # The deadline passes during the first poll: the text, which counts the polls, is
        # the same in every process.
        return gp.gift_cards.wait_for_status(
            card_number=CARD_NUMBER, statuses=[GiftCardStatus.NOT_REDEEMED], timeout=1e-6
        )


def _ledger() -> object:
    missing = os.path.join(tempfile.gettempdir(), "gatepay-no-such-directory", "ledger.db")
    return _create(_client(success(card_data()), ledger=f"sqlite:///{missing}"))


#: How the SDK raises each kind of error, by a name a worker process can be sent.
RAISERS: dict[str, Callable[[], object]] = {
    # A 5xx whose body holds a card: the card may exist, its number and key are in .answer.
    "create unknown, a card in the answer": lambda: _create(
        _client(raw(503, json.dumps(envelope(card_data()))))
    ),
    "create unknown, answer lost": lambda: _create(_client(httpx.ReadTimeout("timed out"))),
    "bad amount": lambda: _create(_client(), amount=0.5),
    "create refused": lambda: _create(_client(fail("400001", status_code=400))),
    # The server echoes the card key in its message: the text masks it.
    "query refused, key echoed": lambda: _query(
        fail("400001", status_code=400, message=f"card {CARD_KEY} not found"), key=CARD_KEY
    ),
    # A value masked short ("ab…") is left as it is when the text is masked again.
    "create refused, a short key in its message": lambda: _create(
        _client(fail("400001", status_code=400, message="bad card_key: ab"))
    ),
    "signature refused": lambda: _templates(fail("400002", status_code=401)),
    "rate limited": lambda: _templates(raw(429, "{}", headers={"Retry-After": "7"})),
    "server error": lambda: _templates(raw(502, "<html>Bad Gateway</html>")),
    "connection never made": lambda: _templates(httpx.ConnectError("refused")),
    "connection lost": lambda: _query(httpx.ReadError("reset by peer")),
    "read timeout": lambda: _query(httpx.ReadTimeout("timed out")),
    "unreadable answer": lambda: _templates(raw(200, '{"status": "SUCCESS", "data": [{"key')),
    "wait timeout": _wait,
    "ledger unreachable": _ledger,
    "sandbox: no such card": lambda: Sandbox().card_state("GC-NOT-IN-THIS-SANDBOX"),
}

EXPECTED_CLASS: dict[str, type[BaseException]] = {
    "create unknown, a card in the answer": OutcomeUnknownError,
    "create unknown, answer lost": OutcomeUnknownError,
    "bad amount": ValidationError,
    "create refused": InvalidRequestError,
    "query refused, key echoed": InvalidRequestError,
    "create refused, a short key in its message": InvalidRequestError,
    "signature refused": AuthenticationError,
    "rate limited": RateLimitError,
    "server error": ServerError,
    "connection never made": RequestNotSentError,
    "connection lost": APIConnectionError,
    "read timeout": APITimeoutError,
    "unreadable answer": ResponseValidationError,
    "wait timeout": WaitTimeoutError,
    "ledger unreachable": LedgerError,
    "sandbox: no such card": CardNotFound,
}
NAMES = list(RAISERS)


def raise_error(name: str) -> None:
    """Raise the SDK's error called ``name`` (what a pool worker or a Celery task runs)."""
    RAISERS[name]()
    raise AssertionError(f"{name}: nothing was raised")


def double(number: int) -> int:
    return 2 * number


def caught(name: str) -> BaseException:
    with pytest.raises(EXPECTED_CLASS[name]) as info:
        raise_error(name)
    assert type(info.value) is EXPECTED_CLASS[name]
    return info.value


# ------------------------------------------------------------------------ comparing


def _state(value: object) -> object:
    """What is compared of a value: an exception by its class, text and attributes."""
    if isinstance(value, BaseException):
        attributes = {name: _state(item) for name, item in vars(value).items()}
        return (type(value), str(value), attributes)
    return value


def assert_same_text(original: BaseException, rebuilt: BaseException) -> None:
    assert type(rebuilt) is type(original)
    assert str(rebuilt) == str(original)
    assert repr(rebuilt) == repr(original)
    shown = [CARD_NUMBER]  # an error names its card by number; the key's last digits are in it
    assert not leaked_pieces(CARD_KEY, raised_texts(rebuilt), public=shown)
    assert not leaked_pieces(SECRET_KEY, raised_texts(rebuilt))


def assert_same(original: BaseException, rebuilt: BaseException) -> None:
    """Same class, text and attributes (attributes compared through exceptions too)."""
    assert_same_text(original, rebuilt)
    assert _state(rebuilt) == _state(original)


def test_each_error_is_the_one_expected_and_carries_what_is_compared() -> None:
    """The errors compared below are the SDK's, with the attributes that matter."""
    unknown = caught("create unknown, a card in the answer")
    assert isinstance(unknown, OutcomeUnknownError)
    assert unknown.answer is not None
    assert CARD_KEY.encode() in unknown.answer.body
    assert isinstance(unknown.cause, ServerError)
    lost = caught("create unknown, answer lost")
    assert isinstance(lost, OutcomeUnknownError)
    assert isinstance(lost.cause, APITimeoutError)
    assert lost.answer is None
    bad = caught("bad amount")
    assert isinstance(bad, ValidationError)
    assert bad.argument == "amount"
    echoed = caught("query refused, key echoed")
    assert not leaked_pieces(CARD_KEY, raised_texts(echoed))
    assert str(caught("create refused, a short key in its message")).endswith("card_key: ab…")
    limited = caught("rate limited")
    assert isinstance(limited, RateLimitError)
    assert limited.retry_after == 7
    waited = caught("wait timeout")
    assert isinstance(waited, WaitTimeoutError)
    assert isinstance(waited.card, GiftCard)
    assert waited.last_status is GiftCardStatus.PENDING_PAYMENT
    assert waited.polls == 1


# ------------------------------------------------------------------------ in process


def _pickled(error: BaseException, protocol: int) -> Any:
    return pickle.loads(pickle.dumps(error, protocol=protocol))  # noqa: S301 (pickled here)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("name", NAMES)
def test_pickle_gives_back_the_same_error(name: str, protocol: int) -> None:
    original = caught(name)
    assert_same(original, _pickled(original, protocol))


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy])
@pytest.mark.parametrize("name", NAMES)
def test_copy_gives_back_the_same_error(name: str, duplicate: Callable[[Any], Any]) -> None:
    original = caught(name)
    assert_same(original, duplicate(original))


def test_the_raw_answer_survives_pickle_and_stays_out_of_the_text() -> None:
    original = caught("create unknown, a card in the answer")
    assert isinstance(original, OutcomeUnknownError)
    rebuilt = _pickled(original, pickle.DEFAULT_PROTOCOL)
    assert isinstance(rebuilt, OutcomeUnknownError)
    assert rebuilt.answer == original.answer
    assert rebuilt.raw_body is not None
    assert CARD_KEY.encode() in rebuilt.raw_body
    assert rebuilt.status_code == 503
    assert rebuilt.amount == Decimal("0.99")
    assert not leaked_pieces(CARD_KEY, raised_texts(rebuilt))
    assert not leaked_pieces(CARD_KEY, repr(rebuilt.answer))


@pytest.mark.parametrize("name", NAMES)
def test_rebuilt_from_its_args_alone_it_is_the_same_class_and_text(name: str) -> None:
    """What Celery's json serializer does: ``cls(*exc.args)``."""
    original = caught(name)
    assert_same_text(original, type(original)(*original.args))


# ------------------------------------------------------------------------ a process pool


def test_a_process_pool_gets_each_error_as_itself_and_keeps_working() -> None:
    expected = {name: caught(name) for name in NAMES}
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter unpickles nothing shared
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        futures = {name: pool.submit(raise_error, name) for name in NAMES}
        doubled = pool.submit(double, 21)
        for name, future in futures.items():
            error = future.exception(timeout=120)
            assert error is not None, name
            assert_same(expected[name], error)
        assert doubled.result(timeout=120) == 42
        assert pool.submit(double, 50).result(timeout=120) == 100


# ------------------------------------------------------------------------ Celery


@pytest.fixture(scope="module", params=["pickle", "json"])
def celery_app(request: pytest.FixtureRequest) -> Iterator[Celery]:
    """A Celery worker (a thread of this process) with an in-memory broker and result
    backend, every message and result in ``request.param``."""
    serializer = request.param
    app = Celery(
        f"gatepay-errors-{serializer}",
        broker="memory://",
        backend="cache+memory://",
        set_as_current=False,
    )
    app.conf.update(
        task_serializer=serializer,
        result_serializer=serializer,
        accept_content=[serializer],
        result_accept_content=[serializer],
    )
    app.task(name="gatepay_test.raise_error")(raise_error)
    app.task(name="gatepay_test.double")(double)
    with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
        yield app


def test_celery_gives_the_caller_each_error_as_itself(celery_app: Celery) -> None:
    serializer = celery_app.conf.result_serializer
    results = {
        name: celery_app.send_task("gatepay_test.raise_error", args=[name]) for name in NAMES
    }
    for name, result in results.items():
        error = result.get(timeout=60, propagate=False)
        assert isinstance(error, BaseException), (name, error)
        expected = caught(name)
        if serializer == "pickle":
            assert_same(expected, error)
        else:  # json carries the class and the text; the attributes do not fit in it
            assert_same_text(expected, error)
    assert celery_app.send_task("gatepay_test.double", args=[21]).get(timeout=60) == 42


def test_a_retry_policy_on_celery_sees_an_unknown_outcome_not_a_plain_error(
    celery_app: Celery,
) -> None:
    """``except OutcomeUnknownError`` in the caller still matches, and so it does not
    create the card again; with pickle, the raw answer is there to recover it from."""
    result = celery_app.send_task(
        "gatepay_test.raise_error", args=["create unknown, a card in the answer"]
    )
    with pytest.raises(OutcomeUnknownError) as info:
        result.get(timeout=60)
    if celery_app.conf.result_serializer == "pickle":
        assert info.value.raw_body is not None
        assert CARD_KEY.encode() in info.value.raw_body
