"""The Dockerfile and compose file, read as Docker would (CI builds and runs them where a Docker
engine exists; this machine kind has only the client)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (m.group(1).upper(), m.group(2).strip())
        for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.MULTILINE)
        if not m.group(0).lstrip().startswith("#")
    ]


def test_the_image_runs_settle_serve_as_a_non_root_user_with_every_source_copied() -> None:
    steps = instructions()
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    cmd = json.loads(next(arg for op, arg in reversed(steps) if op == "CMD"))  # exec form: SIGTERM reaches settle
    assert cmd[:2] == ["settle", "serve"]
    for op, arg in steps:
        if op == "COPY" and not arg.startswith("--from"):
            for source in arg.split()[:-1]:
                assert (ROOT / source).exists(), source
    assert any(op == "HEALTHCHECK" and "/healthz" in arg for op, arg in steps)


def test_compose_runs_two_replicas_on_one_postgres_database() -> None:
    compose = yaml.safe_load((ROOT / "compose.yml").read_text())
    services = compose["services"]
    replicas = [s for name, s in services.items() if name.startswith("settle")]
    assert len(replicas) == 2
    urls = {s["environment"]["DATABASE_URL"] for s in replicas}
    assert len(urls) == 1 and next(iter(urls)).startswith("postgresql+psycopg://") and "@postgres:" in next(iter(urls))
    for s in replicas:
        assert s["depends_on"]["postgres"]["condition"] == "service_healthy"
        grace = int(str(s["stop_grace_period"]).rstrip("s"))
        assert grace > 10  # settle stops within 10 s of SIGTERM; Docker must not SIGKILL before
    assert "healthcheck" in services["postgres"]
