"""Rate limits nobody publishes (issue 27): the emulator's token buckets on an injected
clock, the client's per-token pause and its adaptive concurrency, all on fake time."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from click.testing import CliRunner
from idgraph.connector.postmark import PostmarkClient, RetryPolicy
from idgraph.connector.postmark._pacing import (
    FRESH_AFTER,
    SPACED_SHARE,
    AdaptiveLimit,
    TokenPauses,
    _Turn,
)
from idgraph.connector.postmark.emulator import PostmarkEmulator
from idgraph.connector.postmark.emulator.limits import (
    RateLimit,
    RateLimiter,
    parse_rate_limit,
)

from ..conftest import FakeClock, run, until
from .fixtures import mock_client

# -- the emulator's limits ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit"),
    [("80/s", RateLimit(80, 80)), ("80/s,10", RateLimit(80, 10)), ("0.5/s", RateLimit(0.5, 1))],
)
def test_a_rate_limit_reads_as_rate_and_burst(text, limit):
    assert parse_rate_limit(text) == limit


@pytest.mark.parametrize("text", ["80", "80/m", "0/s", "80/s,0", "fast"])
def test_a_bad_rate_limit_says_how_to_write_one(text):
    with pytest.raises(ValueError, match="RATE/s|above 0"):
        parse_rate_limit(text)


def test_the_overall_bucket_lets_a_burst_through_then_the_rate():
    clock = FakeClock()
    limiter = RateLimiter(overall=RateLimit(10, 3), monotonic=clock.monotonic)
    assert [limiter.admit(f"t{i}") for i in range(4)] == [True, True, True, False]
    clock.now += 0.1  # one token refilled
    assert [limiter.admit("t9"), limiter.admit("t9")] == [True, False]


def test_the_per_token_bucket_refuses_only_that_token():
    clock = FakeClock()
    limiter = RateLimiter(per_token=RateLimit(2, 1), monotonic=clock.monotonic)
    assert [limiter.admit("a"), limiter.admit("a"), limiter.admit("b")] == [True, False, True]
    clock.now += 0.5
    assert limiter.admit("a")


def test_a_refused_request_takes_no_token_from_the_overall_bucket():
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(10, 2), RateLimit(1, 1), monotonic=clock.monotonic)
    assert [limiter.admit("a"), limiter.admit("a"), limiter.admit("b")] == [True, False, True]


def test_the_emulator_answers_a_bare_429_over_its_limit():
    clock = FakeClock()
    with PostmarkEmulator(token_rate_limit=RateLimit(1, 1), clock=clock.monotonic) as emu:
        headers = {
            "X-Postmark-Account-Token": emu.account_tokens[0],
            "Accept": "application/json",
        }
        url = f"{emu.url}/servers?count=1&offset=0"
        first, second = httpx.get(url, headers=headers), httpx.get(url, headers=headers)
        clock.now += 1.0
        third = httpx.get(url, headers=headers)
    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)
    assert "retry-after" not in second.headers
    assert not [name for name in second.headers if "rate" in name.lower()]
    assert emu.stats.statuses[429] == 1


def test_emulator_serve_takes_the_limits():
    from idgraph.connector.postmark.commands import emulator_serve

    result = CliRunner().invoke(emulator_serve, ["--rate-limit", "80/m"])
    assert result.exit_code == 2 and "RATE/s" in result.output


# -- the client ---------------------------------------------------------------------------


def _client(handler, clock: FakeClock, concurrency: int = 2) -> PostmarkClient:
    policy = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=5, max_total_wait=10)
    return mock_client(handler, clock, retry=policy, concurrency=concurrency)


def test_a_429_on_one_server_token_does_not_delay_another_tokens_request():
    clock = FakeClock(auto=False)
    sent: list[tuple[str, float]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers["x-postmark-server-token"]
        sent.append((token, clock.monotonic()))
        await asyncio.sleep(0)
        if (token, clock.monotonic()) == ("a", 0.0):
            return httpx.Response(429, json={"ErrorCode": 429, "Message": "Rate"})
        return httpx.Response(200, json={"Webhooks": []})

    async def go():
        async with _client(handler, clock) as client:
            first = asyncio.create_task(client.list_webhooks("a"))
            await until(lambda: len(clock.waiting) == 1, "the throttled request waits")
            # "b" goes at once, while "a" is paused; "a"'s second request waits with it
            await client.list_webhooks("b")
            again = asyncio.create_task(client.list_webhooks("a"))
            for _ in range(100):
                await asyncio.sleep(0)
            assert sent == [("a", 0.0), ("b", 0.0)]  # a's other request waits too
            clock.advance(max(clock.waiting))
            await asyncio.gather(first, again)

    run(go())
    assert sent[:2] == [("a", 0.0), ("b", 0.0)]
    assert sorted(t for t, _at in sent[2:]) == ["a", "a"]
    assert all(at > 0 for _t, at in sent[2:])


@pytest.mark.parametrize(("retry_after", "waited"), [("0.8", 0.8), ("30", 5.0)])
def test_retry_after_is_honoured_for_that_token(retry_after, waited):
    clock = FakeClock()
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(clock.monotonic())
        if len(sent) == 1:
            return httpx.Response(
                429,
                json={"ErrorCode": 429, "Message": "Rate"},
                headers={"Retry-After": retry_after},
            )
        return httpx.Response(200, json={"Webhooks": []})

    async def go():
        async with _client(handler, clock) as client:
            await client.list_webhooks("a")

    run(go())
    assert sent == [0.0, waited]  # the wait asked for (capped at max_delay), once
    assert clock.sleeps == [waited]


def test_the_limit_falls_under_many_429s_and_recovers_after():
    clock = FakeClock()
    limit = AdaptiveLimit(8, clock)

    def cut_once() -> int:
        """429s on requests sent since the last cut, until the limit is cut: how many."""
        before, answers = limit.limit, 0
        while limit.limit == before and answers < 50:
            limit.answered(limit.sent(), throttled=True)
            answers += 1
        return answers

    assert cut_once() == AdaptiveLimit.QUICK_SHARE  # 4 of the latest 5: met hard
    assert limit.limit == 5
    stale = 0  # requests sent before that cut cannot cut again
    for _ in range(20):
        limit.answered(stale, throttled=True)
    assert limit.limit == 5
    cut_once()
    assert limit.limit == 3
    for _ in range(5):
        cut_once()
    assert limit.limit == 1  # never below one
    seen = []
    for _ in range(60):  # answers succeed: one more every INCREASE_AFTER seconds, the step
        clock.now += 0.5  # back to the level of the last cut after PROBE_AFTER
        limit.answered(limit.sent(), throttled=False)
        seen.append(limit.limit)
    assert seen[-1] == 8 and seen == sorted(seen)  # back to --concurrency, and no further
    assert seen.index(2) == AdaptiveLimit.PROBE_AFTER / 0.5 - 1
    assert seen.index(3) - seen.index(2) == AdaptiveLimit.INCREASE_AFTER / 0.5
    assert limit.lowest == 1 and limit.cuts >= 3


def test_a_limit_met_slowly_shows_as_a_share_of_the_answers():
    """A third of the answers 429s, never 4 of 5 in a row: 6 of the latest 20 cut."""
    limit = AdaptiveLimit(8, FakeClock())
    for index in range(20):
        limit.answered(limit.sent(), throttled=index % 3 == 0)
        if limit.cuts:
            break
    assert limit.cuts == 1 and limit.limit == 5 and index == 15


def test_a_few_429s_do_not_lower_the_limit():
    clock = FakeClock()
    limit = AdaptiveLimit(8, clock)
    for index in range(200):  # every 20th answer a 429: a one-off, not a limit
        limit.answered(limit.sent(), throttled=index % 20 == 0)
    assert limit.limit == 8 and limit.cuts == 0


def test_the_client_sends_fewer_at_once_under_an_overall_limit():
    """A stand-in refusing every request beyond 2 in flight: the client's concurrency falls
    from 8 to what passes, every request is answered in the end, and it climbs back once
    the limit is lifted."""
    clock = FakeClock()
    state = {"in_flight": 0, "cap": 2, "most": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        state["in_flight"] += 1
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            if state["in_flight"] > state["cap"]:
                return httpx.Response(429, json={"ErrorCode": 429, "Message": "Rate"})
            state["most"] = max(state["most"], state["in_flight"])
            return httpx.Response(200, json={"Webhooks": []})
        finally:
            state["in_flight"] -= 1

    async def go():
        async with _client(handler, clock, concurrency=8) as client:
            client.retry = RetryPolicy(
                max_attempts=20, base_delay=0.01, max_delay=0.05, max_total_wait=60
            )
            await asyncio.gather(*(client.list_webhooks(f"t{i}") for i in range(60)))
            fallen = client.limit.limit
            state["cap"] = 100
            for _ in range(30):
                clock.now += 1.0
                await asyncio.gather(*(client.list_webhooks(f"u{i}") for i in range(8)))
            return fallen, client.limit

    fallen, limit = run(go())
    assert fallen < 8 and limit.cuts > 0
    assert limit.limit == 8  # recovered


def test_429s_on_tokens_just_used_do_not_lower_the_limit():
    """A token's own limit refuses the requests that follow its last one closely: those
    429s pause the token, not the whole client."""
    limit = AdaptiveLimit(8, FakeClock())
    for _ in range(50):
        limit.answered(limit.sent(), throttled=True, fresh=False)
    assert limit.limit == 8 and limit.cuts == 0


def test_a_request_is_fresh_when_its_token_was_quiet_for_a_second():
    clock = FakeClock()
    pauses = TokenPauses(RetryPolicy().delay, 20.0, random.Random(1), clock)
    assert pauses.sending("a")[0] and not pauses.sending("a")[0] and pauses.sending("b")[0]
    clock.now += FRESH_AFTER
    assert pauses.sending("a") == (True, FRESH_AFTER)


def test_a_limit_per_token_teaches_how_far_apart_a_tokens_requests_go():
    """Every token's second request, sent with its first, gets a 429 (a limit per token);
    each retry that goes through says how long after the token's last answered request is
    enough. Once SPACED_SHARE such 429s show a limit (not one-offs), a token's requests
    are spaced by the first gap seen (the 429s stop), then by the least of those seen
    ("a"'s came before the limit showed; "c"'s retry waited long)."""
    clock = FakeClock()
    pauses = TokenPauses(lambda failures, rng: 0.5, 20.0, random.Random(1), clock)
    tokens = [("a", 0.6)] + [(f"t{i}", 0.9) for i in range(SPACED_SHARE - 2)]
    learnt = [("c", 3.0), ("d", 0.8), ("e", 0.7), ("f", 0.9), ("g", 1.5)]
    spacings = []
    for token, wait in tokens + learnt:
        spacings.append(pauses.spacing)
        start = clock.now
        pauses.succeeded(token, *reversed(pauses.sending(token)))  # the first goes through
        fresh, _at = pauses.sending(token)  # the second, at once: refused
        assert pauses.throttled(token, None, fresh, 1) == 0.5
        clock.now = start + wait
        fresh, at = pauses.sending(token)  # its retry goes through
        pauses.succeeded(token, at, fresh)
        clock.now += 5.0
    assert spacings[: len(tokens) + 1] == [0.0] * (len(tokens) + 1)  # before it showed
    assert spacings[len(tokens) + 1 :] == pytest.approx([3.0, 0.8, 0.7, 0.7])
    assert pauses.spacing == pytest.approx(0.7)
    pauses.sending("a")
    assert pauses.remaining("a") == pytest.approx(0.7)  # its next request waits
    assert pauses.remaining("new") <= 0  # a token never used goes at once


def test_one_off_429s_teach_no_spacing():
    clock = FakeClock()
    pauses = TokenPauses(lambda failures, rng: 0.1, 20.0, random.Random(1), clock)
    for index in range(100):  # every 20th follow-up request refused once
        token = f"t{index}"
        pauses.succeeded(token, *reversed(pauses.sending(token)))
        fresh, at = pauses.sending(token)
        if index % 20 == 0:
            pauses.throttled(token, None, fresh, 1)
            clock.now += 0.1
            fresh, at = pauses.sending(token)
        pauses.succeeded(token, at, fresh)
    assert pauses.spacing == 0.0


def test_emulator_serve_says_which_limits_it_enforces():
    """The banner names the limits in force (a client is never told them)."""
    import subprocess
    import sys
    from pathlib import Path

    idgraph = str(Path(sys.executable).parent / "idgraph")
    command = [idgraph, "emulator", "serve", "--port", "0", "--rate-limit", "80/s,10"]
    process = subprocess.Popen(
        [*command, "--token-rate-limit", "2/s"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().startswith("Postmark API emulator at http://")
        enforcing = process.stdout.readline()
    finally:
        process.terminate()
        process.wait(10)
    assert enforcing.startswith("  enforcing: overall 80/s,10"), enforcing
    assert "per token 2/s,2" in enforcing, enforcing


# -- a limit per token met by one token's several requests at once --------------------------


async def _on_fake_time(clock: FakeClock, work, turns: int = 200):
    """Run `work` on `clock` (auto=False): let everything that can run, run, then move time
    on to the next sleeper's wake-up, until `work` is done."""
    task = asyncio.create_task(work)
    while not task.done():
        for _ in range(turns):
            await asyncio.sleep(0)
            if task.done():
                break
        else:
            assert clock.waiting, "nothing runs and nothing sleeps"
            clock.advance(clock.waiting[0] - clock.now)
    return task.result()


