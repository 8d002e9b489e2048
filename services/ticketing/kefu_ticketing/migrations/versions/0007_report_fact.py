"""report_fact: the read model of the ticket reports over time (issue #12, 30-day panels)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

One narrow row per reportable event of a ticket: its creation (kind 1), each resolution (2),
each closure (3) and each reopen (4), carrying what the metrics of `metrics.py` read from the
ticket *now* (reopened?, inbound contacts, team, assignee, category, channel) and what they
derive from the event (seconds since the first contact, closed within 72 h, the previous event
of the same kind). A 30-day panel is then one index-only range scan of this table instead of a
hash aggregate of status changes joined to the ticket rows and a count of contacts per ticket.

The table is written only by the trigger functions below, in the transaction of the write
they follow (ticket insert/update, status change insert, contact insert/update/delete), so
it is exact whoever writes those rows: the service, an import, a test fixture. `rebuild()`
recomputes it from the source tables (this migration's backfill; the console benchmark after
a bulk load with triggers off). docs/decisions.md, "perf: report read models".
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The values a fact takes from its ticket now; the trigger on ticket keeps them current.
_FROM_TICKET = """
    t.reopen_count <> 0, t.team, COALESCE(t.assignee_id, ''), t.category, t.channel
"""

FUNCTIONS = (f"""
CREATE FUNCTION ticketing.report_fact_on_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO ticketing.report_fact (ticket_id, kind, at, prev_at, seconds, within_72h,
            inbound, reopened, team, agent, category, channel)
        SELECT NEW.id, 1, NEW.created_at, NULL,
               extract(epoch FROM NEW.first_response_at - NEW.first_contact_at)::float8, false,
               (SELECT count(*) FROM ticketing.contact c
                WHERE c.ticket_id = NEW.id AND c.direction = 'inbound'),
               {_FROM_TICKET}
        FROM (SELECT NEW.*) t;
        RETURN NULL;
    END IF;
    IF (OLD.reopen_count <> 0, OLD.team, OLD.assignee_id, OLD.category, OLD.channel)
       IS DISTINCT FROM (NEW.reopen_count <> 0, NEW.team, NEW.assignee_id, NEW.category, NEW.channel)
    THEN
        UPDATE ticketing.report_fact f
        SET reopened = NEW.reopen_count <> 0, team = NEW.team,
            agent = COALESCE(NEW.assignee_id, ''), category = NEW.category, channel = NEW.channel
        WHERE f.ticket_id = NEW.id;
    END IF;
    IF (OLD.first_contact_at, OLD.first_response_at, OLD.created_at)
       IS DISTINCT FROM (NEW.first_contact_at, NEW.first_response_at, NEW.created_at)
    THEN
        UPDATE ticketing.report_fact f
        SET at = CASE WHEN f.kind = 1 THEN NEW.created_at ELSE f.at END,
            seconds = CASE f.kind
                WHEN 1 THEN extract(epoch FROM NEW.first_response_at - NEW.first_contact_at)::float8
                WHEN 2 THEN extract(epoch FROM f.at - NEW.first_contact_at)::float8 END,
            within_72h = f.kind = 3 AND f.at <= NEW.first_contact_at + interval '72 hours'
        WHERE f.ticket_id = NEW.id;
    END IF;
    RETURN NULL;
END $$""", f"""
CREATE FUNCTION ticketing.report_fact_on_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k smallint := CASE NEW.to_status WHEN 'resolved' THEN 2 WHEN 'closed' THEN 3 ELSE 4 END;
BEGIN
    -- An event recorded out of time order becomes the previous one of those after it.
    UPDATE ticketing.report_fact f SET prev_at = NEW.at
    WHERE f.ticket_id = NEW.ticket_id AND f.kind = k AND f.at > NEW.at
      AND (f.prev_at IS NULL OR f.prev_at < NEW.at);
    INSERT INTO ticketing.report_fact (ticket_id, kind, at, prev_at, seconds, within_72h,
        inbound, reopened, team, agent, category, channel)
    SELECT t.id, k, NEW.at,
           (SELECT max(f.at) FROM ticketing.report_fact f
            WHERE f.ticket_id = NEW.ticket_id AND f.kind = k AND f.at <= NEW.at),
           CASE WHEN k = 2 THEN extract(epoch FROM NEW.at - t.first_contact_at)::float8 END,
           k = 3 AND NEW.at <= t.first_contact_at + interval '72 hours',
           (SELECT count(*) FROM ticketing.contact c
            WHERE c.ticket_id = t.id AND c.direction = 'inbound'),
           {_FROM_TICKET}
    FROM ticketing.ticket t WHERE t.id = NEW.ticket_id;
    RETURN NULL;
