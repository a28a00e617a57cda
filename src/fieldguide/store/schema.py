"""The study's tables. One place defines them so every stage reads and writes the same shape.

Identifiers are kept as text (iNaturalist ids, GBIF keys and crowd-sourcing task names all fit);
``taxon_id`` is the study's own integer key into ``taxa``. The large tables declare no primary
or foreign keys (index upkeep would cost more than the load itself): each ingester checks ids
for uniqueness, within the file and against the study, before it commits.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

# What ``photos fetch`` records about each photo's file (v2). Kept in one list so the table
# definition and the migration that adds them to an older study cannot disagree.
PHOTO_FILE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file_bytes", "BIGINT"),
    ("sha256", "VARCHAR"),
    ("rights_holder", "VARCHAR"),
    ("attribution", "VARCHAR"),
    ("fetch_status", "VARCHAR"),  # fetched | failed (NULL: never tried)
    ("fetch_reason", "VARCHAR"),  # why the last try failed, e.g. "http 404"
    ("fetched_at", "TIMESTAMP"),
)

# Statements that bring a study written by schema version ``v - 1`` up to ``v``; each is
# idempotent (a table created at the new version already has the columns).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: tuple(
        f"ALTER TABLE photos ADD COLUMN IF NOT EXISTS {name} {kind}"
        for name, kind in PHOTO_FILE_COLUMNS
    ),
}

TABLES: dict[str, str] = {
    "meta": """
        key VARCHAR PRIMARY KEY,
        value VARCHAR
    """,
    "imports": """
        import_id INTEGER PRIMARY KEY,
        kind VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        sha256 VARCHAR,
        imported_at TIMESTAMP NOT NULL,
        rows_read BIGINT NOT NULL,
        rows_kept BIGINT NOT NULL,
        rows_rejected BIGINT NOT NULL,
        report JSON
    """,
    "taxa": """
        taxon_id BIGINT NOT NULL,
        name VARCHAR NOT NULL,
        rank VARCHAR,
        rank_level DOUBLE,
        parent_id BIGINT,
        is_hybrid BOOLEAN NOT NULL DEFAULT false,
        source VARCHAR,
        source_key VARCHAR,
        import_id INTEGER
    """,
    "synonyms": """
        name VARCHAR NOT NULL,
        taxon_id BIGINT NOT NULL,
        kind VARCHAR,
        source VARCHAR,
        import_id INTEGER
    """,
    "observations": """
        observation_id VARCHAR NOT NULL,
        source VARCHAR NOT NULL,
        observer VARCHAR,
        observed_on DATE,
        observed_at TIMESTAMP,
        latitude DOUBLE,
        longitude DOUBLE,
        positional_accuracy DOUBLE,
        taxon_id BIGINT,
        verbatim_name VARCHAR,
        quality_grade VARCHAR,
        license VARCHAR,
        captive BOOLEAN,
        life_stage VARCHAR,
        place VARCHAR,
        import_id INTEGER
    """,
    "photos": """
        photo_id VARCHAR NOT NULL,
        observation_id VARCHAR NOT NULL,
        position INTEGER,
        path VARCHAR,
        url VARCHAR,
        license VARCHAR,
        creator VARCHAR,
        width INTEGER,
        height INTEGER,
        source_split VARCHAR,
        import_id INTEGER,
    """
    + ",\n".join(f"        {name} {kind}" for name, kind in PHOTO_FILE_COLUMNS),
    # An observation's sound recordings (iNaturalist's sound_url, DwC-A Multimedia of type
    # Sound), and what ``sound fetch`` records about each file (fieldguide.sound).
    "sounds": """
        sound_id VARCHAR NOT NULL,
        observation_id VARCHAR NOT NULL,
        position INTEGER,
        path VARCHAR,
        url VARCHAR,
        format VARCHAR,
        license VARCHAR,
        creator VARCHAR,
        duration_s DOUBLE,
        sample_rate INTEGER,
        import_id INTEGER,
    """
    + ",\n".join(f"        {name} {kind}" for name, kind in PHOTO_FILE_COLUMNS),
    # Crowd identifications (iNaturalist) and votes (Pl@ntNet, crowdsourcing tasks) alike.
    "identifications": """
        observation_id VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        label VARCHAR NOT NULL,
        taxon_id BIGINT,
        is_current BOOLEAN NOT NULL DEFAULT true,
        created_at TIMESTAMP,
        is_author BOOLEAN NOT NULL DEFAULT false,
        import_id INTEGER
    """,
    # Per-observation or per-photo trait annotations: phenology, life stage, sex...
    "traits": """
        observation_id VARCHAR NOT NULL,
        photo_id VARCHAR,
        trait VARCHAR NOT NULL,
        value VARCHAR NOT NULL,
        annotator VARCHAR,
        import_id INTEGER
    """,
    # Model outputs: an external AI's vote on an observation, or our own models' top-k.
    "predictions": """
        observation_id VARCHAR NOT NULL,
        photo_id VARCHAR,
        model VARCHAR NOT NULL,
        label VARCHAR NOT NULL,
        taxon_id BIGINT,
        score DOUBLE,
        k INTEGER NOT NULL DEFAULT 1,
        import_id INTEGER
    """,
    # Aggregated labels, one row per observation and aggregation method.
    "labels": """
        observation_id VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        label VARCHAR,
        taxon_id BIGINT,
        conf DOUBLE,
        acc DOUBLE,
        validated BOOLEAN NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (observation_id, method)
    """,
    # Which account ids and logins name the same person, learned from every file that gives
    # both (iNaturalist exports carry user_id, user_login or both): one observer per person.
    "observers": """
        source VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        user_login VARCHAR NOT NULL,
        import_id INTEGER
    """,
}
