"""The honest baseline: the one-off script a user would write with httpx, sequentially.

List the servers (pages of 500), then per server its message streams and webhooks with the
server's own token, then the sender signatures and domains (pages of 500). Prints one JSON
line: {"requests": N, "servers": ..., "streams": ..., "webhooks": ..., "senders": ...}.
"""

import json
import os
import sys

import httpx

BASE = os.environ.get("POSTMARK_API_URL", "https://api.postmarkapp.com")
ACCOUNT = {
    "X-Postmark-Account-Token": os.environ.get("POSTMARK_ACCOUNT_TOKEN", ""),
    "Accept": "application/json",
}


def paged(client, path, key):
    items, offset = [], 0
    while True:
        page = client.get(path, params={"count": 500, "offset": offset}, headers=ACCOUNT).json()
        items += page[key]
        offset += 500
        if offset >= page["TotalCount"]:
            return items


def main():
    if "-h" in sys.argv[1:] or "--help" in sys.argv[1:]:
        print(__doc__.strip())
        return
    if not ACCOUNT["X-Postmark-Account-Token"]:
        raise SystemExit("set POSTMARK_ACCOUNT_TOKEN (and POSTMARK_API_URL for the emulator)")
    with httpx.Client(base_url=BASE, timeout=60) as client:
        servers = paged(client, "/servers", "Servers")
        streams = webhooks = 0
        for server in servers:
            if not server["ApiTokens"]:
                continue
            headers = {
                "X-Postmark-Server-Token": server["ApiTokens"][0],
                "Accept": "application/json",
            }
            streams += len(
                client.get(
                    "/message-streams", headers=headers, params={"IncludeArchivedStreams": "true"}
                ).json()["MessageStreams"]
            )
            webhooks += len(client.get("/webhooks", headers=headers).json()["Webhooks"])
        senders = paged(client, "/senders", "SenderSignatures")
        domains = paged(client, "/domains", "Domains")
    print(
        json.dumps(
            {
                "servers": len(servers),
                "streams": streams,
                "webhooks": webhooks,
                "senders": len(senders),
                "domains": len(domains),
            }
        )
    )


if __name__ == "__main__":
    main()
