"""Inputs that try to reach outside their own file: host files read through meta.xml, SQL
carried in column names, and SQL text built from values anywhere in src/."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from tests.badinput.conftest import fieldguide, fingerprint

SECRET = "fieldguide-secret-7c1f"
REPO = Path(__file__).resolve().parents[2]


def _archive(path: Path, location: str, term: str = "scientificName") -> Path:
    meta = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<archive xmlns="http://rs.tdwg.org/dwc/text/">'
        '<core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
        'fieldsEnclosedBy="" ignoreHeaderLines="1" '
        'rowType="http://rs.tdwg.org/dwc/terms/Occurrence">'
        f"<files><location>{location}</location></files><id index=\"0\"/>"
        '<field index="0" term="http://rs.gbif.org/terms/1.0/gbifID"/>'
        '<field index="1" term="http://rs.tdwg.org/dwc/terms/eventDate"/>'
        f'<field index="2" term="http://rs.tdwg.org/dwc/terms/{term}"/></core></archive>'
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta.xml", meta)
        z.writestr("occurrence.txt", "gbifID\teventDate\tscientificName\n"
                                     "501\t2020-05-01\tRosa canina\n")
    return path


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "dotdot-folder"])
def test_meta_xml_locations_never_read_a_host_file(
    kind: str, tmp_path: Path, base_study: tuple[Path, dict[str, Path]]
) -> None:
    study, _ = base_study
    host = tmp_path / "host" / "occurrence.txt"
    host.parent.mkdir()
    host.write_text(f"gbifID\teventDate\tscientificName\n777\t2020-01-01\t{SECRET}\n")
    if kind == "absolute":
        target = _archive(tmp_path / "a.zip", str(host))
    elif kind == "dotdot":
        target = _archive(tmp_path / "a.zip", "../" * 12 + str(host).lstrip("/"))
    else:
        folder = tmp_path / "archive"
        folder.mkdir()
        with zipfile.ZipFile(_archive(tmp_path / "a.zip", "../host/occurrence.txt")) as z:
            z.extractall(folder)
        target = folder
    before = fingerprint(study)
    done = fieldguide("ingest", "dwca", str(target), study=study)
    assert done.returncode == 2 and "outside the archive" in done.stderr, done.stderr
    assert fingerprint(study) == before
    assert SECRET.encode() not in (study / "fieldguide.duckdb").read_bytes()


def test_a_term_carrying_sql_runs_no_sql(
    tmp_path: Path, base_study: tuple[Path, dict[str, Path]]
) -> None:
    study, _ = base_study
    planted = tmp_path / "planted.csv"
    term = f'x" FROM fg_stage; COPY (SELECT 1) TO \'{planted}\'; SELECT "'
    archive = _archive(tmp_path / "a.zip", "occurrence.txt", term.replace("'", "&apos;"))
    done = fieldguide("ingest", "dwca", str(archive), study=study)
    assert "Traceback" not in done.stderr
    assert not planted.exists()


def test_a_trait_header_carrying_sql_runs_no_sql(
    tmp_path: Path, base_study: tuple[Path, dict[str, Path]]
) -> None:
    study, _ = base_study
    planted = tmp_path / "planted2.csv"
    table = tmp_path / "traits.csv"
    table.write_text(f'file,"a"" FROM fg_stage; COPY (SELECT 1) TO \'{planted}\'; --"\n'
                     "1.jpg,1\n")
    done = fieldguide("ingest", "traits", str(table), study=study)
    assert "Traceback" not in done.stderr
    assert not planted.exists()


# SQL text is assembled with f-strings in many places; each interpolation must be a quoted
# identifier, a bound-parameter placeholder list, a number or a constant of the module.
SQL_START = re.compile(r"""f["']{1,3}\s*(SELECT|INSERT|CREATE|COPY|UPDATE|DELETE|DROP|ALTER|"""
                       r"""WITH|DESCRIBE)\b""", re.IGNORECASE)
