"""Declined sandbox balances for a benchmark, recorded by the real `settle` CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def declined_balances(env: dict[str, str], folder: str | Path, accounts: list[dict[str, Any]], *, poll: bool) -> None:
    """Load `accounts` into the sandbox and decline their renewals; with `poll`, also record and
    post the alerts (`settle poll --once`)."""
    path = Path(folder) / "accounts.yml"
    path.write_text(yaml.safe_dump({"accounts": accounts}))
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    steps = [["sandbox", "load", str(path)], ["sandbox", "bill"]] + ([["poll", "--once"]] if poll else [])
    for args in steps:
        subprocess.run([sys.executable, "-m", "bot", *args], env=full, check=True, capture_output=True)
