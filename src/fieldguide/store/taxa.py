"""The study's taxa as a :class:`~fieldguide.taxonomy.Taxonomy` (for roll-ups and matching)."""

from __future__ import annotations

import numpy as np

from fieldguide.store.study import Study
from fieldguide.taxonomy import SynonymTable, Taxonomy


def load_taxonomy(study: Study, source: str | None = None) -> tuple[Taxonomy, SynonymTable]:
    """The study's taxa (all, or one source's) with their synonyms; ids are study taxon ids.

    A parent outside the selected source becomes a root, so one source can be read alone.
    """
    where = "WHERE source = ?" if source is not None else ""
    params = [source] if source is not None else []
    rows = study.con.execute(
        f"SELECT taxon_id, parent_id, name, rank FROM taxa {where} ORDER BY taxon_id", params
    ).fetchall()
    ids = np.asarray([r[0] for r in rows], dtype=np.int64)
    known = set(ids.tolist())
    parents = [r[1] if r[1] in known else -1 for r in rows]
    taxonomy = Taxonomy.from_parents(ids, parents, [r[2] for r in rows], [r[3] for r in rows])
    synonyms = study.con.execute(
        f"SELECT name, taxon_id FROM synonyms WHERE taxon_id IN "
        f"(SELECT taxon_id FROM taxa {where})", params
    ).fetchall()
    return taxonomy, SynonymTable.from_pairs([(n, int(t)) for n, t in synonyms])
