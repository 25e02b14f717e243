"""The folders are the architecture: each room imports only from the floors below it, no import closes a
circle, and a function-level import is there only to keep start-up fast (and says so).

The walk reads every import in the tree: at module level, inside functions, and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage")

# Lowest floor first. A module may import its own room and any room on a lower floor; never a room on
# its own floor or above. (bot/__init__.py says what each room holds.)
FLOORS: tuple[tuple[str, ...], ...] = (
    ("storage", "bot.observe", "bot.i18n"),
    ("bot.domain",),
    ("bot.billing", "bot.slack", "bot.runtime"),
    ("bot.read",),
    ("bot.balances",),
    ("bot.settlement",),
    ("bot.delivery",),
    ("bot.jobs", "bot.web"),
    ("handlers",),
    ("bot.settings",),
    ("bot.app",),
    ("bot.cli",),
    ("bot.__main__",),
)

# Arrows that run down a floor and are still wrong: what a room must never know about.
FORBIDDEN: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("bot.billing", ("bot.slack", "slack_sdk", "slack_bolt"), "a billing provider knows nothing of Slack"),
    ("handlers", ("bot.billing",), "the Slack UI reaches providers only through the domain"),
    (
        "bot.domain",
        ("slack_sdk", "slack_bolt", "sqlalchemy", "stripe"),
        "the vocabulary does no I/O",
    ),
    (
        "bot.read",
        ("bot.slack", "slack_sdk", "slack_bolt"),
        "the domain reaches Slack only through the gateway it is given",
    ),
    ("bot.balances", ("bot.slack", "slack_sdk", "slack_bolt"), "the domain reaches Slack through its gateway"),
    ("bot.settlement", ("bot.slack", "slack_sdk", "slack_bolt"), "the money service never touches Slack"),
    ("handlers.blocks", ("storage", "bot.billing"), "builders render read-model records, never rows"),
    ("handlers.listeners", ("storage",), "a listener calls a service; it holds no SQL"),
)

# Function-level imports must say why they are not at the top (start-up time): a comment on the line
# itself or the one above naming it.
LAZY_REASON = ("start-up", "startup", "import time", "only when")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (or the name's module, for `from x import y`)
    line: int
    nested: bool  # inside a function (or method)


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, root: Path, known: set[str]) -> list[Import]:
    """Every import in the file, with `from a import b` resolved to module a.b when that is a module."""
    source = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[Import] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(source, alias.name, child.lineno, nested))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = source.split(".") if is_package else source.split(".")[:-1]
                    package = package[: len(package) - (child.level - 1)]
                    base = ".".join([*package, base] if base else package)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    found.append(Import(source, full if full in known else base, child.lineno, nested))
            visit(child, inner)

    visit(tree, False)
    return found


def project(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    return {
        module_name(path, root): path
        for pkg in packages
        for path in sorted((root / pkg).rglob("*.py"))
        if "migrations" not in path.parts
    }


def room_of(module: str) -> str | None:
    best = None
    for floor in FLOORS:
        for room in floor:
            if (module == room or module.startswith(room + ".")) and (best is None or len(room) > len(best)):
                best = room
    return best


def floor_of(room: str) -> int:
    return next(i for i, floor in enumerate(FLOORS) if room in floor)


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def upward_arrows(imports: list[Import]) -> list[str]:
    """Imports into a room on the importer's floor or above, and the forbidden ones."""
    problems = []
    for imp in imports:
        src_room, dst_room = room_of(imp.source), room_of(imp.target)
        if src_room is None:
            problems.append(f"{imp.source} is in no room (add it to FLOORS)")
            continue
        for room, banned, why in FORBIDDEN:
            if within(imp.source, room) and any(within(imp.target, b) for b in banned):
                problems.append(f"{imp.source}:{imp.line} imports {imp.target}: {why}")
        if dst_room is None or dst_room == src_room:
            continue
        if floor_of(dst_room) >= floor_of(src_room):
            problems.append(
                f"{imp.source}:{imp.line} imports {imp.target}, which is not below it "
                f"({src_room} is on floor {floor_of(src_room)}, {dst_room} on {floor_of(dst_room)})"
            )
    return sorted(set(problems))


def circles(imports: list[Import], modules: set[str]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan), counting every import."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if imp.target in modules and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return groups