SAFE = re.compile(
    r"^(quote_ident\(.*\)|quote_literal\(.*\)|sql_literal\(.*\)|col\(.*\)|csvfile\.col\(.*\)"
    r"|[a-z_]+:d|import_id|limit|[A-Z_]+|q|t|k|v|target|rejects|scan|errors_table|bad|"
    r"select|col_spec|columns|values|low|day|oid|taxon_key|name|table|c\.reason|c\.condition"
    r"|query|_filled\(.*\)|errors|lat|lon|expr|key|taxon|join|photo_id|source_key|rank)$")
# Interpolations reviewed one by one, (file, expression) -> why it carries no input text.
# "code": a fragment built by the module from constants and quote_ident; "number": a value the
# spec parser has checked is an int or float (spec.parse_spec refuses text there).
_IN = "src/fieldguide/ingest/inat_csv.py"
_MA, _SP, _ST = (f"src/fieldguide/curation/{m}.py" for m in ("manifest", "splits", "steps"))
_SY = "src/fieldguide/curation/synthetic.py"
ALLOWED: dict[tuple[str, str], str] = {
    ("src/fieldguide/store/schema.py", "kind"): "code",
    ("src/fieldguide/store/taxa.py", "where"): "code",
    **{(_IN, e): "code" for e in (
        "observer", "login_join", "pairs", "cell", 'rowchecks.date_sql("observed_on")',
        "observed_at", "captive", '_taxon_key_sql(columns, "s.")', "_taxon_key_sql(columns)",
        "', '.join(values)")},
    # rowchecks' missing-value fragment (value_sql / date_sql) over a quoted column or
    # csvfile.col's NULL: quote_ident and the module's constant list of missing spellings.
    ("src/fieldguide/ingest/csvfile.py", "_one_line(c.reason)"): "code (c.reason in replace)",
    **{("src/fieldguide/ingest/dwca.py", e): "code" for e in (
        'rowchecks.date_sql("eventDate")', "verbatim")},
    **{("src/fieldguide/ingest/gbif_csv.py", e): "code" for e in (
        'rowchecks.date_sql("eventDate")', "rowchecks.value_sql(lat)",
        "rowchecks.value_sql(lon)", 'value("recordedBy")', 'value("lifeStage")',
        'value("stateProvince")')},
    ("src/fieldguide/curation/summary.py", "pick"): "code (the rank itself is bound)",
    **{(_MA, e): "code (trait names through the module's quoting helpers)" for e in (
        "ranks", "pivot", "names", "merged", "rank_cols", "extra", "joins")},
    (_MA, "fmt"): "code (spec formats are checked against parquet/csv)",
    (_MA, "pick"): "code (the superclass rank itself is bound)",
    (_ST, "condition"): "code (the step's values are bound parameters)",
    **{(_SP, e): "number" for e in (
        "seed", "counts", "split.test_observers", "split.val_max_photos", "split.val_fraction")},
    **{(_ST, e): "number" for e in (
        "cell", "seed", "fraction", "last", "int(keep)")},
    **{(_ST, e): "code" for e in ("group", "cap", "observation")},
    # flag_for_review: the rule's registered temp table (checked to be fg_[a-z_]+) and a SET
    # clause built from constants
    **{(_ST, e): "code" for e in ("flagged", "suggest")},
    **{(_SY, e): "number (test data generator: its own int arguments)" for e in (
        "families", "genera", "taxa", "observers", "observations", "first_species", "p",
        "_u('i', 1)", "_u('i', 2)", "_u('i', 3)", "_u('i', 6)", "_u('i', 7)", "_u('i', 10)")},
}
OWN = ["store", "ingest/csvfile.py", "ingest/dwca.py", "ingest/gbif_csv.py",
       "ingest/gbif_media.py", "ingest/votes.py", "ingest/commit.py", "ingest/rowchecks.py",
       "ingest/taxonomy_file.py", "ingest/inat_csv.py", "ingest/taxa.py",
       "ingest/image_folder.py", "curation"]


