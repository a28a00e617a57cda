"""fieldguide: from community-science photos and crowd votes to trustworthy labels.

The pipeline runs one way, one package per stage: ``store`` (the study workspace), ``inputs``
(safe readers of untrusted files), ``ingest``, ``photos`` (fetching them), ``taxonomy``,
``votes``, ``curation``, ``models`` (the model card and the one pixel path), ``training``,
``evaluation``, ``identification`` (the ONNX classifier and the decision core), ``priors``
(place and season), ``search`` (the embedding index), ``service`` (HTTP) and ``export``
(Darwin Core). ``cli`` is a thin layer over their public APIs.
"""

__version__ = "0.1.0"
