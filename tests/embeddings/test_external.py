"""Embeddings from elsewhere: the import format's bad inputs each refused in one line through
``fieldguide train``, and a good file (or a labelled store) trained into a heads-only model
whose model.onnx reproduces the fitted logits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import log_softmax, logsumexp

from fieldguide.embeddings import heads_only_outputs, read_embeddings
from fieldguide.errors import InputError
from fieldguide.models.card import HeadSpec, log_membership, read_card
from fieldguide.training.probe import fit_linear_heads, head_logits
from tests.embeddings.conftest import cli, write_model, write_photos

SPECIES = {"Bellis perennis": "Bellis", "Bellis annua": "Bellis",
           "Taraxacum officinale": "Taraxacum"}


def columns(n_per: int = 12, width: int = 8, seed: int = 0) -> dict[str, Any]:
    """Vectors around one centre per species; of every 6 photos 4 train, 1 val, 1 test."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(SPECIES), width)) * 3
    rows: dict[str, Any] = {"photo_id": [], "taxon": [], "genus": [], "split": [],
                            "embedding": []}
    for k, (name, genus) in enumerate(SPECIES.items()):
        for i in range(n_per):
            rows["photo_id"].append(f"{k}-{i}")
            rows["taxon"].append(name)
            rows["genus"].append(genus)
            rows["split"].append((("train",) * 4 + ("val", "test"))[i % 6])
            rows["embedding"].append((centres[k] + rng.normal(size=width)).astype(np.float32))
    return rows


def write(path: Path, cols: dict[str, Any], fixed: bool = True) -> Path:
    data = {k: v for k, v in cols.items() if k != "embedding"}
    if "embedding" in cols:
        vectors = [np.asarray(v, np.float32).tolist() for v in cols["embedding"]]
        widths = {len(v) for v in vectors}
        if fixed and len(widths) == 1:
            kind = pa.list_(pa.float32(), widths.pop())
        else:
            kind = pa.list_(pa.float32())
        data["embedding"] = pa.array(vectors, kind)
    pq.write_table(pa.table(data), path)
    return path


def spec(tmp_path: Path, source: Path, extra: str = "") -> Path:
    out = tmp_path / "spec.toml"
    out.write_text(f'name = "heads"\nmode = "linear-probe"\nout = "{tmp_path / "run"}"\n'
                   f'[data]\nembeddings = "{source}"\nranks = ["genus"]\n{extra}'
                   f'[probe]\nmax_iter = 200\n[run]\nprogress = false\n')
    return out


def _cases() -> dict[str, tuple[dict[str, Any], str, bool]]:
    """name -> (columns, the text the one line must hold, fixed-size list)."""
    cases: dict[str, tuple[dict[str, Any], str, bool]] = {}
    c = columns()
    c["embedding"][5] = c["embedding"][5][:7]
    cases["widths"] = (c, "line 6, field 'embedding'", False)
    c = columns()
    c["embedding"][3] = c["embedding"][3].copy()
    c["embedding"][3][2] = np.nan
    cases["nan"] = (c, "line 4, field 'embedding': NaN or infinite", True)
    c = columns()
    c["embedding"][9] = c["embedding"][9].copy()
    c["embedding"][9][0] = np.inf
    cases["inf"] = (c, "line 10, field 'embedding': NaN or infinite", True)
    c = columns()
    del c["taxon"]
    cases["no-taxon"] = (c, "field 'taxon': missing column", True)
    c = columns()
    del c["embedding"]
    cases["no-embedding"] = (c, "field 'embedding': missing column", True)
    c = columns()
    c["split"][7] = None
    cases["row-without-split"] = (c, "line 8, field 'split'", True)
    c = columns()
    c["split"] = ["val" if s == "train" else s for s in c["split"]]
    cases["empty-train-split"] = (c, "field 'split': no photo has split 'train'", True)
    return cases


