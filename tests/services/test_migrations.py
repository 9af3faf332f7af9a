"""Migrations: idempotent, safe from two processes at once, and the schema the code expects."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest

from services.storage import timescale
from services.storage.migrate import apply_migrations, available_migrations
from tests.support.servers import require_timescaledb

EXPECTED_COLUMNS = {
    "users": {"id", "username", "org", "role", "display_name", "password_hash", "created_at",
              "password_changed_at", "disabled_at"},
    "user_sessions": {"id", "secret_hash", "csrf_token", "user_id", "created_at",
                      "last_seen_at", "expires_at", "revoked_at", "client"},
    "login_attempts": {"id", "at", "username", "org", "client", "outcome", "user_id"},
    "series": {"id", "key", "asset", "quantity", "unit", "owner", "range_min", "range_max",
               "derived"},
    "readings": {"series_id", "ts", "value", "quality"},
    "ingest_batches": {"gateway", "batch_id", "received_at", "result"},
    "quarantine": {"id", "received_at", "gateway", "batch_id", "idx", "series", "reason",
                   "detail", "raw", "raw_bytes"},
    "api_tokens": {"id", "token_hash", "name", "org", "role", "scopes", "gateway",
                   "created_at", "expires_at", "revoked_at"},
    "access_log": {"id", "at", "reader_org", "owner_org", "series", "door", "outcome",
                   "reason"},
    "monitor_rule_versions": {"rule_id", "version", "kind", "owner", "spec", "previous",
                              "changed_by", "changed_at", "reason", "actor"},
    "accounting_point_hours": {"exchange", "point", "hour", "value", "coverage", "mean_flow",
                               "mean_dtheta_k", "error_pct", "flags", "computed_at"},
    "accounting_band_hours": {"exchange", "hour", "readings", "in_band", "computed_at"},
    "accounting_statements": {"exchange", "month", "revision", "body", "content_sha256", "csv",
                              "pdf", "closed_at", "closed_by", "reason"},
    "accounting_reopened": {"exchange", "month", "revision", "reason", "requested_by", "org",
                            "at"},
    "accounting_close_requests": {"exchange", "month", "revision", "org", "actor", "at"},
    "accounting_substitution_rules": {"exchange", "version", "spec", "reason",
                                      "proposed_by_org", "proposed_by", "proposed_at",
                                      "agreed_by_org", "agreed_by", "agreed_at"},
    "accounting_comments": {"id", "exchange", "hour", "resource", "org", "author", "at",
                            "text"},
    "accounting_audit": {"id", "at", "exchange", "org", "actor", "action", "detail"},
}


async def test_two_migrators_at_once_apply_each_migration_once(
        fresh_database_url: str) -> None:
    first, second = await asyncio.gather(apply_migrations(fresh_database_url),
                                         apply_migrations(fresh_database_url))
    assert sorted(m.version for m in first + second) == [
        m.version for m in available_migrations()]
    assert await apply_migrations(fresh_database_url) == []


async def test_the_migrated_schema_is_what_the_code_expects(fresh_database_url: str) -> None:
    await apply_migrations(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        for table, columns in EXPECTED_COLUMNS.items():
            rows = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
                table)
            assert {r["column_name"] for r in rows} >= columns, table
    finally:
        await conn.close()


async def test_readings_live_in_a_hypertable_where_timescaledb_is_there(
        fresh_database_url: str) -> None:
    await apply_migrations(fresh_database_url)
    features = await timescale.enable(fresh_database_url, chunk_interval_hours=24,
                                      retention_days=30)
    if not features.timescaledb:
        if require_timescaledb():
            pytest.fail("HEATLINK_REQUIRE_TIMESCALEDB=1 but the test server lacks TimescaleDB")
        pytest.skip("the test server has no TimescaleDB; set HEATLINK_REQUIRE_TIMESCALEDB=1 "
                    "to make this a failure")
    assert features.hypertable
    # Enabling twice is harmless.
    again = await timescale.enable(fresh_database_url, chunk_interval_hours=24,
                                   retention_days=30)
    assert again == features


async def test_old_readings_are_dropped_by_retention(fresh_database_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    await apply_migrations(fresh_database_url)
    features = await timescale.enable(fresh_database_url, chunk_interval_hours=24,
                                      retention_days=30)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=2)
    try:
        await pool.execute("INSERT INTO series (key, asset, quantity, unit, owner)"
                           " VALUES ('a/b/c', 'a/b', 'temperature', 'degC', 'x')")
        await pool.executemany(
            "INSERT INTO readings (series_id, ts, value) VALUES (1, $1, 1.0)",
            [(now - timedelta(days=d),) for d in (1, 2, 60, 90)])
        await timescale.drop_expired(pool, features, now - timedelta(days=30))
        remaining = await pool.fetchval("SELECT count(*) FROM readings")
    finally:
        await pool.close()
    assert remaining == 2
    assert os.environ.get("HEATLINK_REQUIRE_TIMESCALEDB") != "1" or features.hypertable
