"""photos fetch against a real loopback server that misbehaves on purpose."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fieldguide import __version__
from fieldguide.errors import InputError
from fieldguide.photos import FetchOptions, bucket_url, client, fetch_study, refusal, with_size
from fieldguide.store import Study
from tests.photos.conftest import BIG, CAP, add_photos, files_under, photo_rows
from tests.photos.server import PhotoServer

FAST = FetchOptions(concurrency=4, rate=0, retries=2, backoff=0.01, max_wait=5, timeout=0.5,
                    max_bytes=CAP)

# case -> (URL behaviour, status, reason starts with, requests the server sees)
CASES = {
    "ok-1": ("ok", "fetched", None, 1),
    "ok-2": ("ok", "fetched", None, 1),
    "redirect": ("redirect", "fetched", None, 1),  # + 1 on /ok/
    "429": ("429", "fetched", None, 2),
    "flaky": ("flaky", "fetched", None, 2),
    "slow": ("slow", "fetched", None, 1),
    "404": ("404", "failed", "http 404 not found", 1),
    "403": ("403", "failed", "http 403 forbidden", 1),
    "410": ("410", "failed", "http 410 gone", 1),
    "html": ("html", "failed", "not an image", 1),
    "big": ("big", "failed", "over the size cap (19,204 > 16,000 bytes)", 1),
    "bigchunked": ("bigchunked", "failed", "over the size cap (>", 1),
    "down": ("down", "retry", "http 503", 3),
    "truncated": ("truncated", "retry", "truncated body", 3),
    "stall": ("stall", "retry", "timeout", 3),
}


def _names(flowers: dict[str, bytes]) -> list[str]:
    return [n for n in flowers if n != BIG]


def _urls(server: PhotoServer, flowers: dict[str, bytes]) -> dict[str, str | None]:
    names = _names(flowers)
    urls: dict[str, str | None] = {}
    for i, (case, (how, *_)) in enumerate(CASES.items()):
        urls[case] = server.url(how, BIG if how.startswith("big") else names[i])
    urls["file"] = "file:///etc/passwd"
    urls["ftp"] = "ftp://127.0.0.1/photo.jpg"
    urls["bare"] = "/etc/hostname"
    urls["none"] = None
    return urls


@pytest.mark.parametrize("on_loop", [True, False], ids=["kept-on-the-loop", "kept-by-a-thread"])
def test_every_misbehaviour_ends_with_its_documented_outcome(
        tmp_path: Path, server: PhotoServer, flowers: dict[str, bytes], on_loop: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Small photos are checked and kept on the event loop, larger ones by the keeping
    threads: both ways end every case alike."""
    assert max(len(b) for b in flowers.values()) <= client.KEEP_ON_LOOP_BYTES
    if not on_loop:
        monkeypatch.setattr(client, "KEEP_ON_LOOP_BYTES", 0)
    urls = _urls(server, flowers)
    with Study(tmp_path / "study") as study:
        add_photos(study, urls)
        start = time.monotonic()
        report = fetch_study(study, options=FAST, seed=0)
        seconds = time.monotonic() - start
        rows = photo_rows(study)

    for case, (_how, status, reason, hits) in CASES.items():
        row = rows[case]
        url = urls[case]
        assert url is not None
        assert row["fetch_status"] == status, (case, row["fetch_reason"])
        path = url.split(server.base)[1]
        assert server.hits[path] == hits, case
        if status == "fetched":
            body = flowers[url.rsplit("/", 1)[1]]
            kept = Path(str(row["path"]))
            assert kept.read_bytes() == body
            assert row["sha256"] == hashlib.sha256(body).hexdigest()
            assert row["file_bytes"] == len(body)
            assert (row["width"], row["height"]) == Image.open(io.BytesIO(body)).size
            assert kept.suffix == ".jpg" and kept.is_relative_to(tmp_path / "study" / "photos")
            assert row["fetch_reason"] is None
        else:
            assert row["path"] is None and row["sha256"] is None
            assert reason is not None
            assert str(row["fetch_reason"]).startswith(reason), (case, row["fetch_reason"])
    for case in ("file", "ftp", "bare"):
        assert rows[case]["fetch_status"] == "failed"
        assert "not an http(s) URL" in str(rows[case]["fetch_reason"])
    assert rows["none"]["fetch_status"] is None
    assert server.hits["/ok/" + urls["redirect"].rsplit("/", 1)[1]] == 1  # type: ignore[union-attr]
    assert not any(p.startswith(("/etc", "file")) for p in server.hits)
    assert seconds >= 1.0  # the 429's Retry-After: 1 was honoured

    assert report.fetched == 6 and report.already == 0
    assert sum(report.failed.values()) == 9  # 404 403 410 html big bigchunked file ftp bare
    assert sum(report.retry.values()) == 3
    assert report.photos == len(urls) and report.with_url == len(urls) - 1
    assert report.licences == {"CC-BY": len(urls) - 1}
    kept_files = files_under(tmp_path / "study" / "photos")
    assert len(kept_files) == 6 and not any(".part" in p.name for p in kept_files)
    table = report.table()
    assert "fetched" in table and "already there" in table and "failed: http 404" in table
    assert "will retry: http 503" in table and "licences: CC-BY 18" in table
    assert server.agents == {f"fieldguide/{__version__} (community-science photo fetcher)"}

    # A re-run asks again only for the transient failures.
    before = server.hits.copy()
    with Study(tmp_path / "study") as study:
        again = fetch_study(study, options=FAST, seed=0)
    assert again.already == 6 and again.fetched == 0
    assert sum(again.retry.values()) == 3 and not again.failed
    asked = {p for p in server.hits if server.hits[p] != before[p]}
    assert asked == {u.split(server.base)[1] for c, u in urls.items()  # type: ignore[union-attr]
                     if c in ("down", "truncated", "stall")}


