"""A family of models as Naturalis runs it (issue 23): a main model that says which group a
photo belongs to, a shared model per group, each group's model customised per source, trait
(life-stage) members per group and each source's local names, trained from one pooled
dataset on one shared encoder and identified as one model.

- :func:`load_family_spec` / :func:`bind` (``spec.py``): the TOML spec and the data it binds to;
- :func:`train_family` / :func:`fit_family` (``train.py``): the members, fitted and calibrated;
- :func:`read_family_card` (``card.py``): the one reader and writer of ``family.json``;
- :class:`FamilyModel` (``model.py``): a family folder behind ``open_model``;
  :func:`family_log_probs`, P(taxon) = P(group) x P(taxon | group, source);
- :func:`read_local_names` (``names.py``): a source's local names, harmonised onto the taxa;
- :func:`replace_member` (``swap.py``): one member replaced in place, atomically;
- :func:`write_source_comparison` (``compare.py``): seed 004's comparison of a family
  customised for a source against a model of that source alone (training and ``compare``).

Imports are lazy: ``fieldguide --help`` loads none of this.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fieldguide.family.card import FamilyCard, Member, is_family, read_family_card
    from fieldguide.family.compare import write_source_comparison
    from fieldguide.family.model import FamilyModel, family_log_probs
    from fieldguide.family.names import read_local_names
    from fieldguide.family.spec import FamilySpec, bind, is_family_spec, load_family_spec
    from fieldguide.family.swap import replace_member
    from fieldguide.family.train import fit_family, train_family

_WHERE = {
    "FamilyCard": "card", "Member": "card", "is_family": "card", "read_family_card": "card",
    "FamilyModel": "model", "family_log_probs": "model", "FamilySpec": "spec", "bind": "spec",
    "is_family_spec": "spec", "load_family_spec": "spec", "replace_member": "swap",
    "fit_family": "train", "train_family": "train", "write_source_comparison": "compare",
    "read_local_names": "names",
}
__all__ = [
    "FamilyCard",
    "FamilyModel",
    "FamilySpec",
    "Member",
    "bind",
    "family_log_probs",
    "fit_family",
    "is_family",
    "is_family_spec",
    "load_family_spec",
    "read_family_card",
    "read_local_names",
    "replace_member",
    "train_family",
    "write_source_comparison",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"fieldguide.family.{_WHERE[name]}"), name)
