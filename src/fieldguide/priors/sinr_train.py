"""Training the ``sinr`` prior with torch (the only module of this package that imports it,
inside :func:`train_sinr`), then exporting NumPy weights for the torch-free scorer.

Loss "assume negative full" (Cole et al. 2023): at each observation every other taxon is
assumed absent, at a random point on the sphere (with a random day) every taxon is assumed
absent, and the observed taxon's positive term is weighted by ``pos_weight`` (2048).
A share of the days (``hide_day``) is hidden during training, so the network also learns the
all-year map it is asked for when a photo has no date.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from fieldguide.errors import InputError
from fieldguide.priors.cells import valid_coordinates
from fieldguide.priors.observations import Observations
from fieldguide.priors.sinr_features import features


def train_sinr(obs: Observations, *, season: bool = True, hidden: int = 256, blocks: int = 4,
               epochs: int = 30, batch_size: int = 2048, lr: float = 5e-4,
               pos_weight: float = 2048.0, hide_day: float = 0.2, floor: float = 0.005,
               min_effort: int = 5, seed: int = 0, device: str | None = None
               ) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """Fit the network on ``obs``' located records; its parameters and NumPy weights (the
    thresholds left at 0: :meth:`SinrPrior.fit` calibrates them)."""
    import torch

    located = np.flatnonzero(valid_coordinates(obs.lat, obs.lon))
    if len(located) == 0:
        raise InputError("no located observations: the SINR prior needs coordinates "
                         f"({len(obs)} records, none with usable latitude/longitude)")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_taxa = len(obs.names)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    n_in = 6 if season else 4
    net = _Net(torch, n_in, hidden, blocks, n_taxa).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    lat, lon, doy = obs.lat[located], obs.lon[located], obs.doy[located]
    taxa = torch.as_tensor(obs.taxon[located], device=dev)
    n = len(located)
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            m = len(idx)
            day = doy[idx].copy()
            day[rng.random(m) < hide_day] = np.nan
            x_pos = features(lat[idx], lon[idx], day if season else None)
            bg_lat = np.degrees(np.arcsin(rng.uniform(-1, 1, m)))
            bg_lon = rng.uniform(-180, 180, m)
            bg_day = rng.uniform(1, 367, m)
            bg_day[rng.random(m) < hide_day] = np.nan
            x_bg = features(bg_lat, bg_lon, bg_day if season else None)
            x = torch.as_tensor(np.concatenate([x_pos, x_bg]), device=dev)
            p = torch.sigmoid(net(x)).clamp(1e-5, 1 - 1e-5)
            p_pos, p_bg = p[:m], p[m:]
            loss_pos = -torch.log(1 - p_pos)
            rows = torch.arange(m, device=dev)
            loss_pos[rows, taxa[idx]] = -pos_weight * torch.log(p_pos[rows, taxa[idx]])
            loss = loss_pos.mean() + (-torch.log(1 - p_bg)).mean()
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    arrays = _export(net, blocks)
    arrays["taxon_count"] = np.bincount(obs.taxon, minlength=n_taxa).astype(np.float32)
    arrays["thresholds"] = np.zeros(n_taxa, dtype=np.float32)
    params: dict[str, Any] = {
        "method": "sinr", "rank": obs.rank, "season": season, "hidden": hidden,
        "blocks": blocks, "epochs": epochs, "pos_weight": pos_weight, "hide_day": hide_day,
        "floor": floor, "min_effort": min_effort, "threshold_resolution": 4,
    }
    return params, arrays


def _Net(torch: Any, n_in: int, hidden: int, blocks: int, n_out: int) -> Any:
    """SINR's residual MLP: input layer, ``blocks`` residual blocks of two layers, a head."""
    nn = torch.nn

    class Block(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.l1 = nn.Linear(hidden, hidden)
            self.l2 = nn.Linear(hidden, hidden)

        def forward(self, h: Any) -> Any:
            return h + torch.relu(self.l2(torch.relu(self.l1(h))))

    class Net(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.input = nn.Linear(n_in, hidden)
            self.blocks = nn.ModuleList([Block() for _ in range(blocks)])
            self.head = nn.Linear(hidden, n_out)

        def forward(self, x: Any) -> Any:
            h = torch.relu(self.input(x))
            for block in self.blocks:
                h = block(h)
            return self.head(h)

    return Net()


def _export(net: Any, blocks: int) -> dict[str, NDArray[Any]]:
    """Weights as (in, out) float32 matrices, named as the NumPy scorer reads them."""
    def mat(layer: Any) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        return (layer.weight.detach().cpu().numpy().T.astype(np.float32).copy(),
                layer.bias.detach().cpu().numpy().astype(np.float32))

    out: dict[str, NDArray[Any]] = {}
    out["input.w"], out["input.b"] = mat(net.input)
    for i in range(blocks):
        out[f"block{i}.w1"], out[f"block{i}.b1"] = mat(net.blocks[i].l1)
        out[f"block{i}.w2"], out[f"block{i}.b2"] = mat(net.blocks[i].l2)
    out["head.w"], out["head.b"] = mat(net.head)
    return out
