"""The tables of a SQLite gallery: people, their embeddings, the event log, alerts and the privacy ledger.

The event and alert columns are declared once here with their SQL types; the store, the event log and
recovery all take their column lists from these declarations.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

#: The event log's columns (after ``id``) and their SQL types.
EVENT_TYPES: dict[str, str] = {
    "time": "REAL NOT NULL",
    "source": "TEXT",
    "frame": "INTEGER",
    "video_time": "REAL",
    "track": "INTEGER",
    "identity": "TEXT",
    "identity_score": "REAL",
    "emotion": "TEXT",
    "emotion_score": "REAL",
    "scores": "TEXT",
    "attention": "TEXT",
}
#: The alerts' columns (after ``id``) and their SQL types.
ALERT_TYPES: dict[str, str] = {
    "time": "REAL NOT NULL",
    "rule": "TEXT NOT NULL",
    "source": "TEXT",
    "track": "INTEGER",
    "identity": "TEXT",
    "emotion": "TEXT",
    "started": "REAL",
    "duration_s": "REAL",
    "peak_score": "REAL",
}
EVENT_COLUMNS: tuple[str, ...] = tuple(EVENT_TYPES)
ALERT_COLUMNS: tuple[str, ...] = tuple(ALERT_TYPES)
#: Event columns stored as JSON text.
JSON_COLUMNS = ("scores", "attention")


def _table(name: str, types: dict[str, str]) -> str:
    cols = ",\n".join(f"    {c} {t}" for c, t in types.items())
    return f"CREATE TABLE IF NOT EXISTS {name} (\n    id INTEGER PRIMARY KEY,\n{cols}\n);"


SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    source TEXT,
    image BLOB,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_person ON embeddings(person_id);
{_table("events", EVENT_TYPES)}
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_identity ON events(identity);
{_table("alerts", ALERT_TYPES)}
CREATE INDEX IF NOT EXISTS alerts_identity ON alerts(identity);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts(time);
CREATE TABLE IF NOT EXISTS privacy_ledger (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    who TEXT,
    query TEXT NOT NULL,
    epsilon REAL NOT NULL
);
"""
