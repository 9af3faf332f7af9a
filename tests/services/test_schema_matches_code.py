"""Every SQL statement the product code holds prepares against the migrated schema, every
index a query relies on is there, every table and index the migrations create is used by
some statement, and the SQL is in the domains' .sql files.

Preparing asks PostgreSQL itself whether each table, column, type and ON CONFLICT target
(the unique index it needs) is there, so a migration that drops or renames what a query
uses fails here, not in production. Statements are the named queries of the product
packages' .sql files, and the string constants of their modules that start like SQL. A
query names each index it relies on in a line "-- index: NAME" above it: a migration that
drops or renames that index fails here too, and an index no query names only costs writes."""

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
ANY_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP)\s")
INDEX_LINE = re.compile(r"^-- index: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
# The gateway's buffer is SQLite on the edge box, not this schema. TimescaleDB's own
# functions differ between its builds: tests/services/test_migrations.py covers them
# (services/storage/timescale.py and timescale.sql).
LEFT_OUT = ("gateway/", "services/storage/timescale.")


def constants(path: Path) -> list[tuple[int, str]]:
    """The whole string constants of a module with their lines: not the pieces of an
    f-string, which are SQL only once formatted (formatted_statements reads those)."""
    tree = ast.parse(path.read_text())
    pieces = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in pieces]


def product_files(suffix: str) -> list[tuple[str, Path]]:
    """(where, path) of the product packages' files ending in ``suffix``, but migrations."""
    return [(where, path) for package in PRODUCT
            for path in sorted((ROOT / package).rglob(f"*{suffix}"))
            if not (where := str(path.relative_to(ROOT))).startswith(LEFT_OUT)
            and "migrations" not in path.parts]


def inline_statements(pattern: re.Pattern[str] = SQL_START) -> dict[str, str]:
    """The SQL written into modules: file:line → its text."""
    return {f"{where}:{line}": text for where, path in product_files(".py")
            for line, text in constants(path) if pattern.match(text)}


def named_queries(pattern: re.Pattern[str] | None = None) -> dict[str, str]:
    """The queries of the .sql files (those ``pattern`` matches): file:name → its text."""
    return {f"{where}:{name}": text for where, path in product_files(".sql")
            for name, text in load_queries(path).items()
            # A named query may open with comments; its statement follows them.
            if pattern is None or pattern.match(_without_comments(text))}


def statements() -> dict[str, str]:
    """Where each statement stands (file:line or file:name) → its text."""
    return {**inline_statements(), **named_queries()}


def _without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def runnable(text: str) -> str:
    # {bucket} is time_bucket on TimescaleDB, date_bin elsewhere: same arguments.
    return text.replace("{bucket}", "date_bin").replace("{agg}", "avg(value)")


@pytest.fixture
async def migrated(fresh_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await apply_migrations(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    for create in [*inline_statements(TEMP_TABLE).values(),  # the code's own staging tables
                   *named_queries(TEMP_TABLE).values()]:
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
    for where, path in product_files(".py"):
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


def formatted_statements(pattern: re.Pattern[str] = SQL_START) -> dict[str, str]:
    """The SQL the code builds with f-strings, as far as it is written out: file:line →
    its text, each formatted value as {}."""
    found = {}
    for where, path in product_files(".py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                text = "".join(str(v.value) if isinstance(v, ast.Constant) else "{}"
                               for v in node.values)
                if pattern.match(text):
                    found[f"{where}:{node.lineno}"] = text
    return found


async def test_every_table_the_migrations_create_is_used_by_the_code(
        migrated: asyncpg.Connection) -> None:
    code = "\n".join([*statements().values(), *formatted_statements().values(),
                      *(table for table, _ in copy_targets().values())])
    tables = [r["tablename"] for r in await migrated.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename <> 'schema_migrations' ORDER BY tablename")]
    assert "readings" in tables
    assert [t for t in tables if not re.search(rf"\b{t}\b", code)] == []


def named_indexes() -> dict[str, list[str]]:
    """file:name → the indexes its "-- index:" lines name, for each query that names one."""
    return {where: INDEX_LINE.findall(text) for where, text in named_queries().items()
            if INDEX_LINE.search(text)}


async def test_every_index_a_query_relies_on_is_on_a_table_it_reads(
        migrated: asyncpg.Connection) -> None:
    named = named_indexes()
    assert len(named) > 10  # the scan finds the queries' index lines, not nothing
    table_of = {r["indexname"]: r["tablename"] for r in await migrated.fetch(
        "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'")}
    texts = named_queries()
    wrong = {where: bad for where, indexes in named.items()
             if (bad := [i for i in indexes if i not in table_of
                         or not re.search(rf"\b{table_of[i]}\b", texts[where])])}
    assert wrong == {}


# Indexes no query in a .sql file names: the findings list is built in Python (its
# optional filters), and nothing reads the quarantine by time yet (kept for operators).
NOT_YET_NAMED = {
    "quarantine_received_at",
    "monitor_findings_ts",
}


async def test_every_index_the_migrations_create_serves_a_query(
        migrated: asyncpg.Connection) -> None:
    """A unique index holds a rule (an ON CONFLICT target prepares only if it is there);
    every other index is there for a query, which names it."""
    plain = {r["indexname"] for r in await migrated.fetch(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
        " AND indexdef NOT LIKE 'CREATE UNIQUE INDEX%'")}
    assert "alert_deliveries_due" in plain
    named = {i for indexes in named_indexes().values() for i in indexes}
    assert sorted(plain - named - NOT_YET_NAMED) == []
    assert sorted(NOT_YET_NAMED - plain) == []  # nothing listed here that is not there
    assert sorted(NOT_YET_NAMED & named) == []  # nor anything a query names already


# A statement may be built in Python where a file would be worse: here, the columns are the
# caller's. Every other statement belongs in its domain's .sql file.
BUILT_IN_PYTHON = {
    "alerts/store.py",  # set_fields: UPDATE alerts SET <the caller's columns>
    "services/monitor/store.py",  # a finding's columns; the findings query's optional filters
}
# Domains whose SQL is still to move into .sql files: none now.
NOT_YET_MOVED: tuple[str, ...] = ()


def test_the_product_code_keeps_its_sql_in_sql_files() -> None:
    inline = {where.rsplit(":", 1)[0] for where in
              [*inline_statements(ANY_SQL), *formatted_statements(ANY_SQL)]}
    assert "alerts/store.py" in inline  # the scan sees what it looks for
    assert sorted(w for w in inline if w not in BUILT_IN_PYTHON
                  and not w.startswith(NOT_YET_MOVED)) == []
