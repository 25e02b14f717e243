"""Prometheus metrics (GET /metrics): what Settle saw and did, and how its Slack and provider calls
went. One registry per process; counters only grow, gauges are read when scraped."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

DECLINES = Counter("settle_declines_seen", "Declined payments recorded from the provider's feed", registry=REGISTRY)
ALERTS_POSTED = Counter("settle_alerts_posted", "Alert messages posted to Slack", registry=REGISTRY)
SETTLEMENTS = Counter(
    "settle_settlements", "Settlement outcomes (one per invoice charged)", ["outcome"], registry=REGISTRY
)
SLACK_SECONDS = Histogram("settle_slack_call_seconds", "Slack Web API call latency", ["method"], registry=REGISTRY)
SLACK_ERRORS = Counter("settle_slack_errors", "Slack Web API calls that failed", ["method", "error"], registry=REGISTRY)
PROVIDER_SECONDS = Histogram(
    "settle_provider_call_seconds", "Billing provider call latency", ["provider", "call"], registry=REGISTRY
)
PROVIDER_ERRORS = Counter(
    "settle_provider_errors", "Billing provider calls that failed", ["provider", "kind"], registry=REGISTRY
)
POLL_SECONDS = Histogram("settle_poll_duration_seconds", "Poll cycle duration", registry=REGISTRY)
POLL_LAG = Gauge("settle_poll_lag_seconds", "Seconds since some replica last finished a poll", registry=REGISTRY)
UNDELIVERED = Gauge("settle_alerts_undelivered", "Alerts whose Slack message is behind their record", registry=REGISTRY)
