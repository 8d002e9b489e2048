"""matrix and SLA policies, with the default matrix v1 published

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = "escalation"
H = 3600
M = 60

# id, name, first response, next update, resolution, escalation ack (seconds)
POLICIES = [
    ("p1-critical", "P1 critical (24x7)", 15 * M, 1 * H, 4 * H, 15 * M),
    ("p2-urgent", "P2 urgent (24x7)", 30 * M, 4 * H, 12 * H, 30 * M),
    ("p3-high", "P3 high", 1 * H, 8 * H, 24 * H, 1 * H),
    ("p4-standard", "P4 standard", 4 * H, 24 * H, 48 * H, 2 * H),
    ("p5-low", "P5 low", 8 * H, 24 * H, 72 * H, 4 * H),
]

# tier -> severity -> (level, policy)
MATRIX = {
    "standard": {
        "low": ("L0", "p5-low"),
        "normal": ("L0", "p4-standard"),
        "high": ("L1", "p3-high"),
        "critical": ("L2", "p2-urgent"),
    },
    "vip": {
        "low": ("L0", "p4-standard"),
        "normal": ("L1", "p3-high"),
        "high": ("L2", "p2-urgent"),
        "critical": ("L3", "p1-critical"),
    },
    "sensitive": {
        "low": ("L1", "p3-high"),
        "normal": ("L1", "p3-high"),
        "high": ("L2", "p2-urgent"),
        "critical": ("L3", "p1-critical"),
    },
}


def upgrade() -> None:
    policy = op.create_table(
        "sla_policy",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("calendar", sa.String(64), nullable=False, server_default="24x7"),
        sa.Column("first_response_seconds", sa.Integer, nullable=False),
        sa.Column("next_update_seconds", sa.Integer, nullable=False),
        sa.Column("resolution_seconds", sa.Integer, nullable=False),
        sa.Column("escalation_ack_seconds", sa.Integer, nullable=False),
        sa.Column("warning_percent", sa.Integer, nullable=False, server_default="75"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("warning_percent BETWEEN 1 AND 99", name="warning_percent_range"),
        schema=SCHEMA,
    )
    version = op.create_table(
        "matrix_version",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("note", sa.String(500), nullable=False, server_default=""),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    entry = op.create_table(
        "matrix_entry",
        sa.Column(
            "matrix_version",
            sa.Integer,
            sa.ForeignKey(f"{SCHEMA}.matrix_version.version"),
            primary_key=True,
        ),
        sa.Column("tier", sa.String(32), primary_key=True),
        sa.Column("severity", sa.String(16), primary_key=True),
        sa.Column("level", sa.String(4), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id", "policy_version"],
            [f"{SCHEMA}.sla_policy.id", f"{SCHEMA}.sla_policy.version"],
        ),
        sa.CheckConstraint("level IN ('L0','L1','L2','L3')", name="level_known"),
        schema=SCHEMA,
    )
    op.bulk_insert(
        policy,
        [
            {
                "id": pid,
                "version": 1,
                "name": name,
                "calendar": "24x7",
                "first_response_seconds": fr,
                "next_update_seconds": nu,
                "resolution_seconds": res,
                "escalation_ack_seconds": ack,
                "warning_percent": 75,
            }
            for pid, name, fr, nu, res, ack in POLICIES
        ],
    )
    op.bulk_insert(version, [{"version": 1, "note": "default matrix"}])
    op.execute(
        sa.text(f"UPDATE {SCHEMA}.matrix_version SET published_at = now() WHERE version = 1")
    )
    op.bulk_insert(
        entry,
        [
            {
                "matrix_version": 1,
                "tier": tier,
                "severity": severity,
                "level": level,
                "policy_id": pid,
                "policy_version": 1,
            }
            for tier, row in MATRIX.items()
            for severity, (level, pid) in row.items()
        ],
    )


def downgrade() -> None:
    op.drop_table("matrix_entry", schema=SCHEMA)
    op.drop_table("matrix_version", schema=SCHEMA)
    op.drop_table("sla_policy", schema=SCHEMA)