def test_rerun_fetches_nothing_and_verify_refetches_a_changed_file(
        tmp_path: Path, server: PhotoServer, flowers: dict[str, bytes]) -> None:
    names = _names(flowers)[:3]
    with Study(tmp_path / "s") as study:
        add_photos(study, {n: server.url("ok", n) for n in names})
        assert fetch_study(study, options=FAST).fetched == 3
        assert fetch_study(study, options=FAST).already == 3
        damaged = Path(str(photo_rows(study)[names[0]]["path"]))
        damaged.write_bytes(flowers[names[1]])
        Path(str(photo_rows(study)[names[2]]["path"])).unlink()
        report = fetch_study(study, options=FAST, verify=True)
        assert (report.verified, report.damaged, report.fetched, report.already) == (1, 2, 2, 1)
        assert damaged.read_bytes() == flowers[names[0]]
    assert all(server.hits[f"/ok/{n}"] == (1 if n == names[1] else 2) for n in names)


def test_a_body_over_the_spool_size_streams_through_a_scratch_file(
        tmp_path: Path, server: PhotoServer, flowers: dict[str, bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies past SPOOL_BYTES go to photos/.tmp as they arrive: kept whole when complete
    and decodable, and no scratch file is left behind whatever happens."""
    monkeypatch.setattr(client, "SPOOL_BYTES", 1024)
    names = _names(flowers)
    urls: dict[str, str | None] = {
        "ok": server.url("ok", names[0]), "slow": server.url("slow", names[1]),
        "truncated": server.url("truncated", names[2]), "html": server.url("html", names[3]),
        "bigchunked": server.url("bigchunked", BIG), "stall": server.url("stall", names[4])}
    assert all(len(flowers[names[i]]) > 1024 for i in range(5))
    with Study(tmp_path / "s") as study:
        add_photos(study, urls)
        report = fetch_study(study, options=FAST, seed=0)
        rows = photo_rows(study)
    assert (report.fetched, sum(report.failed.values()), sum(report.retry.values())) == (2, 2, 2)
    for case, name in (("ok", names[0]), ("slow", names[1])):
        kept = Path(str(rows[case]["path"]))
        assert kept.read_bytes() == flowers[name]
        assert rows[case]["sha256"] == hashlib.sha256(flowers[name]).hexdigest()
    assert str(rows["bigchunked"]["fetch_reason"]).startswith("over the size cap (>")
    assert str(rows["truncated"]["fetch_reason"]).startswith("truncated body")
    assert str(rows["stall"]["fetch_reason"]).startswith("timeout")
    assert len(files_under(tmp_path / "s" / "photos")) == 2  # nothing left in .tmp


def test_dataset_scope_fetches_only_the_manifest_photos(
        tmp_path: Path, server: PhotoServer, flowers: dict[str, bytes]) -> None:
    names = _names(flowers)[:4]
    dataset = tmp_path / "ds"
    dataset.mkdir()
    pq.write_table(pa.table({"photo_id": names[:2]}), dataset / "manifest.parquet")
    with Study(tmp_path / "s") as study:
        add_photos(study, {n: server.url("ok", n) for n in names})
        report = fetch_study(study, options=FAST, dataset=dataset)
    assert report.fetched == 2 and report.photos == 2
    assert set(server.hits) == {f"/ok/{n}" for n in names[:2]}


def test_a_study_without_urls_says_so(tmp_path: Path) -> None:
    with Study(tmp_path / "s") as study:
        with pytest.raises(InputError, match="no photos"):
            fetch_study(study, options=FAST)
        add_photos(study, {"a": None, "b": ""})
        with pytest.raises(InputError, match="none of the 2 photo"):
            fetch_study(study, options=FAST)


def test_an_unwritable_photos_folder_is_a_clear_error(
        tmp_path: Path, server: PhotoServer, flowers: dict[str, bytes]) -> None:
    with Study(tmp_path / "s") as study:
        add_photos(study, {"a": server.url("ok", _names(flowers)[0])})
        (tmp_path / "s" / "photos").write_text("a file where the folder goes")
        with pytest.raises(InputError, match="cannot write photos here"):
            fetch_study(study, options=FAST)
        assert photo_rows(study)["a"]["fetch_status"] is None
    assert not server.hits


def test_urls() -> None:
    medium = "https://inaturalist-open-data.s3.amazonaws.com/photos/123/medium.jpg"
    assert with_size(medium, "original").endswith("/photos/123/original.jpg")
    assert with_size("https://static.inaturalist.org/photos/9/square.jpeg?1545", "large") == \
        "https://static.inaturalist.org/photos/9/large.jpeg?1545"
    assert with_size("http://127.0.0.1:9/photos/9/medium.jpg", "large").endswith("medium.jpg")
    assert with_size(medium, None) == medium
    with pytest.raises(ValueError, match="unknown size"):
        with_size(medium, "huge")
    assert bucket_url("35927", "JPG") == medium.replace("123", "35927")
    assert bucket_url("1", "png", size="small", base="http://h:1/") == \
        "http://h:1/photos/1/small.png"
    assert refusal("https://x.org/a.jpg") == "" and refusal("HTTP://x.org/a") == ""
    for bad in ("file:///etc/passwd", "ftp://x.org/a.jpg", "/etc/passwd", "x.jpg",
                "javascript:alert(1)"):
        assert "not an http(s) URL" in refusal(bad)
    assert refusal("") == "no URL" and refusal("http:///path") == "URL has no host"
