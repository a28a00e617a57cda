"""The study's tables. One place defines them so every stage reads and writes the same shape.

Identifiers are kept as text (iNaturalist ids, GBIF keys and crowd-sourcing task names all fit);
``taxon_id`` is the study's own integer key into ``taxa``. The large tables declare no primary
or foreign keys (index upkeep would cost more than the load itself): each ingester checks ids
for uniqueness, within the file and against the study, before it commits.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

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
        import_id INTEGER
    """,
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
}
