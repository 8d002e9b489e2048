"""business-hours calendars as data

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "escalation"
ALL_DAY = ["00:00-24:00"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]

CALENDARS = [
    {
        "name": "24x7",
        "tz": "UTC",
        "weekly": {day: ALL_DAY for day in [*WEEKDAYS, "sat", "sun"]},
    },
    {
        # A mainland China service desk: lunch break, no weekends. Public holidays and
        # make-up workdays (调休) are published yearly and added as data.
        "name": "cn-business",
        "tz": "Asia/Shanghai",
        "weekly": {day: ["09:00-12:00", "13:30-18:00"] for day in WEEKDAYS},
    },
]


def upgrade() -> None:
    table = op.create_table(
        "calendar",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("spec", pg.JSONB, nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        schema=SCHEMA,
    )
    op.bulk_insert(table, [{"name": c["name"], "spec": c} for c in CALENDARS])


def downgrade() -> None:
    op.drop_table("calendar", schema=SCHEMA)
