"""Fetching an export's photos into the study: async HTTP, polite, resumable, each file
checked (complete, an image, under the size cap) and renamed into place, licences kept.

``fetch_study(study, size=..., options=FetchOptions(...))`` is the one entry point; the engine
(:func:`fetch_many`) knows nothing of the study and is what ``bench/fetch.py`` measures.
"""

from fieldguide.photos.client import USER_AGENT, FetchOptions, Job, Outcome, fetch_many
from fieldguide.photos.study import FetchReport, fetch_study, photos_folder
from fieldguide.photos.urls import SIZES, bucket_url, refusal, with_size

__all__ = [
    "SIZES",
    "USER_AGENT",
    "FetchOptions",
    "FetchReport",
    "Job",
    "Outcome",
    "bucket_url",
    "fetch_many",
    "fetch_study",
    "photos_folder",
    "refusal",
    "with_size",
]
