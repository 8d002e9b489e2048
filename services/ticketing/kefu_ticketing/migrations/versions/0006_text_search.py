"""text search over tickets: trigram indexes (pg_trgm) on what staff search

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03

Substring search (`ILIKE '%…%'`) works for Chinese written without spaces, where a word
tokenizer would need a dictionary; trigram GIN indexes make it an index scan for queries of
three characters or more. pg_trgm is a trusted extension (PostgreSQL 13+): the database owner
may create it, as CloudNativePG's app user is.
"""

from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "ticketing"
INDEXES = (
    ("ix_ticket_subject_trgm", "ticket", "subject"),
    ("ix_ticket_description_trgm", "ticket", "description"),
    ("ix_progress_entry_text_trgm", "progress_entry", "text"),
    ("ix_contact_summary_trgm", "contact", "summary"),
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    for name, table, column in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {SCHEMA}.{table} USING gin ({column} public.gin_trgm_ops)")


def downgrade() -> None:
    for name, _, _ in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {SCHEMA}.{name}")