def _paged_account(clock: FakeClock, per_token: RateLimit, sent: list[tuple[str, float]]):
    """A stand-in holding 1 server, 7 senders and 1 domain (pages of 5: 2 pages of senders,
    read twice to confirm), refusing with a bare 429 what `per_token` does not let through."""
    limiter = RateLimiter(per_token=per_token, monotonic=clock.monotonic)
    items = {
        "servers": ("Servers", 1),
        "senders": ("SenderSignatures", 7),
        "domains": ("Domains", 1),
    }

    on_the_wire = {"now": 0, "most since a 429": 0, "429 answered": False}

    async def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers["x-postmark-account-token"]
        admitted = limiter.admit(token)
        if on_the_wire["429 answered"]:
            on_the_wire["most since a 429"] = max(
                on_the_wire["most since a 429"], on_the_wire["now"] + 1
            )
        sent.append((request.url.path, clock.monotonic(), admitted))
        on_the_wire["now"] += 1
        await asyncio.sleep(0)  # on the wire: the others get to go too
        on_the_wire["now"] -= 1
        if not admitted:
            on_the_wire["429 answered"] = True
            return httpx.Response(429, json={"ErrorCode": 429, "Message": "Rate"})
        key, total = items[request.url.path.strip("/")]
        offset, count = int(request.url.params["offset"]), int(request.url.params["count"])
        page = [
            {"ID": i + 1, "Name": f"n{i}", "EmailAddress": f"n{i}@example.com"}
            for i in range(offset, min(total, offset + count))
        ]
        return httpx.Response(200, json={"TotalCount": total, key: page})

    return handler, on_the_wire