@pytest.mark.parametrize("case", list(_cases()))
def test_bad_embeddings_are_refused_in_one_line(tmp_path: Path, case: str) -> None:
    cols, expected, fixed = _cases()[case]
    source = write(tmp_path / f"{case}.parquet", cols, fixed)
    out = cli("train", str(spec(tmp_path, source)))
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert str(source) in lines[0] and expected in lines[0], lines[0]


def test_a_spec_names_a_manifest_or_embeddings(tmp_path: Path) -> None:
    source = write(tmp_path / "e.parquet", columns())
    out = cli("train", str(spec(tmp_path, source, 'manifest = "m.csv"\n')))
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1
    assert "field 'data.embeddings': name a manifest or embeddings, not both" in out.stderr


def test_heads_only_model_reproduces_the_fit(tmp_path: Path) -> None:
    cols = columns()
    source = write(tmp_path / "e.parquet", cols)
    out = cli("train", str(spec(tmp_path, source)))
    assert out.returncode == 0, out.stderr
    model = tmp_path / "run" / "model"
    card = read_card(model)
    assert card.embeddings_from == "external" and card.heads_only
    assert card.outputs == ["taxon", "genus", "embedding"]
    assert not (model / "model.safetensors").exists()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_top1"] == 1.0  # well-separated clusters
    # the same fit, here: the ONNX graph must give its logits on the test rows
    x = np.stack(cols["embedding"])
    split = np.array(cols["split"])
    classes = sorted(SPECIES)
    genera = sorted(set(SPECIES.values()))
    lineage = {s: {"genus": g} for s, g in SPECIES.items()}
    heads = [HeadSpec("taxon", "species", "taxon", tuple(classes)),
             HeadSpec("genus", "rank", "genus", tuple(genera))]
    y = np.array([[classes.index(t), genera.index(g)]
                  for t, g in zip(cols["taxon"], cols["genus"], strict=True)])
    train = split == "train"
    log_m = log_membership(tuple(classes), lineage, "genus", tuple(genera))
    fit = fit_linear_heads(x[train], y[train], heads, {"genus": log_m}, l2=1e-3, max_iter=200)
    got = heads_only_outputs(model, source, "test")
    want = head_logits(fit, x[split == "test"], "taxon")
    np.testing.assert_allclose(got["logits"], want, atol=1e-4 * max(1.0, np.abs(want).max()))
    np.testing.assert_allclose(got["embedding"], x[split == "test"], atol=0)
    genus = logsumexp(log_softmax(got["logits"], axis=1)[:, :, None] + log_m[None], axis=1)
    np.testing.assert_allclose(got["genus"], genus, atol=1e-5)
    with pytest.raises(InputError, match="field 'embedding': vectors are 6 wide; the model"):
        heads_only_outputs(model, write(tmp_path / "narrow.parquet", columns(width=6)))


def test_a_labelled_store_trains_a_heads_only_model(tmp_path: Path) -> None:
    """``fieldguide embed`` on a manifest records its labels; a spec naming the store trains
    on its vectors, and the card records the store's encoder."""
    model = write_model(tmp_path / "encoder")
    listing = write_photos(tmp_path / "photos", 45)
    (tmp_path / "photos" / "p00000.jpg").write_bytes(b"broken")
    store = tmp_path / "store"
    assert cli("embed", str(model), str(listing), "-o", str(store)).returncode == 0
    found = read_embeddings(store)
    assert found.skipped == 1 and found.width == 6 and len(found.photo_id) == 44
    out = cli("train", str(spec(tmp_path, store)))
    assert out.returncode == 0, out.stderr
    card = read_card(tmp_path / "run" / "model")
    assert isinstance(card.embeddings_from, dict)
    assert card.embeddings_from["backbone"] == "tiny" and card.embeddings_from["onnx_sha256"]
    assert card.metrics["skipped_images"] == 1
    got = heads_only_outputs(tmp_path / "run" / "model", store, "test")
    assert got["logits"].shape == (len(found.rows("test")), 3)
