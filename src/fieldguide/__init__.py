"""fieldguide: from community-science photos and crowd votes to trustworthy labels.

The pipeline runs one way, one package per stage: ``store`` (the study workspace), ``ingest``,
``taxonomy``, ``votes``, ``curation``, and later ``models``, ``training``, ``evaluation``,
``identification`` and ``service``. ``cli`` is a thin layer over their public APIs.
"""

__version__ = "0.1.0"
