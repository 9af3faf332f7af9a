"""Every SQL statement the product code holds prepares against the migrated schema, and
every table the migrations create is used by some statement.

Preparing asks PostgreSQL itself whether each table, column, type and ON CONFLICT target
(the unique index it needs) is there, so a migration that drops or renames what a query
uses fails here, not in production. Statements are the string constants of the product
packages that start like SQL, and the named queries of their .sql files."""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from heatlink.sqlfile import load_queries
from services.storage.migrate import apply_migrations

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("heatlink", "gateway", "services", "alerts", "simulators")
SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\s")
TEMP_TABLE = re.compile(r"^\s*CREATE TEMP TABLE")
# The gateway's buffer is SQLite on the edge box, not this schema. TimescaleDB's own
# functions differ between its builds: tests/services/test_migrations.py covers them.
LEFT_OUT = ("gateway/", "services/storage/timescale.py")


def constants(path: Path) -> list[tuple[int, str]]:
    """The whole string constants of a module with their lines: not the pieces of an
    f-string, which are SQL only once formatted (formatted_statements reads those)."""
    tree = ast.parse(path.read_text())
    pieces = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in pieces]


def statements(pattern: re.Pattern[str] = SQL_START) -> dict[str, str]:
    """Where each statement stands (file:line or file:name) → its text."""
    found: dict[str, str] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            if where.startswith(LEFT_OUT):
                continue
            for line, text in constants(path):
                if pattern.match(text):
                    found[f"{where}:{line}"] = text
        for path in sorted((ROOT / package).rglob("*.sql")):
            where = str(path.relative_to(ROOT))
            if "migrations" in path.parts or where.startswith(LEFT_OUT):
                continue
            for name, text in load_queries(path).items():
                # A named query may open with comments; its statement follows them.
                if pattern is SQL_START or pattern.match(_without_comments(text)):
                    found[f"{where}:{name}"] = text
    return found


def _without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def runnable(text: str) -> str:
    # {bucket} is time_bucket on TimescaleDB, date_bin elsewhere: same arguments.
    return text.replace("{bucket}", "date_bin").replace("{agg}", "avg(value)")


@pytest.fixture
async def migrated(fresh_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await apply_migrations(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    for create in statements(TEMP_TABLE).values():  # the code's own staging tables
        await conn.execute(create)
    yield conn
    await conn.close()


async def test_every_statement_of_the_code_prepares_against_the_schema(
        migrated: asyncpg.Connection) -> None:
    found = statements()
    assert len(found) > 100  # the scan finds the code's SQL, not nothing
    failed: dict[str, str] = {}
    for where, text in found.items():
        try:
            await migrated.prepare(runnable(text))
        except asyncpg.PostgresError as exc:
            failed[where] = f"{type(exc).__name__}: {exc}"
    assert failed == {}


def copy_targets() -> dict[str, tuple[str, set[str]]]:
    """Tables the code fills with COPY (asyncpg's copy_records_to_table): where → (table,
    the columns named as literals)."""
    found: dict[str, tuple[str, set[str]]] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            if where.startswith(LEFT_OUT):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "copy_records_to_table" and node.args
                        and isinstance(node.args[0], ast.Constant)):
                    columns = {str(e.value) for k in node.keywords if k.arg == "columns"
                               and isinstance(k.value, ast.Tuple | ast.List)
                               for e in k.value.elts if isinstance(e, ast.Constant)}
                    found[f"{where}:{node.lineno}"] = (str(node.args[0].value), columns)
    return found


async def test_every_copy_of_the_code_fills_columns_the_schema_has(
        migrated: asyncpg.Connection) -> None:
    targets = copy_targets()
    assert targets
    missing: dict[str, tuple[str, list[str]]] = {}
    for where, (table, columns) in targets.items():
        have = {r["column_name"] for r in await migrated.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
            table)}
        if not have or not columns <= have:
            missing[where] = (table, sorted(columns - have))
    assert missing == {}


def formatted_statements() -> list[str]:
    """The SQL the code builds with f-strings, as far as it is written out."""
    texts = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if str(path.relative_to(ROOT)).startswith(LEFT_OUT):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.JoinedStr):
                    text = "".join(str(v.value) if isinstance(v, ast.Constant) else "{}"
                                   for v in node.values)
                    if SQL_START.match(text):
                        texts.append(text)
    return texts


async def test_every_table_the_migrations_create_is_used_by_the_code(
        migrated: asyncpg.Connection) -> None:
    code = "\n".join([*statements().values(), *formatted_statements(),
                      *(table for table, _ in copy_targets().values())])
    tables = [r["tablename"] for r in await migrated.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename <> 'schema_migrations' ORDER BY tablename")]
    assert "readings" in tables
    assert [t for t in tables if not re.search(rf"\b{t}\b", code)] == []
