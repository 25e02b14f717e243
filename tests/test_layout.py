"""The shape the code keeps: the domain in bot/ never imports the Slack UI in handlers/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = ROOT / "bot" / "app.py"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_domain_imports_no_listener_or_block_kit_builder() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "handlers")
        for path in sorted((ROOT / "bot").rglob("*.py"))
        if path != COMPOSITION_ROOT
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_composition_root_builds_the_domain_services() -> None:
    """One place wires: nothing else constructs the deliverer, the settlement service or the poller."""
    wiring = ("AlertDeliverer(", "SettlementService(", "Poller(", "Authorizer(", "App(")
    places = {
        str(path.relative_to(ROOT))
        for pkg in ("bot", "handlers")
        for path in (ROOT / pkg).rglob("*.py")
        if any(
            w in line and not line.lstrip().startswith(("class ", "def ", "#"))
            for line in path.read_text().splitlines()
            for w in wiring
        )
    }
    assert places == {"bot/app.py"}