@pytest.mark.parametrize("seed", range(40))
def test_one_tokens_listings_at_once_under_its_limit_all_complete(seed):
    """The Account token's three listings start at once and meet 2/s per token: after the
    first 429 the token's requests go one at a time, so their retries never collide, and
    every listing completes, with the default retry policy, whatever the jitter drew."""
    clock = FakeClock(auto=False)
    sent: list[tuple[str, float, bool]] = []
    handler, on_the_wire = _paged_account(clock, RateLimit(2, 1), sent)

    async def go():
        client = mock_client(handler, clock, retry=RetryPolicy(), concurrency=8)
        client._rng.seed(seed)
        async with client:
            return await asyncio.gather(
                client.list_servers(page_size=5),
                client.list_sender_signatures(page_size=5),
                client.list_domains(page_size=5),
            )

    servers, senders, domains = run(_on_fake_time(clock, go()))
    assert (len(servers), len(senders), len(domains)) == (1, 7, 1)
    # the three first requests at once cost two 429s; after them, the token's requests go
    # one at a time, each after the last one's answer and its pause, and a retry at least
    # twice as far from the token's last success as the one refused: a few 429s more
    assert on_the_wire["most since a 429"] == 1
    in_a_row: dict[str, int] = {}  # each listing's requests go one after another
    for path, _at, admitted in sent:
        in_a_row[path] = 0 if admitted else in_a_row.get(path, 0) + 1
        # far from the 6 attempts a request has (RetryPolicy().max_attempts)
        assert in_a_row[path] <= RetryPolicy().max_attempts - 2, sent


