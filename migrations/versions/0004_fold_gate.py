"""write path: the fold gate as a function, so that a save can send it in its pipeline and go on without its answer

Revision ID: 0004_fold_gate
Revises: 0003_blob_pieces
"""

from __future__ import annotations

from alembic import op

revision = "0004_fold_gate"
down_revision = "0003_blob_pieces"
branch_labels = None
depends_on = None

# Takes the locks in the order given (each shared or not), then lists the read models of `names` that have
# fallen behind for `app` (those with a tracking row). VOLATILE: the select takes a snapshot of its own, after
# the locks, so it sees what a holder of a read model's lock committed. `strict`: fail instead (SQLSTATE
# CM001), which aborts a pipelined save before anything of it commits (`ProjectionRunner.commit`).
FOLD_GATE = """
CREATE OR REPLACE FUNCTION chainmail_fold_gate(app text, names text[], locks text[], shared boolean[], strict boolean)
RETURNS SETOF text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    i integer;
    behind text[];
BEGIN
    FOR i IN 1 .. coalesce(array_length(locks, 1), 0) LOOP
        IF shared[i] THEN
            PERFORM pg_advisory_xact_lock_shared(hashtextextended(locks[i], 0));
        ELSE
            PERFORM pg_advisory_xact_lock(hashtextextended(locks[i], 0));
        END IF;
    END LOOP;
    SELECT array_agg(projection ORDER BY projection) INTO behind
      FROM projection_tracking WHERE application = app AND projection = ANY(names);
    IF strict AND behind IS NOT NULL THEN
        RAISE EXCEPTION 'read models fallen behind: %', array_to_string(behind, ', ') USING ERRCODE = 'CM001';
    END IF;
    RETURN QUERY SELECT unnest(behind);
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FOLD_GATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS chainmail_fold_gate(text, text[], text[], boolean[], boolean)")