END $$""", """
CREATE FUNCTION ticketing.report_fact_on_contact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- increments, not a recount: concurrent contacts on one ticket each add theirs
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.direction = 'inbound' THEN
        UPDATE ticketing.report_fact SET inbound = inbound - 1 WHERE ticket_id = OLD.ticket_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.direction = 'inbound' THEN
        UPDATE ticketing.report_fact SET inbound = inbound + 1 WHERE ticket_id = NEW.ticket_id;
    END IF;
    RETURN NULL;
END $$""", f"""
CREATE FUNCTION ticketing.report_fact_rebuild() RETURNS bigint LANGUAGE sql AS $$
    DELETE FROM ticketing.report_fact;
    INSERT INTO ticketing.report_fact (ticket_id, kind, at, prev_at, seconds, within_72h,
        inbound, reopened, team, agent, category, channel)
    SELECT e.ticket_id, e.kind, e.at, e.prev_at,
           CASE e.kind WHEN 1 THEN extract(epoch FROM t.first_response_at - t.first_contact_at)::float8
                       WHEN 2 THEN extract(epoch FROM e.at - t.first_contact_at)::float8 END,
           e.kind = 3 AND e.at <= t.first_contact_at + interval '72 hours',
           COALESCE(c.n, 0), {_FROM_TICKET}
    FROM (
        SELECT id AS ticket_id, 1::smallint AS kind, created_at AS at, NULL::timestamptz AS prev_at
        FROM ticketing.ticket
        UNION ALL
        SELECT ticket_id,
               CASE to_status WHEN 'resolved' THEN 2 WHEN 'closed' THEN 3 ELSE 4 END::smallint,
               at, lag(at) OVER (PARTITION BY ticket_id, to_status ORDER BY at, id)
        FROM ticketing.status_change WHERE to_status IN ('resolved', 'closed', 'reopened')
    ) e
    JOIN ticketing.ticket t ON t.id = e.ticket_id
    LEFT JOIN (SELECT ticket_id, count(*) AS n FROM ticketing.contact
               WHERE direction = 'inbound' GROUP BY 1) c ON c.ticket_id = e.ticket_id
    ORDER BY e.at;  -- rows of one period side by side on disk
    SELECT count(*) FROM ticketing.report_fact;
$$""")

TRIGGERS = (
    """CREATE TRIGGER report_fact AFTER INSERT OR UPDATE OF reopen_count, team, assignee_id, category,
    channel, first_contact_at, first_response_at, created_at
    ON ticketing.ticket FOR EACH ROW EXECUTE FUNCTION ticketing.report_fact_on_ticket()""",
    """CREATE TRIGGER report_fact AFTER INSERT ON ticketing.status_change FOR EACH ROW
    WHEN (NEW.to_status IN ('resolved', 'closed', 'reopened'))
    EXECUTE FUNCTION ticketing.report_fact_on_status()""",
    """CREATE TRIGGER report_fact AFTER INSERT OR DELETE OR UPDATE OF direction ON ticketing.contact
    FOR EACH ROW EXECUTE FUNCTION ticketing.report_fact_on_contact()""",
)



def upgrade() -> None:
    op.execute("""
        CREATE TABLE ticketing.report_fact (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ticket_id uuid NOT NULL REFERENCES ticketing.ticket (id) ON DELETE CASCADE,
            kind smallint NOT NULL,           -- 1 created, 2 resolved, 3 closed, 4 reopened
            at timestamptz NOT NULL,
            prev_at timestamptz,              -- the ticket's previous event of this kind
            seconds double precision,         -- created: first response; resolved: resolution
            within_72h boolean NOT NULL,      -- closed at most 72 h after the first contact
            inbound integer NOT NULL,         -- the ticket's customer-initiated contacts, now
            reopened boolean NOT NULL,        -- the ticket's reopen_count <> 0, now
            team text NOT NULL,
            agent text NOT NULL,
            category text NOT NULL,
            channel text NOT NULL
        ) WITH (fillfactor = 90)
    """)
    for statement in FUNCTIONS:
        op.execute(statement)
    op.execute("SELECT ticketing.report_fact_rebuild()")
    # The panels' one scan: every column they read, so it is index-only.
    op.execute(
        "CREATE INDEX ix_report_fact_at ON ticketing.report_fact (at) INCLUDE (kind, prev_at, "
        "seconds, within_72h, inbound, reopened, team, agent, category, channel)"
    )
    op.execute("CREATE INDEX ix_report_fact_ticket ON ticketing.report_fact (ticket_id, kind, at)")
    for statement in TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("ticket", "status_change", "contact"):
        op.execute(f"DROP TRIGGER IF EXISTS report_fact ON ticketing.{table}")
    op.execute("DROP TABLE IF EXISTS ticketing.report_fact")
    for fn in ("on_ticket", "on_status", "on_contact", "rebuild"):
        op.execute(f"DROP FUNCTION IF EXISTS ticketing.report_fact_{fn}()")
