"""A prior on disk: a folder with ``prior.json`` (method, parameters, taxa, how it was built)
and ``arrays.npz`` (NumPy arrays only, read with ``allow_pickle=False``). Nothing is pickled,
and loading needs neither torch nor the study.

Both files are written atomically (tmp + os.replace), the arrays first; ``prior.json`` holds
the arrays' SHA-256, so a folder whose two files do not belong together is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fieldguide.errors import InputError
from fieldguide.priors.prior import PRIORS, Combine, PlaceSeasonPrior

FORMAT = "fieldguide-prior"
VERSION = 1


def save_prior(prior: PlaceSeasonPrior, folder: str | Path,
               build: dict[str, Any] | None = None) -> Path:
    """Write ``prior`` (of any registered method) into ``folder``; returns prior.json's path."""
    params, arrays = _state(prior)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    npz = root / "arrays.npz"
    tmp = root / ".arrays.npz.tmp"
    with tmp.open("wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, npz)
    doc = {"format": FORMAT, "version": VERSION, "method": prior.method, "rank": prior.rank,
           "params": params, "taxa": prior.names, "build": build or {},
           "arrays": {"file": npz.name, "sha256": _sha256(npz)}}
    target = root / "prior.json"
    tmp_json = root / ".prior.json.tmp"
    tmp_json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp_json, target)
    return target


def read_prior_json(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "prior.json"
    if not path.is_file():
        raise InputError("no prior here (prior.json missing; build one with "
                         "`fieldguide prior build`)", path=folder)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"prior.json is not valid JSON ({exc})", path=path) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError("not a fieldguide prior (format field)", path=path, field="format")
    if int(doc.get("version", 0)) > VERSION:
        raise InputError(f"prior format v{doc['version']} is newer than this fieldguide",
                         path=path, field="version")
    if doc.get("method") not in PRIORS:
        raise InputError(PRIORS.unknown(doc.get("method")).reason, path=path, field="method")
    return doc


def load_prior(folder: str | Path, *, combine: Combine = "inat",
               nearby: str | None = None) -> PlaceSeasonPrior:
    """The prior saved in ``folder``, ready for ``apply`` (torch-free)."""
    doc = read_prior_json(folder)
    npz = Path(folder) / str(doc["arrays"]["file"])
    if not npz.is_file():
        raise InputError("arrays file missing", path=npz)
    if _sha256(npz) != doc["arrays"]["sha256"]:
        raise InputError("arrays.npz does not match prior.json (sha256 differs)", path=npz)
    with np.load(npz, allow_pickle=False) as data:
        arrays: dict[str, NDArray[Any]] = {k: data[k] for k in data.files}
    names = [str(n) for n in doc["taxa"]]
    params = dict(doc["params"], rank=doc["rank"])
    return PRIORS[doc["method"]].restore(params, arrays, names, combine=combine, nearby=nearby)


def _state(prior: PlaceSeasonPrior) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    params = dict(prior.params)
    params.pop("rank", None)
    return params, dict(prior.arrays)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