def test_a_paused_tokens_waiting_requests_go_one_at_a_time():
    """ "a"'s first request is refused and three more of "a" queue behind its pause: when it
    ends they go one at a time, each after the last one's answer; "b" is not held."""
    clock = FakeClock(auto=False)
    events: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers["x-postmark-server-token"]
        events.append(f"send {token}")
        for _ in range(3):
            await asyncio.sleep(0)  # on the wire: anything free to go goes meanwhile
        events.append(f"answer {token}")
        if events.count("send a") == 1 and token == "a":
            return httpx.Response(429, json={"ErrorCode": 429, "Message": "Rate"})
        return httpx.Response(200, json={"Webhooks": []})

    async def go():
        async with _client(handler, clock, concurrency=8) as client:
            first = asyncio.create_task(client.list_webhooks("a"))
            await until(lambda: len(clock.waiting) == 1, "the refused request waits its turn")
            others = [asyncio.create_task(client.list_webhooks("a")) for _ in range(3)]
            await client.list_webhooks("b")
            assert events[-2:] == ["send b", "answer b"]
            clock.advance(max(clock.waiting))
            await asyncio.gather(first, *others)

    run(go())
    after_pause = [e for e in events[2:] if e.endswith(" a")]
    assert after_pause == ["send a", "answer a"] * 4


