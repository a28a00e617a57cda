"""Building a store from a model's ``embedding`` output through the real command: a build
killed with SIGKILL and run again equals an uninterrupted one (every photo once), and the
Ray engine's store equals the local one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fieldguide.embeddings import EmbeddingStore, build_store
from fieldguide.embeddings.store import SHARDS
from fieldguide.identification.inputs import read_photos
from tests.embeddings.conftest import REPO, cli, write_model, write_photos


def _same(a: EmbeddingStore, b: EmbeddingStore) -> None:
    """The same photos, each once, with the same vectors (to 1e-6)."""
    assert len(set(a.keys())) == len(a.keys()) and sorted(a.keys()) == sorted(b.keys())
    keys = a.keys()
    va, fa = a.gather(keys)
    vb, fb = b.gather(keys)
    assert fa.all() and fb.all() and a.identity == b.identity
    np.testing.assert_allclose(va, vb, atol=1e-6)


@pytest.mark.slow
def test_a_killed_build_resumes_to_the_same_store(tmp_path: Path) -> None:
    model = write_model(tmp_path / "model")
    listing = write_photos(tmp_path / "photos", 5000)
    store = tmp_path / "store"
    args = ["embed", str(model), str(listing), "-o", str(store), "--chunk-size", "100",
            "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}"
           f"{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "fieldguide.cli.main", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list((store / SHARDS).glob("*.json"))) < 3:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((store / SHARDS).glob("*.json")))
    assert 3 <= done < 50, "the build finished before it was killed"
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert "5000 photos embedded" in again.stdout
    whole = cli("embed", str(model), str(listing), "-o", str(tmp_path / "whole"),
                "--chunk-size", "100", "--threads", "1")
    assert whole.returncode == 0, whole.stderr
    resumed = EmbeddingStore.open(store)
    _same(resumed, EmbeddingStore.open(tmp_path / "whole"))
    assert len(resumed) == 5000 and not resumed.failed()
    assert all(len(s) <= 100 for s in resumed.shards())


def test_failed_photos_and_labels_through_the_command(tmp_path: Path) -> None:
    model = write_model(tmp_path / "model")
    listing = write_photos(tmp_path / "photos", 30)
    (tmp_path / "photos" / "p00004.jpg").write_bytes(b"not a jpeg")
    out = cli("embed", str(model), str(listing), "-o", str(tmp_path / "store"))
    assert out.returncode == 0, out.stderr
    assert "29 photos embedded" in out.stdout and "1 failed" in out.stdout
    store = EmbeddingStore.open(tmp_path / "store")
    (reason,) = store.failed().values()
    assert reason and (tmp_path / "store" / "labels.parquet").is_file()
    other = write_model(tmp_path / "other")
    card = other / "model.json"
    card.write_text(card.read_text().replace('"fixed"', '"other"'))  # other weights
    refused = cli("embed", str(other), str(listing), "-o", str(tmp_path / "store"))
    assert refused.returncode != 0 and "another encoder" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_ray_and_local_builds_are_equal(tmp_path: Path) -> None:
    try:
        import ray
    except ImportError:
        print("skipped: ray is not importable")
        pytest.skip("ray is not importable")
    model = write_model(tmp_path / "model")
    photos = read_photos(write_photos(tmp_path / "photos", 60))
    local = build_store(model, photos, tmp_path / "local", chunk_size=16, threads=1)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        remote = build_store(model, photos, tmp_path / "ray", engine="ray", chunk_size=16,
                             threads=1, actors=2)
    finally:
        ray.shutdown()
    _same(local, remote)
    assert len(remote) == 60 and all(len(s) <= 16 for s in remote.shards())
