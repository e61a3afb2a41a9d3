"""Login limits under concurrency (issue 23), against a real uvicorn on 127.0.0.1 with real
threads: 40 concurrent wrong passwords from one address had 34 evaluated (limit 5), 40 TOTP
codes 26, and 40 guesses on one account from rotating addresses all 40. The check and the
count were separate transactions with the argon2 or TOTP check between them; now the attempt
is reserved atomically first and a success gives it back. Bounded: 40 requests each."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from enforcement.settings import Settings
from enforcement.web.core.state import WebContext
from tests.enforcement.casework.conftest import CaseDB
from tests.enforcement.web.conftest import (
    PASSWORD,
    Web,
    csrf_of,
    logged_in,
    make_web,
)
from zes.embedded import free_port

GUESSES = 40


def _serve(web: Web) -> Iterator[str]:
    config = uvicorn.Config(
        web.app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning",
        limit_concurrency=200,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="race-review-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def racing(
    case_db: CaseDB, register: Any, zones_settings: Settings, tmp_path: Path
) -> Iterator[tuple[Web, str]]:
    web = make_web(
        case_db, register, zones_settings, tmp_path, cookie_secure=False,
        login_account_per_hour=6, trusted_proxies=["127.0.0.1/32"],
    )  # fmt: skip
    for url in _serve(web):
        yield web, url


def _burst(request: Callable[[int], int]) -> Counter[int]:
    """`GUESSES` requests at once from as many threads; their status codes."""
    start = threading.Barrier(GUESSES, timeout=60)

    def one(i: int) -> int:
        start.wait()
        return request(i)

    with ThreadPoolExecutor(GUESSES) as pool:
        return Counter(pool.map(one, range(GUESSES), timeout=120))


def _login_form(client: httpx.Client) -> str:
    return csrf_of(client.get("/login").text)


def _failures(web: Web) -> dict[str, float]:
    ctx: WebContext = web.app.state.zes
    registry: CollectorRegistry = ctx.metrics.registry
    return {
        s.labels["reason"]: s.value
        for m in registry.collect()
        if m.name == "zes_review_login_failures"
        for s in m.samples
        if s.name.endswith("_total")
    }


def test_concurrent_wrong_passwords_from_one_address_are_evaluated_at_most_the_limit(
    racing: tuple[Web, str],
) -> None:
    web, url = racing
    clients = [httpx.Client(base_url=url, follow_redirects=False) for _ in range(GUESSES)]
    tokens = [_login_form(c) for c in clients]

    def guess(i: int) -> int:
        data = {"username": "anna", "password": f"wrong guess {i:04d}", "csrf_token": tokens[i]}
        return clients[i].post("/login", data=data).status_code

    statuses = _burst(guess)
    for client in clients:
        client.close()
    limit = web.cases.login_attempts
    assert statuses[401] <= limit, statuses  # evaluated: the argon2 check ran
    assert statuses[401] + statuses[429] == GUESSES
    failures = _failures(web)
    assert failures["password"] == statuses[401]
    assert failures["address_limit"] == statuses[429]


def test_concurrent_wrong_codes_are_evaluated_at_most_the_limit(racing: tuple[Web, str]) -> None:
    web, url = racing
    logged_in(web, "sara")  # a supervisor: enrols a second factor at the first login
    client = httpx.Client(base_url=url, follow_redirects=False)
    data = {"username": "sara", "password": PASSWORD, "csrf_token": _login_form(client)}
    assert client.post("/login", data=data).headers["location"] == "/login/code"
    token = csrf_of(client.get("/login/code").text)
    cookies = dict(client.cookies)

    def guess(i: int) -> int:
        with httpx.Client(base_url=url, cookies=cookies, follow_redirects=False) as one:
            wrong = f"{(int(web.code('sara')) + 1 + i) % 1_000_000:06d}"
            return one.post("/login/code", data={"code": wrong, "csrf_token": token}).status_code

    statuses = _burst(guess)
    client.close()
    assert statuses[401] <= web.cases.login_attempts, statuses
    assert statuses[401] + statuses[429] == GUESSES
    assert _failures(web)["code_limit"] == statuses[429]


def test_one_account_from_rotating_addresses_is_capped_per_hour(racing: tuple[Web, str]) -> None:
    """ASVS 2.2.1: 40 guesses on one account from 40 addresses were all evaluated."""
    web, url = racing
    cap = web.cases.login_account_per_hour
    # A right password does not use up the hour (a success gives its place back).
    with httpx.Client(base_url=url, follow_redirects=False) as anna:
        anna.headers["x-forwarded-for"] = "198.51.100.1"
        data = {"username": "anna", "password": PASSWORD, "csrf_token": _login_form(anna)}
        assert anna.post("/login", data=data).status_code == 303

    def guess(i: int) -> int:
        with httpx.Client(base_url=url, follow_redirects=False) as one:
            one.headers["x-forwarded-for"] = f"203.0.113.{i + 10}"  # a new address each
            data = {"username": "anna", "password": f"guess {i}", "csrf_token": _login_form(one)}
            return one.post("/login", data=data).status_code

    statuses = _burst(guess)
    assert statuses[401] == cap, statuses  # exactly the cap: none lost, none extra
    assert statuses[429] == GUESSES - cap
    assert _failures(web)["account_limit"] == GUESSES - cap
    # The right password is refused too for the rest of the hour: the cap is the account's.
    with httpx.Client(base_url=url, follow_redirects=False) as anna:
        anna.headers["x-forwarded-for"] = "198.51.100.1"
        data = {"username": "anna", "password": PASSWORD, "csrf_token": _login_form(anna)}
        response = anna.post("/login", data=data)
    assert response.status_code == 429
    assert re.search(r"zes_review_login_failures_total", _metrics_text(web))


def _metrics_text(web: Web) -> str:
    from prometheus_client import generate_latest

    ctx: WebContext = web.app.state.zes
    return generate_latest(ctx.metrics.registry).decode()
