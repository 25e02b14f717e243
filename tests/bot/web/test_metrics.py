"""GET /metrics in Prometheus's format, scraped as Prometheus would; JSON log lines with LOG_FORMAT=json."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_slack import FakeSlack
from tests.handlers.test_settle_flow import ADMIN
from tests.harness import Harness, running_server, serve_process
from tests.slack_requests import get


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = get(base + "/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_metrics_count_what_settle_saw_and_did(acme: Harness) -> None:
    h = acme
    before = scrape(h.base)
    h.settle_with(ADMIN, "pm_acme_2", "Paid.")
    h.services.poller.run_cycle()
    after = scrape(h.base)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("settle_settlements_total", outcome="succeeded") == 1
    assert grew("settle_slack_call_seconds_count", method="views.update") >= 1
    assert grew("settle_poll_duration_seconds_count") == 1
    assert ("settle_alerts_undelivered", ()) in after and after[("settle_alerts_undelivered", ())] == 0
    assert after.get(("settle_declines_seen_total", ()), 0) >= 1
    assert after.get(("settle_alerts_posted_total", ()), 0) >= 1


def test_json_logs_are_one_object_per_line_without_secrets(
    sqlite_env: dict[str, str], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = {**sqlite_env, "LOG_FORMAT": "json", "POLL_INTERVAL_SECONDS": "1"}
    with serve_process(env, tmp_path / "serve.log") as (base, _proc):
        assert get(base + "/healthz")[0] == 200
        assert "settle_poll_duration_seconds" in get(base + "/metrics")[1]
    lines = [line for line in (tmp_path / "serve.log").read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert {"ts", "level", "logger", "message"} <= set(records[0])
    assert any(r["logger"] == "bot.cli.serving" for r in records)
    assert "xoxb-test" not in "\n".join(lines)


def call(url: str, method: str, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(
        url, data=b"x" if method in ("POST", "PUT") else None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_metrics_health_and_front_page_answer_only_get(sqlite_env: dict[str, str]) -> None:
    with running_server() as (base, _services):
        for path in ("/metrics", "/healthz", "/"):
            assert call(base + path, "GET") == 200
            assert call(base + path, "HEAD") == 200
            for method in ("POST", "PUT", "DELETE", "PATCH"):
                assert call(base + path, method) == 405, (path, method)


def test_metrics_want_the_token_when_one_is_set(sqlite_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    token = "m" * 24
    monkeypatch.setenv("METRICS_TOKEN", token)
    with running_server() as (base, _services):
        assert call(base + "/metrics", "GET") == 401
        assert call(base + "/metrics", "GET", {"Authorization": "Bearer " + "x" * 24}) == 401
        assert call(base + "/metrics", "GET", {"Authorization": token}) == 401
        assert call(base + "/metrics", "GET", {"Authorization": "Bearer " + token}) == 200
        assert call(base + "/healthz", "GET") == 200  # a load balancer's check needs no token
