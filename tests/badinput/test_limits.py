"""What must be accepted: a malformed row within --max-rejects, a huge cell in an unused
column; and a busy study named as such."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from fieldguide.ingest import ingest_inat_csv, ingest_votes
from fieldguide.store import Study
from tests.badinput.conftest import fieldguide


def test_one_extra_field_is_one_reject_not_a_refused_file(tmp_path: Path) -> None:
    votes = tmp_path / "v.csv"
    votes.write_text("task,worker,label\n1,a,x\n2,a,y,EXTRA\n3,b,z\n")
    with Study(tmp_path / "s") as study:
        report = ingest_votes(study, votes, max_rejects=1)
    assert (report.rows_read, report.rows_kept) == (3, 2)
    assert report.rejections[0].line == 3


def test_a_10_mb_description_does_not_refuse_the_export(tmp_path: Path) -> None:
    export = tmp_path / "obs.csv"
    export.write_text("id,observed_on,scientific_name,description,user_id\n"
                      f"1,2020-01-01,Rosa canina,\"{'x' * (10 * 2**20)}\",7\n"
                      "2,2020-01-02,Rosa canina,short,7\n")
    with Study(tmp_path / "s") as study:
        report = ingest_inat_csv(study, export)
    assert report.rows_kept == 2


def test_a_busy_study_is_named_with_the_pid(tmp_path: Path) -> None:
    study = tmp_path / "s"
    Study(study).close()
    holder = subprocess.Popen([sys.executable, "-c",
                               "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); time.sleep(20)",
                               str(study / "fieldguide.duckdb")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        start = time.monotonic()
        done = fieldguide("--wait", "1", "summary", study=study)
        assert time.monotonic() - start >= 1
        assert done.returncode == 2
        assert f"study is in use by another fieldguide process (pid {holder.pid})" in done.stderr
    finally:
        holder.kill()
        holder.wait()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "v.json"
    bad.write_text("[1]")
    plain = fieldguide("ingest", "votes", str(bad), study=tmp_path / "s")
    assert "Traceback" not in plain.stderr and plain.returncode == 2
    debug = fieldguide("--debug", "aggregate", "--method", "majority", str(tmp_path / "none"),
                       "-o", str(tmp_path / "l.csv"), study=tmp_path / "s")
    assert debug.returncode != 0


def test_encoding_option_reads_a_latin1_export_through_the_cli(tmp_path: Path) -> None:
    export = tmp_path / "obs.csv"
    export.write_bytes("id,observed_on,scientific_name,user_id,place_guess\n"
                       "1,2020-01-01,Rosa canina,7,Malmö\n".encode("latin-1"))
    refused = fieldguide("ingest", "inat", str(export), study=tmp_path / "s")
    assert refused.returncode == 2 and "--encoding" in refused.stderr
    done = fieldguide("ingest", "inat", str(export), "--encoding", "latin-1",
                      study=tmp_path / "s")
    assert done.returncode == 0, done.stderr
    with Study(tmp_path / "s") as study:
        assert study.con.execute("SELECT place FROM observations").fetchall() == [("Malmö",)]
