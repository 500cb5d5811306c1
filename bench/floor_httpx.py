"""The library floor: the sync's requests through bare httpx at the same concurrency.

    POSTMARK_API_URL=... POSTMARK_ACCOUNT_TOKEN=... python bench/floor_httpx.py [--mode M]

The same requests as `idgraph sync postmark` (servers, senders and domains in pages of 500,
the first page then the rest at once; each server's streams and webhooks with its own
token), no retries, no models, no graph: what httpx itself costs. Modes:
  async    one httpx.AsyncClient, a semaphore of 8, pool limits 8 (what idgraph uses)
  threads  one httpx.Client shared by 8 threads (the sync client in a thread pool)
  aiohttp  one httpx_aiohttp.HttpxAiohttpClient: httpx's API on aiohttp's transport
           (the httpx-aiohttp package), pool limits 8
Prints one JSON line: {"requests": N, "mode": M}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from concurrent.futures import ThreadPoolExecutor

import httpx

BASE = os.environ.get("POSTMARK_API_URL", "https://api.postmarkapp.com")
TOKEN = os.environ.get("POSTMARK_ACCOUNT_TOKEN", "")
CONCURRENCY = 8
LISTS = (("/servers", "Servers"), ("/senders", "SenderSignatures"), ("/domains", "Domains"))


def _account() -> dict[str, str]:
    return {"X-Postmark-Account-Token": TOKEN, "Accept": "application/json"}


def _server(token: str) -> dict[str, str]:
    return {"X-Postmark-Server-Token": token, "Accept": "application/json"}


async def run_async(on_aiohttp: bool = False) -> int:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    gate = asyncio.Semaphore(CONCURRENCY)
    count = 0
    client_class = httpx.AsyncClient
    if on_aiohttp:
        from httpx_aiohttp import HttpxAiohttpClient

        client_class = HttpxAiohttpClient
    async with client_class(base_url=BASE, limits=limits, timeout=60) as client:

        async def get(path, headers, params=None):
            nonlocal count
            async with gate:
                count += 1
                return (await client.get(path, headers=headers, params=params)).json()

        async def listing(path, key):
            first = await get(path, _account(), {"count": 500, "offset": 0})
            rest = await asyncio.gather(
                *(
                    get(path, _account(), {"count": 500, "offset": offset})
                    for offset in range(500, first["TotalCount"], 500)
                )
            )
            return first[key] + [item for page in rest for item in page[key]]

        servers, _senders, _domains = await asyncio.gather(*(listing(p, k) for p, k in LISTS))
        calls = []
        for server in servers:
            if server["ApiTokens"]:
                headers = _server(server["ApiTokens"][0])
                calls.append(get("/message-streams", headers, {"IncludeArchivedStreams": "true"}))
                calls.append(get("/webhooks", headers))
        await asyncio.gather(*calls)
    return count


def run_threads() -> int:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    with (
        httpx.Client(base_url=BASE, limits=limits, timeout=60) as client,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):

        def get(args):
            path, headers, params = args
            return client.get(path, headers=headers, params=params).json()

        def listing(path, key):
            first = get((path, _account(), {"count": 500, "offset": 0}))
            offsets = range(500, first["TotalCount"], 500)
            rest = list(
                pool.map(get, [(path, _account(), {"count": 500, "offset": o}) for o in offsets])
            )
            return first[key] + [item for page in rest for item in page[key]], 1 + len(offsets)

        lists = [listing(p, k) for p, k in LISTS]
        servers = lists[0][0]
        calls = []
        for server in servers:
            if server["ApiTokens"]:
                headers = _server(server["ApiTokens"][0])
                calls.append(("/message-streams", headers, {"IncludeArchivedStreams": "true"}))
                calls.append(("/webhooks", headers, None))
        list(pool.map(get, calls))
    return sum(n for _items, n in lists) + len(calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("async", "threads", "aiohttp"), default="async")
    mode = parser.parse_args().mode
    if not TOKEN:
        raise SystemExit("set POSTMARK_ACCOUNT_TOKEN (and POSTMARK_API_URL for the emulator)")
    if mode == "threads":
        requests = run_threads()
    else:
        requests = asyncio.run(run_async(on_aiohttp=mode == "aiohttp"))
    print(json.dumps({"requests": requests, "mode": mode}))


if __name__ == "__main__":
    main()
