"""The README's API table (issue #13) is the OpenAPI's table of contents: one table, every
operation named once by its operationId, none that the gateway does not serve, and the routes
outside the document (`/console`, `/metrics`) listed too."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from kefu_gateway.app import create_app
from kefu_gateway.settings import GatewaySettings

README = Path(__file__).resolve().parents[2] / "README.md"
HEADER = "| Method & path | operationId | What |"


def table_rows() -> list[str]:
    text = README.read_text()
    start = text.index(HEADER)
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break  # the table ends at its first non-row line (a blank line would split it)
        rows.append(line)
    return rows


def test_every_operation_is_in_the_readme_api_table_once_and_nothing_else() -> None:
    spec = create_app(GatewaySettings(), configure_logs=False).openapi()
    served = {op["operationId"] for ops in spec["paths"].values() for op in ops.values()}
    named = Counter(name for row in table_rows() for name in re.findall(r"`(\w+)`", row.split(" | ")[1]))
    assert sorted(served - set(named)) == [], "operations missing from the README's API table"
    assert sorted(set(named) - served) == [], "README rows naming operations the gateway does not serve"
    assert [name for name, n in named.items() if n > 1] == [], "operations listed twice"
    paths = " ".join(row.split(" | ")[0] for row in table_rows())
    assert "`GET /console`" in paths and "`GET /metrics`" in paths
