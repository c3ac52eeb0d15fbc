"""unique code names at the top level too (a partial unique index: SQL never treats two NULL parents as equal)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    # Projects made before this revision may hold duplicated top-level codes (two coders at once). Keep them
    # apart, never merge: every later duplicate gets " (2)", " (3)"... and the rename is written to the log.
    rows = bind.execute(sa.text("SELECT id, name FROM code WHERE parent_id IS NULL ORDER BY id")).all()
    taken = {name for _, name in rows}
    seen: set[str] = set()
    now = datetime.now(timezone.utc)
    for code_id, name in rows:
        if name not in seen:
            seen.add(name)
            continue
        k = 2
        while f"{name} ({k})" in taken:
            k += 1
        new = f"{name} ({k})"
        taken.add(new)
        seen.add(new)
        bind.execute(sa.text("UPDATE code SET name = :new WHERE id = :id"), {"new": new, "id": code_id})
        bind.execute(sa.text("INSERT INTO change_log (at, who, action, entity, entity_id, details) "
                             "VALUES (:at, 'migration 0003', 'update', 'code', :id, :details)"),
                     {"at": now, "id": code_id, "details": json.dumps({"name": [name, new]})})
    op.create_index('uq_code_top_level_name', 'code', ['name'], unique=True,
                    sqlite_where=sa.text('parent_id IS NULL'), postgresql_where=sa.text('parent_id IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_code_top_level_name', table_name='code')