def test_under_an_overall_limit_the_pace_holds_near_the_rate_found():
    """A stand-in letting 80 requests a second through overall (burst 10), 25 ms a request,
    on fake time: the client cuts, measures what goes through, paces itself just under it
    and probes above it, so 400 requests of 400 tokens take close to 400 / 80 s and meet
    few 429s."""
    clock = FakeClock(auto=False)
    limiter = RateLimiter(overall=RateLimit(80, 10), monotonic=clock.monotonic)
    refused = []

    async def handler(request: httpx.Request) -> httpx.Response:
        admitted = limiter.admit(request.headers["x-postmark-server-token"])
        await clock.sleep(0.025)
        if not admitted:
            refused.append(clock.monotonic())
            return httpx.Response(429, json={"ErrorCode": 429, "Message": "Rate"})
        return httpx.Response(200, json={"Webhooks": []})

    async def go():
        async with mock_client(handler, clock, retry=RetryPolicy(), concurrency=8) as client:
            await asyncio.gather(*(client.list_webhooks(f"t{i}") for i in range(400)))
            return client.limit

    limit = run(_on_fake_time(clock, go()))
    assert limit.found_rate == pytest.approx(80, rel=0.15)
    assert clock.now <= 1.25 * 400 / 80  # the goal for an overall limit
    assert len(refused) <= 0.05 * 400
    assert limit.limit == 8  # the pace binds, not the concurrency


def test_the_pace_is_measured_on_the_latest_answers_not_a_quiet_start():
    """A 429 at the start (three listings of one token at once), a second with little to
    send (the server listing awaited), then the servers' flood meets 150/s: the pace is
    measured on the flood, not averaged with the quiet second before it."""
    clock = FakeClock()
    limit = AdaptiveLimit(8, clock)
    limit.answered(limit.sent(), throttled=True)  # the first fresh 429
    for _ in range(4):  # the quiet second: 4 answers
        clock.now += 0.25
        limit.answered(limit.sent(), throttled=False)
    for step in range(60):  # the flood: 150 through a second, one 429 in three on top
        clock.now += 1 / 150
        limit.answered(limit.sent(), throttled=False)
        if step % 2:
            limit.answered(limit.sent(), throttled=True)
        if limit.rate is not None:
            break
    assert limit.found_rate == pytest.approx(150, rel=0.1)
    assert limit.rate == pytest.approx(limit.found_rate * AdaptiveLimit.PACE_BELOW)


@pytest.mark.parametrize("seed", range(10))
def test_the_server_listing_goes_alone_first_and_is_never_refused(seed):
    """Everything a sync reads after the server listing waits for it: the Account token's
    other listings go after its answer, so a limit per token never refuses it."""
    from idgraph.connector.postmark.collector import fetch_account

    clock = FakeClock(auto=False)
    sent: list[tuple[str, float, bool]] = []
    listing, _on_the_wire = _paged_account(clock, RateLimit(2, 1), sent)
    events: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        events.append(f"send {request.url.path}")
        response = await listing(request)
        await clock.sleep(0.025)  # on its way back: the others could go meanwhile
        events.append(f"answer {request.url.path}")
        return response

    async def go():
        client = mock_client(handler, clock, retry=RetryPolicy(), concurrency=8)
        client._rng.seed(seed)
        async with client:
            return await fetch_account(client)

    raw = run(_on_fake_time(clock, go()))
    assert (len(raw.servers), len(raw.senders), len(raw.domains)) == (1, 7, 1)
    assert events[:2] == ["send /servers", "answer /servers"], events
    assert [s for s in sent if s[0] == "/servers"] == [("/servers", 0.0, True)]


