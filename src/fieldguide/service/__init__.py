"""The identification service: the library's own decode, posterior and decision over HTTP."""

from fieldguide.service.app import create_app
from fieldguide.service.state import Settings

__all__ = ["Settings", "create_app"]
