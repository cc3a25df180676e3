"""The gateway's layout shows what can run and scale alone: one folder per role, a shared
core below them, `app.py` on top, and nothing importing back up.

Ranks, lowest first: `core` (what every role uses), `saga` (the saga and its role), then
`webhooks`, then the roles that serve requests (`api`, `dashboard`, `ceb`), then `app`. A
module imports its own folder or a lower rank only, never another role's routes, never the
app; and no import circle, however long.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "gateway"
RANK = {"core": 0, "saga": 1, "webhooks": 2, "api": 3, "dashboard": 3, "ceb": 3, "app": 4}

Graph = Mapping[str, set[str]]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def gateway_imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Each gateway module and the gateway modules it imports (as written in its source)."""
    files = {module_name(p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("gateway"))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gateway"):
                assert node.level == 0, f"{name}: write imports absolute"
                module = str(node.module)
                for alias in node.names:  # `from gateway.saga import filings`: the submodule
                    sub = f"{module}.{alias.name}"
                    found.add(sub if sub in files else module)
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def folder(module: str) -> str:
    """The role folder of a module (`core`, `saga`, …), or `app` for the top level."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANK) else "app"


def is_routes(module: str) -> bool:
    return module.rsplit(".", 1)[-1] == "routes"


def upward(graph: Graph) -> list[str]:
    """Every import that goes up or sideways into another role, or into its routes or the app."""
    wrong = []
    for module, imported in sorted(graph.items()):
        mine = folder(module)
        for other in sorted(imported):
            theirs = folder(other)
            if other == "gateway.app" or (
                theirs != mine
                and (RANK[theirs] >= RANK[mine] or (is_routes(other) and mine != "app"))
            ):
                wrong.append(f"{module} ({mine}) imports {other} ({theirs})")
    return wrong


def cycles(graph: Graph) -> list[list[str]]:
    """The import circles: every strongly connected set of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _graph(edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    return graph


def test_every_gateway_module_sits_in_a_role_folder_or_is_the_app() -> None:
    top = sorted(p.name for p in ROOT.glob("*.py"))
    assert top == ["__init__.py", "app.py"]
    assert {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == (
        set(RANK) - {"app"}
    )


def test_no_gateway_module_imports_back_up_or_into_another_roles_routes() -> None:
    graph = gateway_imports()
    assert len(graph) > 40  # the walk found the modules
    assert upward(graph) == []


def test_the_gateway_has_no_import_circle() -> None:
    assert cycles(gateway_imports()) == []


@pytest.mark.parametrize(
    ("edge", "why"),
    [
        (("gateway.core.keys", "gateway.saga.handlers"), "core imports a role"),
        (("gateway.saga.handlers", "gateway.webhooks.store"), "saga imports a higher role"),
        (("gateway.api.declarations", "gateway.dashboard.stream"), "a role imports a peer"),
        (("gateway.ceb.door", "gateway.webhooks.routes"), "a role imports another's routes"),
        (("gateway.dashboard.routes", "gateway.app"), "a role imports the app"),
    ],
)
def test_the_check_names_an_import_that_goes_up(edge: tuple[str, str], why: str) -> None:
    assert upward(_graph([edge])) == [
        f"{edge[0]} ({folder(edge[0])}) imports {edge[1]} ({folder(edge[1])})"
    ], why


def test_the_check_allows_a_lower_rank_and_its_own_folder() -> None:
    allowed = [
        ("gateway.ceb.webhook", "gateway.webhooks.store"),
        ("gateway.api.declarations", "gateway.saga.declare"),
        ("gateway.api.declarations", "gateway.api.accept"),
        ("gateway.app", "gateway.webhooks.routes"),
    ]
    assert upward(_graph(allowed)) == []


def test_the_check_finds_a_circle_of_three_and_not_a_chain() -> None:
    a, b, c, d = (f"gateway.saga.m{i}" for i in range(4))
    assert cycles(_graph([(a, b), (b, c), (c, a), (c, d)])) == [[a, b, c]]
    assert cycles(_graph([(a, b), (b, c), (c, d)])) == []
