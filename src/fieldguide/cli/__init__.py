"""The ``fieldguide`` command: thin commands over each stage's public API, imports kept lazy."""
