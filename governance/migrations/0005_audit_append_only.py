"""Audit rows are evidence: the database itself refuses to change or remove them.

A trigger rather than privileges, because the portal usually connects as the table's owner
(migrations need it), and an owner can always UPDATE and DELETE. TRUNCATE is left alone: it
needs the owner's rights, and Django's test flush uses it.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION governance_auditevent_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % on governance_auditevent is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER governance_auditevent_append_only
    BEFORE UPDATE OR DELETE ON governance_auditevent
    FOR EACH ROW EXECUTE FUNCTION governance_auditevent_refuse_change();
"""
POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS governance_auditevent_append_only ON governance_auditevent;
DROP FUNCTION IF EXISTS governance_auditevent_refuse_change();
"""

SQLITE_FORWARD = [
    """
    CREATE TRIGGER governance_auditevent_no_update BEFORE UPDATE ON governance_auditevent
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only: UPDATE is refused'); END;
    """,
    """
    CREATE TRIGGER governance_auditevent_no_delete BEFORE DELETE ON governance_auditevent
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only: DELETE is refused'); END;
    """,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS governance_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS governance_auditevent_no_delete;",
]


class RunSQLOn(migrations.RunSQL):
    """RunSQL for one database vendor only; the trigger dialects differ."""

    def __init__(self, vendor, sql, reverse_sql):
        self.vendor = vendor
        super().__init__(sql, reverse_sql, elidable=False)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == self.vendor:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("governance", "0004_compliance_history")]

    operations = [
        RunSQLOn("postgresql", POSTGRES_FORWARD, POSTGRES_REVERSE),
        RunSQLOn("sqlite", SQLITE_FORWARD, SQLITE_REVERSE),
    ]
