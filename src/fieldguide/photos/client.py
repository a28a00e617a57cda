"""Fetching many photos politely: one async HTTP client, bounded concurrency, a per-host rate
limit, and retries with exponential backoff and jitter.

What is retried, and what is not, decides whether a re-run will try a photo again:

- connection errors, timeouts, a body cut short, 429 and 5xx are *retryable*: retried here
  (waiting at least ``Retry-After`` when the server says so) and, if still failing, left for
  the next run (outcome ``retry``);
- 403, 404, 410 and other 4xx, a body that is not an image, a file over the size cap and a URL
  that is not http(s) are *final* (outcome ``failed``): asking again would get the same answer.

The engine knows nothing of the study: it takes :class:`Job` s and hands back one
:class:`Outcome` per job, in completion order.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

import fieldguide.photos.files as files
from fieldguide import __version__
from fieldguide.errors import InputError
from fieldguide.photos.urls import refusal

USER_AGENT = f"fieldguide/{__version__} (community-science photo fetcher)"
FINAL_STATUS = {403: "forbidden", 404: "not found", 410: "gone"}
Status = Literal["fetched", "there", "retry", "failed"]


@dataclass(frozen=True)
class FetchOptions:
    """How to fetch. ``rate`` is requests per second per host (0: no limit); the default is
    polite to a public server. ``max_wait`` caps one backoff: a ``Retry-After`` longer than it
    leaves the photo for the next run instead of holding a worker."""

    concurrency: int = 8
    rate: float = 4.0
    retries: int = 4
    backoff: float = 0.5
    max_wait: float = 60.0
    timeout: float = 30.0
    max_bytes: int = 25 * 2**20

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise InputError("concurrency must be at least 1", field="concurrency")
        if self.retries < 0 or self.backoff < 0 or self.timeout <= 0 or self.max_bytes < 1:
            raise InputError("retries, backoff, timeout and the size cap must be positive")


@dataclass(frozen=True)
class Job:
    photo_id: str
    url: str
    #: "photo", or "sound": a recording, checked by ``fieldguide.sound.keep.keep_recording``.
    kind: str = "photo"


@dataclass(frozen=True)
class Outcome:
    """What became of one photo: ``fetched`` (this run), ``there`` (its file was already in
    place), ``retry`` (a transient failure: the next run tries again) or ``failed`` (final)."""

    photo_id: str
    status: Status
    reason: str | None = None
    kept: files.Kept | None = None
    tries: int = 0
    wire_bytes: int = 0


class HostLimiter:
    """At most ``rate`` request starts per second per host (evenly spaced, no bursts)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next: dict[str, float] = {}

    async def wait(self, url: str) -> None:
        if not self.interval:
            return
        host = (urlsplit(url).hostname or "").lower()
        now = time.monotonic()
        slot = max(now, self._next.get(host, now))
        self._next[host] = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class _Failure(Exception):
    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None,
                 wire_bytes: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.wire_bytes = wire_bytes


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, options: FetchOptions, hint: float | None,
                  rng: random.Random) -> float:
    """Exponential backoff with jitter (half to one and a half times the step), never shorter
    than the server's ``Retry-After``."""
    step = options.backoff * (2**attempt) * (0.5 + rng.random())
    return float(max(step, hint or 0.0))


def make_client(options: FetchOptions, redirects: bool = True) -> httpx.AsyncClient:
    """One client for the run: keep-alive connections, redirects followed (at most 5; none
    with ``redirects=False``, where a redirect could lead off an allowed host), proxies and
    CA bundle from the standard variables (HTTPS_PROXY, SSL_CERT_FILE...)."""
    return httpx.AsyncClient(
        follow_redirects=redirects,
        max_redirects=5,
        trust_env=True,
        timeout=httpx.Timeout(options.timeout),
        limits=httpx.Limits(max_connections=options.concurrency,
                            max_keepalive_connections=options.concurrency),
        headers={"User-Agent": USER_AGENT, "Accept": "image/*",
                 "Accept-Encoding": "identity"},
    )