def lazy_without_reason(imports: list[Import], paths: dict[str, Path]) -> list[str]:
    """Function-level imports that do not say why they are lazy: a comment naming the reason on the
    import's line, or just above the block of imports it belongs to."""
    problems = []
    lines_of: dict[str, list[str]] = {}
    for imp in imports:
        if not imp.nested:
            continue
        lines = lines_of.setdefault(imp.source, paths[imp.source].read_text(encoding="utf-8").splitlines())
        said = lines[imp.line - 1].lower()
        n = imp.line - 2
        while n >= 0 and (lines[n].strip().startswith(("from ", "import ")) or not lines[n].strip()):
            n -= 1
        if n >= 0 and lines[n].strip().startswith("#"):
            said += " " + lines[n].lower()
        if not any(reason in said for reason in LAZY_REASON):
            problems.append(f"{imp.source}:{imp.line} imports {imp.target} inside a function without a reason")
    return sorted(set(problems))


def check(root: Path) -> tuple[list[str], list[list[str]], list[str]]:
    paths = project(root)
    modules = set(paths)
    imports = [imp for path in paths.values() for imp in imports_of(path, root, modules)]
    return upward_arrows(imports), circles(imports, modules), lazy_without_reason(imports, paths)


def test_no_import_runs_up_a_floor() -> None:
    arrows, _, _ = check(ROOT)
    assert arrows == []


def test_no_import_closes_a_circle() -> None:
    _, groups, _ = check(ROOT)
    assert groups == []


def test_function_level_imports_say_why() -> None:
    _, _, lazy = check(ROOT)
    assert lazy == []


def test_every_room_says_what_it_holds_and_may_import() -> None:
    rooms = [room for floor in FLOORS for room in floor if room != "bot.__main__"]
    for room in rooms:
        path = ROOT / room.replace(".", "/")
        init = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} has no docstring saying what it holds"
        if path.is_dir():
            assert "import" in doc.lower(), f"{init.relative_to(ROOT)} does not say what it may import"


# --- the checker catches what it is for -----------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # the vocabulary reaching up into the money service: at module level, in a function, for typing
        ({"bot/domain/money.py": "from bot.settlement.charging import x\n"}, "bot.domain.money:1 imports"),
        (
            {"bot/domain/money.py": "def f():\n    # start-up time\n    from bot.delivery import outbox\n"},
            "bot.domain.money:3 imports",
        ),
        (
            {"bot/read/cards.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import handlers.x\n"},
            "bot.read.cards:3 imports handlers.x",
        ),
        ({"storage/db.py": "from bot.domain import states\n"}, "storage.db:1 imports bot.domain"),
        ({"bot/billing/stripe/feed.py": "import bot.slack.ids\n"}, "a billing provider knows nothing of Slack"),
        ({"handlers/listeners/x.py": "from bot.billing.base import P\n"}, "reaches providers only through"),
        ({"bot/billing/sandbox/x.py": "from bot.slack.gateway import G\n"}, "knows nothing of Slack"),
        ({"bot/widgets.py": "import os\n"}, "bot.widgets is in no room"),
    ],
)
def test_the_check_fails_on_an_upward_arrow(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    arrows, _, _ = check(_tree(tmp_path, files))
    assert any(expected in a for a in arrows), arrows


def test_the_check_fails_on_a_circle_hidden_in_a_function(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bot/slack/gateway.py": "from bot.slack import workspaces\n",
            "bot/slack/workspaces.py": "def f():\n    # start-up time\n    from bot.slack.gateway import G\n",
        },
    )
    _, groups, _ = check(root)
    assert groups == [["bot.slack.gateway", "bot.slack.workspaces"]]


def test_the_check_fails_on_a_lazy_import_without_a_reason(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"bot/read/report.py": "def chart():\n    from bot.read import chart\n"})
    _, _, lazy = check(root)
    assert lazy == ["bot.read.report:2 imports bot.read inside a function without a reason"]


def _constructed(names: tuple[str, ...]) -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for pkg in ("bot", "handlers")
        for path in (ROOT / pkg).rglob("*.py")
        if any(
            w in line and not line.lstrip().startswith(("class ", "def ", "#"))
            for line in path.read_text().splitlines()
            for w in names
        )
    }


def test_only_the_composition_root_builds_the_domain_services() -> None:
    """One place wires: nothing else constructs the deliverer, the money service or the poll cycle."""
    wiring = ("AlertDeliverer(", "Charger(", "Batches(", "PollCycle(", "Authorizer(", "App(", "ModalTracker(")
    assert _constructed(wiring) == {"bot/app.py"}


def test_only_the_composition_root_makes_pools_and_threads() -> None:
    """Every pool and thread is made in the composition root (bot/runtime/pools.py defines them)."""
    assert _constructed(("BoundedPool(", "Timers(")) == {"bot/app.py"}
    assert _constructed(("ThreadPoolExecutor(", "threading.Thread(", "Thread(target")) == {"bot/runtime/pools.py"}
