"""The identification service: the library's own decode, posterior and decision over HTTP."""

from fieldguide.service.app import Settings, create_app

__all__ = ["Settings", "create_app"]