def test_one_off_429s_do_not_bring_a_pace_down():
    """Once a pace is set, a 429 cuts it, but no lower than PACE_FLOOR of the rate found:
    5% of the answers refused at random, whatever the pace, would otherwise cut it by 5%
    each, down to a crawl (a 3,000-server sync took 4.2×)."""
    clock = FakeClock()
    limit = AdaptiveLimit(8, clock)
    while limit.rate is None:  # a limit found: 429s thick while 100 a second go through
        clock.now += 0.01
        limit.answered(limit.sent(), throttled=False)
        limit.answered(limit.sent(), throttled=True)
    found = limit.found_rate
    assert found == pytest.approx(100, rel=0.1)
    draws = random.Random(7)
    lowest = limit.rate
    while clock.now < 30:  # then 30 s of requests at the pace, 1 in 20 refused at random
        clock.now += 1 / limit.rate
        limit.answered(limit.sent(), throttled=draws.random() < 0.05)
        lowest = min(lowest, limit.rate)
    assert lowest >= AdaptiveLimit.PACE_FLOOR * found


def test_a_rare_cluster_of_one_off_429s_teaches_no_spacing():
    """6 of the latest 20 follow-ups refused happens now and then with one-off 429s (every
    20th answer); a limit per token refuses most of them. Only SPACED_SHARE in 20 space
    every token's requests (by a retry's random wait, were they one-offs)."""
    clock = FakeClock()
    pauses = TokenPauses(lambda failures, rng: 0.3, 20.0, random.Random(1), clock)
    for index in range(20):  # 2 of 3 refused, each retried 0.3 s later: with the retries
        token = f"t{index}"  # that went through, 6 to 9 of the latest 20 follow-ups
        pauses.succeeded(token, *reversed(pauses.sending(token)))
        fresh, at = pauses.sending(token)
        if index % 3:
            pauses.throttled(token, None, fresh, 1)
            clock.now += 0.3
            fresh, at = pauses.sending(token)
        pauses.succeeded(token, at, fresh)
        clock.now += 5.0
    assert pauses.spacing == 0.0
    assert pauses.remaining("t1") <= 0


def test_a_pace_found_too_low_climbs_back_within_seconds():
    """The rate found at a cut can be too low (the client itself slow to start: 74/s
    against 150/s): with no 429 for 3 s the pace's growth step doubles each second, so it
    is twice the rate found within 9 s, where 2% a second would take 50."""
    clock = FakeClock()
    limit = AdaptiveLimit(8, clock)
    while limit.rate is None:  # 429s thick while 75 a second go through
        clock.now += 1 / 75
        limit.answered(limit.sent(), throttled=False)
        limit.answered(limit.sent(), throttled=True)
    found, started = limit.found_rate, clock.now
    while limit.rate < 2 * found and clock.now - started < 60:
        clock.now += 1 / limit.rate  # then every request at the pace goes through
        limit.answered(limit.sent(), throttled=False)
    assert clock.now - started <= 9


def test_a_turn_wait_cancelled_then_passed_over_ends_cancelled():
    """A request waiting for its token's turn, cancelled (a failed run) just after the
    turn was released: the hand-over passes it over, the next waiter gets the turn, and the
    cancelled one ends cancelled, not with a ValueError."""

    async def go() -> None:
        turn = _Turn()
        await turn.acquire(0)
        cancelled = asyncio.create_task(turn.acquire(1))
        nxt = asyncio.create_task(turn.acquire(2))
        await asyncio.sleep(0)
        turn.release()  # the hand-over runs at the loop's next turn, before `cancelled`
        cancelled.cancel()
        async with asyncio.timeout(10):  # a give-up: a lost turn would wait forever
            await nxt
        with pytest.raises(asyncio.CancelledError):
            await cancelled

    run(go())


def test_the_sync_summary_says_how_many_answers_were_429s(tmp_path):
    """The one-line summary tells a rate-limited run from a flaky one: the 429s among the
    retries (the same count the emulator answered), and how far the client cut itself."""
    from idgraph.connector.postmark.emulator.synthetic import synthetic_account
    from idgraph.graph.cli import cli

    account = synthetic_account(6, senders=4, domains=1, seed=2)
    with PostmarkEmulator(account, token_rate_limit=RateLimit(20, 1)) as emu:
        env = {"POSTMARK_ACCOUNT_TOKEN": emu.account_tokens[0], "POSTMARK_API_URL": emu.url}
        args = ["sync", "postmark", "--db", str(tmp_path / "x.db"), "--backoff", "0.01"]
        result = CliRunner().invoke(cli, [*args, "--max-backoff", "0.05"], env=env)
        refused = emu.stats.statuses[429]
    assert result.exit_code == 0, result.output
    assert refused >= 1
    assert f"; {refused} answered 429, rate limited" in " ".join(result.output.split())
