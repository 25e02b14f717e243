"""The baseline for bench/click_to_modal.py: a Bolt app that only acks and calls views.open,
served the same way as `settle serve` (waitress, same thread counts)."""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import waitress
from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = App(
        token="xoxb-bench",
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=WebClient(token="xoxb-bench", base_url=os.environ["SLACK_API_URL"]),
        token_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(max_workers=32),
    )

    @app.action("settle_open")
    def open_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(
            trigger_id=body["trigger_id"],
            view={
                "type": "modal",
                "title": {"type": "plain_text", "text": "Settle balance"},
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Loading…"}}],
            },
        )

    waitress.serve(SlackRequestHandler(app), host="127.0.0.1", port=args.port, threads=16, _quiet=True)


if __name__ == "__main__":
    main()
