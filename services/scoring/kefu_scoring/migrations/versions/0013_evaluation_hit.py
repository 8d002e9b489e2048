"""evaluation_hit: the rule hits of each evaluation as rows, for the rule-hit ranking (issue #12)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

One row per (evaluation, rule it hit) with the number of hits and the evaluation's
``started_at``: the ranking per span is an index-only range scan of this narrow table instead
of expanding the ``hits`` JSON of every evaluation (heap reads of the widest rows we store).
Written only by the trigger below, in the transaction that writes the evaluation, so it is
exact whoever inserts evaluations (the service, the importer, the benchmark's bulk load
followed by ``evaluation_hit_rebuild()``). docs/decisions.md, "perf: report read models".

The QA scores panel's index also carries every column that panel reads, so it no longer
visits the heap.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The rule ids of an evaluation's hits, exactly as the report expanded them before.
_RULES = "jsonb_path_query({hits}, '$[*].rule_id') AS r"

FUNCTIONS = (
    f"""
CREATE FUNCTION scoring.evaluation_hit_on_evaluation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM scoring.evaluation_hit WHERE evaluation_id = OLD.id;
    END IF;
    INSERT INTO scoring.evaluation_hit (evaluation_id, rule_id, started_at, hits)
    SELECT NEW.id, r #>> '{{}}', NEW.started_at, count(*)
    FROM {_RULES.format(hits="NEW.hits")} GROUP BY 2;
    RETURN NULL;
END $$""",
    f"""
CREATE FUNCTION scoring.evaluation_hit_rebuild() RETURNS bigint LANGUAGE sql AS $$
    DELETE FROM scoring.evaluation_hit;
    INSERT INTO scoring.evaluation_hit (evaluation_id, rule_id, started_at, hits)
    SELECT e.id, r #>> '{{}}', e.started_at, count(*)
    FROM scoring.evaluation e CROSS JOIN LATERAL {_RULES.format(hits="e.hits")}
    GROUP BY e.id, 2, e.started_at
    ORDER BY e.started_at;  -- rows of one period side by side on disk
    SELECT count(*) FROM scoring.evaluation_hit;
$$""",
)

REPORT_INDEX = (
    "CREATE INDEX ix_evaluation_report ON scoring.evaluation (started_at) "
    "INCLUDE (total_score, grade, fatal, agent_id, team{more})"
)


def upgrade() -> None:
    op.execute("""
        CREATE TABLE scoring.evaluation_hit (
            evaluation_id uuid NOT NULL REFERENCES scoring.evaluation (id) ON DELETE CASCADE,
            rule_id text,
            started_at timestamptz NOT NULL,
            hits integer NOT NULL
        )
    """)
    for statement in FUNCTIONS:
        op.execute(statement)
    op.execute("SELECT scoring.evaluation_hit_rebuild()")
    op.execute("CREATE INDEX ix_evaluation_hit_report ON scoring.evaluation_hit (started_at) "
               "INCLUDE (rule_id, hits)")
    op.execute("CREATE INDEX ix_evaluation_hit_evaluation ON scoring.evaluation_hit (evaluation_id)")
    op.execute(
        "CREATE TRIGGER evaluation_hit AFTER INSERT OR UPDATE OF hits, started_at "
        "ON scoring.evaluation FOR EACH ROW EXECUTE FUNCTION scoring.evaluation_hit_on_evaluation()"
    )
    op.execute("DROP INDEX scoring.ix_evaluation_report")
    op.execute(REPORT_INDEX.format(
        more=", category, channel, ruleset_id, predicted_satisfaction, satisfaction_label"))


def downgrade() -> None:
    op.execute("DROP INDEX scoring.ix_evaluation_report")
    op.execute(REPORT_INDEX.format(more=""))
    op.execute("DROP TRIGGER IF EXISTS evaluation_hit ON scoring.evaluation")
    op.execute("DROP TABLE IF EXISTS scoring.evaluation_hit")
    for fn in ("on_evaluation", "rebuild"):
        op.execute(f"DROP FUNCTION IF EXISTS scoring.evaluation_hit_{fn}()")
