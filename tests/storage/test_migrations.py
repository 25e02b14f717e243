"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import make_engine
from storage.migrate import alembic_config, is_current, upgrade
from storage.models import Base


def test_migrations_match_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    assert not is_current(engine)
    upgrade(engine)
    assert is_current(engine)
    upgrade(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], diff
    engine.dispose()


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert not is_current(engine)
    upgrade(engine)
    assert is_current(engine)
    engine.dispose()