async def _download(client: httpx.AsyncClient, url: str, max_bytes: int) -> bytes:
    """The whole body of a 200 answer, checked against Content-Length and the size cap."""
    try:
        async with client.stream("GET", url) as response:
            code = response.status_code
            if code != 200:
                hint = retry_after(response.headers.get("Retry-After"))
                name = FINAL_STATUS.get(code, "")
                reason = f"http {code}{f' {name}' if name else ''}"
                raise _Failure(reason, code == 429 or code >= 500, hint)
            declared = response.headers.get("Content-Length")
            expected = int(declared) if declared and declared.isdigit() else None
            if expected is not None and expected > max_bytes:
                raise _Failure(f"over the size cap ({expected:,} > {max_bytes:,} bytes)", False)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise _Failure(f"over the size cap (> {max_bytes:,} bytes)", False,
                                   wire_bytes=response.num_bytes_downloaded)
            got = response.num_bytes_downloaded
            if expected is not None and got < expected:
                raise _Failure(f"truncated body ({got:,} of {expected:,} bytes)", True,
                               wire_bytes=got)
            return bytes(body)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise _Failure(f"refused URL (redirect?): {exc}", False) from None
    except httpx.TooManyRedirects:
        raise _Failure("too many redirects", False) from None
    except httpx.RemoteProtocolError as exc:
        text = str(exc)
        reason = "truncated body" if "incomplete" in text or "complete message" in text \
            else f"protocol error: {text[:80]}"
        raise _Failure(reason, True) from None
    except httpx.TimeoutException as exc:
        raise _Failure(f"timeout ({type(exc).__name__})", True) from None
    except httpx.TransportError as exc:
        raise _Failure(f"connection error ({type(exc).__name__})", True) from None


async def download(client: httpx.AsyncClient, url: str, max_bytes: int) -> bytes | str:
    """One GET, no retries: the body, or why there is none (a redirect not followed is a
    refusal)."""
    refused = refusal(url)
    if refused:
        return refused
    try:
        return await _download(client, url, max_bytes)
    except _Failure as failure:
        reason = failure.reason
        return f"{reason} (redirects are not followed)" if reason.startswith("http 3") \
            else reason


async def fetch_one(client: httpx.AsyncClient, job: Job, root: Path, options: FetchOptions,
                    limiter: HostLimiter, rng: random.Random) -> Outcome:
    """One photo, start to finish; never raises for anything the server or file does."""
    refused = refusal(job.url)
    if refused:
        return Outcome(job.photo_id, "failed", refused)
    found = files.on_disk(root, job.photo_id)
    if found is not None:
        try:
            kept = await asyncio.to_thread(files.describe, found, options.max_bytes)
            return Outcome(job.photo_id, "there", kept=kept)
        except InputError:
            found.unlink(missing_ok=True)  # not a photo we would keep: fetch it again
    wire = 0
    for attempt in range(options.retries + 1):
        await limiter.wait(job.url)
        try:
            body = await _download(client, job.url, options.max_bytes)
        except _Failure as failure:
            wire += failure.wire_bytes
            last_try = attempt == options.retries
            if not failure.retryable:
                return Outcome(job.photo_id, "failed", failure.reason, tries=attempt + 1,
                               wire_bytes=wire)
            delay = backoff_delay(attempt, options, failure.retry_after, rng)
            if last_try or delay > options.max_wait:
                return Outcome(job.photo_id, "retry", failure.reason, tries=attempt + 1,
                               wire_bytes=wire)
            await asyncio.sleep(delay)
            continue
        wire += len(body)
        try:
            kept = await asyncio.to_thread(_keeper(job), body, job.photo_id, root,
                                           options.max_bytes)
        except InputError as exc:
            return Outcome(job.photo_id, "failed", exc.reason, tries=attempt + 1,
                           wire_bytes=wire)
        return Outcome(job.photo_id, "fetched", kept=kept, tries=attempt + 1, wire_bytes=wire)
    raise AssertionError("unreachable: the last try returns")


def _keeper(job: Job) -> Callable[[bytes, str, Path, int], files.Kept]:
    """How a downloaded body is checked and kept: a photo as an image, a recording by the
    one audio path (issue 28)."""
    if job.kind == "sound":
        from fieldguide.sound.keep import keep_recording

        return keep_recording
    return files.keep


async def fetch_many(jobs: Iterable[Job], root: Path, options: FetchOptions,
                     on_outcome: Callable[[Outcome], None], *,
                     client: httpx.AsyncClient | None = None, seed: int | None = None) -> None:
    """Fetch every job into ``root`` with ``options.concurrency`` workers; ``on_outcome`` is
    called (on the event loop) as each photo ends. Jobs are pulled lazily, so memory stays
    flat however many there are."""
    rng = random.Random(seed)
    limiter = HostLimiter(options.rate)
    queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=2 * options.concurrency)
    own = client is None
    http = client or make_client(options)

    async def worker() -> None:
        while (job := await queue.get()) is not None:
            on_outcome(await fetch_one(http, job, root, options, limiter, rng))

    try:
        # A TaskGroup: a worker that fails cancels the others and the feeding loop.
        async with asyncio.TaskGroup() as group:
            for _ in range(options.concurrency):
                group.create_task(worker())
            for job in jobs:
                await queue.put(job)
            for _ in range(options.concurrency):
                await queue.put(None)
    finally:
        if own:
            await http.aclose()
