from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fieldguide.embeddings import EmbeddingStore, EncoderIdentity
from fieldguide.models.heads import FieldguideNet, HeadSpec
from fieldguide.models.registry import create_backbone
from fieldguide.training import embeddings

PREP = {"size": 32, "crop_pct": 0.875, "mean": [0.5] * 3, "std": [0.5] * 3,
        "interpolation": "bilinear"}


def test_cache_embeds_each_photo_once(tmp_path: Path, photos: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    net = FieldguideNet(create_backbone("test_efficientnet"), [HeadSpec("t", "trait", "t",
                                                                        ("a", "b"))])
    files = sorted(photos.parent.glob("train/*/*.jpg"))[:5]
    for f in files:
        shutil.copy(f, tmp_path / f.name.replace(".jpg", f"-{f.parent.name}.jpg"))
    paths = sorted(tmp_path.glob("*.jpg"))
    calls: list[int] = []
    real = embeddings._embed

    def counting(model, todo, *args):  # type: ignore[no-untyped-def]
        calls.append(len(todo))
        return real(model, todo, *args)

    monkeypatch.setattr(embeddings, "_embed", counting)
    cache = tmp_path / "cache"
    key = EncoderIdentity.of("test_efficientnet", "random", PREP)
    first, ok = embeddings.embed_photos(net, paths[:3], PREP, cache, key, workers=0)
    assert ok.all() and first.shape == (3, 256)
    again, _ = embeddings.embed_photos(net, paths, PREP, cache, key, workers=0)
    np.testing.assert_allclose(again[:3], first, atol=1e-6)
    assert calls == [3, 2]  # only the two new photos were embedded
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    _, ok = embeddings.embed_photos(net, [*paths, tmp_path / "broken.jpg"], PREP, cache, key,
                                    workers=0)
    assert ok.tolist() == [True] * 5 + [False] and calls[-1] == 1
    _, ok = embeddings.embed_photos(net, [*paths, tmp_path / "broken.jpg"], PREP, cache, key,
                                    workers=0)
    assert ok.tolist() == [True] * 5 + [False] and len(calls) == 3  # failed: not retried
    store = EmbeddingStore.open(cache / key.digest, key)
    assert len(store) == 5 and list(store.failed().values()) == ["could not be read as an image"]
    assert key != EncoderIdentity.of("test_efficientnet", "other-weights", PREP)