def _interpolations(source: str) -> list[tuple[int, str]]:
    out = []
    for m in SQL_START.finditer(source):
        line = source.count("\n", 0, m.start()) + 1
        quote = source[m.start() + 1: m.start() + 4]
        if quote in ('"""', "'''"):
            end = source.find(quote, m.start() + 4)
        else:
            end = source.find("\n", m.start())
        chunk = source[m.start(): end if end > 0 else len(source)]
        out += [(line, e.strip()) for e in re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", chunk)]
    return out


def test_no_sql_is_formatted_from_input_in_the_store_and_my_ingesters() -> None:
    src = REPO / "src" / "fieldguide"
    files = [p for own in OWN for p in ([src / own] if own.endswith(".py")
                                        else sorted((src / own).glob("*.py")))]
    bad = [f"{p.relative_to(REPO)}:{line}: {{{expr}}}" for p in files
           for line, expr in _interpolations(p.read_text())
           if not SAFE.match(expr) and (str(p.relative_to(REPO)), expr) not in ALLOWED]
    assert not bad, "\n".join(bad)
    for p in files:
        text = p.read_text()
        assert not re.search(r"""["'](SELECT|INSERT)[^"']*%s""", text), p
        assert ".format(" not in text or "SELECT" not in text.split(".format(")[0][-200:], p


def test_part_files_are_never_unpickled() -> None:
    for p in (REPO / "src").rglob("*.py"):
        text = p.read_text()
        assert "allow_pickle=True" not in text, p
        assert "import pickle" not in text, p


def test_a_superclass_rank_carrying_sql_is_a_value(tmp_path: Path) -> None:
    """The rank is bound: a quote in it is part of a rank name no taxon has, never SQL."""
    from fieldguide.curation import summarise
    from fieldguide.store import Study

    with Study(tmp_path / "s") as study:
        study.con.execute("INSERT INTO taxa (taxon_id, name, rank) VALUES (1, 'Plantae', "
                          "'kingdom'), (2, 'Rosa canina', 'species')")
        study.con.execute("UPDATE taxa SET parent_id = 1 WHERE taxon_id = 2")
        study.con.execute("INSERT INTO observations (observation_id, source, taxon_id) "
                          "VALUES ('o1', 't', 2)")
        assert {c.superclass for c in summarise(study, "kingdom").classes} == {"Plantae"}
        for rank in ("kingdom' OR '1'='1", "king'dom", 'x"); DROP TABLE taxa; --'):
            assert {c.superclass for c in summarise(study, rank).classes} == {"(none)"}
        assert study.counts()["taxa"] == 2


def test_a_dataset_report_reads_a_folder_whose_name_has_quotes(tmp_path: Path) -> None:
    """report.py reads the manifest through DuckDB's relation API: the path is no SQL text."""
    import duckdb

    from fieldguide.curation import write_report

    out = tmp_path / "it's a \"set\"; DROP"
    out.mkdir()
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT 'p1' AS photo_id, 'a.jpg' AS path, NULL::VARCHAR AS url, 'o1' AS "
        "observation_id, 'u' AS observer, 2 AS taxon_id, 0 AS class_index, 'Rosa canina' AS "
        "taxon, 'train' AS split, DATE '2020-01-01' AS observed_on, 1.0 AS latitude, "
        "2.0 AS longitude, '1' AS \"odd \"\" trait\") TO "
        + "'" + str(out / "manifest.parquet").replace("'", "''") + "' (FORMAT parquet)")
    (out / "classes.csv").write_text("name,superclass,photos,observations,train\n"
                                     "Rosa canina,Plantae,1,1,1\n")
    (out / "steps.json").write_text('{"spec": {"name": "q"}, "steps": []}')
    files = write_report(out, plots=False)
    assert 'Trait: odd " trait' in files["report.md"].read_text()
