"""Fetching many photos politely: one async HTTP client (aiohttp: a pool of keep-alive
connections per host, as many as the concurrency), bounded concurrency, a per-host rate limit,
and retries with exponential backoff and jitter. Each body is stopped at the size cap as it
arrives; a small one stays in memory, a large one streams to a scratch file (hashed on the
way); either is hashed if need be, checked and put in place (renamed, never half-written): a
small photo on the event loop itself, a large one by a keeping thread.

Why aiohttp: with httpx 0.28 at concurrency 32, 1,000 photos on loopback spent 8.0 of 13.4 s
of the event loop in httpcore's connection pool (each request scans every connection, and
each lock asks again which async library runs, a failed import every time); the fetch got
slower with more connections (issue 27, docs/benchmarks.md).

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
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from queue import SimpleQueue
from types import TracebackType
from typing import Any, BinaryIO, Literal, TypeVar
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from yarl import URL

import fieldguide.photos.files as files
from fieldguide import __version__
from fieldguide.errors import InputError
from fieldguide.photos.urls import refusal

USER_AGENT = f"fieldguide/{__version__} (community-science photo fetcher)"
FINAL_STATUS = {403: "forbidden", 404: "not found", 410: "gone"}
Status = Literal["fetched", "there", "retry", "failed"]
#: The Accept header each kind of :class:`Job` sends (issue 28: a recording asks for audio).
ACCEPT = {"photo": "image/*", "sound": "audio/*"}
T = TypeVar("T")
_Call = tuple["asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


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
    """One file to fetch. ``kind`` is "photo" (checked by ``files.CHECKS``) or "sound": a
    recording, checked by ``fieldguide.sound.keep.keep_recording``."""

    photo_id: str
    url: str
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


class Client:
    """One HTTP session for a run: keep-alive connections pooled per host (at most
    ``options.concurrency`` to one host), redirects followed (at most 5; none with
    ``redirects=False``, where a redirect could lead off an allowed host), an HTTP proxy from
    the standard variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) and the system's CA bundle
    (SSL_CERT_FILE). A timeout is time without progress (connecting, or between two reads),
    not a cap on a whole download. Use it as ``async with``.

    The proxy is looked up here, once per host: aiohttp's own ``trust_env`` reads the
    environment and ``~/.netrc`` again on a worker thread for every request, two thread
    hand-offs a photo."""

    def __init__(self, options: FetchOptions, redirects: bool = True) -> None:
        connector = aiohttp.TCPConnector(limit=options.concurrency,
                                         limit_per_host=options.concurrency)
        self.redirects = redirects
        # No cookie jar: nothing fetched needs cookies, and none should pass between hosts.
        self.session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=options.timeout,
                                          sock_read=options.timeout),
            headers={"User-Agent": USER_AGENT, "Accept": ACCEPT["photo"],
                     "Accept-Encoding": "identity"})
        self._proxies = {k: v for k, v in getproxies().items() if k in ("http", "https")}
        self._proxy: dict[tuple[str, str], tuple[URL | None, aiohttp.BasicAuth | None]] = {}

    def proxy(self, url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy (and its credentials) for ``url``'s scheme and host, or (None, None)."""
        parts = urlsplit(url)
        key = (parts.scheme.lower(), (parts.hostname or "").lower())
        if key not in self._proxy:
            found = self._proxies.get(key[0])
            if not found or not key[1] or proxy_bypass(key[1]):
                self._proxy[key] = (None, None)
            else:
                address = URL(found)
                self._proxy[key] = (address.with_user(None), aiohttp.BasicAuth.from_url(address))
        return self._proxy[key]

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self.session.close()


def make_client(options: FetchOptions, redirects: bool = True) -> Client:
    """The one client of a run (created inside the event loop that uses it)."""
    return Client(options, redirects)


async def _stream(client: Client, url: str, max_bytes: int, write: Callable[[bytes], object],
                  accept: str = ACCEPT["photo"]) -> int:
    """GET ``url`` and hand each piece of a 200 answer's body to ``write``; the bytes
    received. Checked against Content-Length and the size cap as it comes."""
    got = 0
    try:
        proxy, proxy_auth = client.proxy(url)
        # The session's headers ask for a photo; another kind's Accept costs a header merge.
        headers = None if accept == ACCEPT["photo"] else {"Accept": accept}
        async with client.session.get(url, allow_redirects=client.redirects, max_redirects=5,
                                      proxy=proxy, proxy_auth=proxy_auth,
                                      headers=headers) as response:
            code = response.status
            if code != 200:
                hint = retry_after(response.headers.get("Retry-After"))
                name = FINAL_STATUS.get(code, "")
                reason = f"http {code}{f' {name}' if name else ''}"
                raise _Failure(reason, code == 429 or code >= 500, hint)
            expected = response.content_length
            if expected is not None and expected > max_bytes:
                raise _Failure(f"over the size cap ({expected:,} > {max_bytes:,} bytes)", False)
            async for chunk in response.content.iter_any():
                got += len(chunk)
                if got > max_bytes:
                    raise _Failure(f"over the size cap (> {max_bytes:,} bytes)", False,
                                   wire_bytes=got)
                write(chunk)
            if expected is not None and got < expected:
                raise _Failure(f"truncated body ({got:,} of {expected:,} bytes)", True,
                               wire_bytes=got)
            return got
    except aiohttp.TooManyRedirects:
        raise _Failure("too many redirects", False, wire_bytes=got) from None
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        raise _Failure(f"refused URL (redirect?): {exc}", False) from None
    except aiohttp.ClientPayloadError:
        raise _Failure("truncated body", True, wire_bytes=got) from None
    except TimeoutError as exc:  # aiohttp's are TimeoutErrors too
        raise _Failure(f"timeout ({type(exc).__name__})", True, wire_bytes=got) from None
    except aiohttp.ClientResponseError as exc:
        raise _Failure(f"protocol error: {exc.message[:80]}", True, wire_bytes=got) from None
    except aiohttp.ClientError as exc:
        raise _Failure(f"connection error ({type(exc).__name__})", True,
                       wire_bytes=got) from None


async def download(client: Client, url: str, max_bytes: int) -> bytes | str:
    """One GET into memory, no retries (the service's batch of URLs): the body, or why there
    is none (a redirect not followed is a refusal)."""
    refused = refusal(url)
    if refused:
        return refused
    body = bytearray()
    try:
        await _stream(client, url, max_bytes, body.extend)
    except _Failure as failure:
        reason = failure.reason
        return f"{reason} (redirects are not followed)" if reason.startswith("http 3") \
            else reason
    return bytes(body)


#: A body up to this size is kept in memory while it arrives (at most this much per download
#: at once); a larger one streams to its scratch file. Creating a file costs the event loop
#: a system call that, with checks busy on other threads, waits for the interpreter lock.
SPOOL_BYTES = 2**20


class _Body:
    """A body as it arrives: in memory up to :data:`SPOOL_BYTES`, then in the photo's scratch
    file, hashed on the way. A body kept in memory is hashed whole when it is kept (by a
    keeping thread for a large one: hashing more than 2 KiB lets go of the interpreter lock,
    and the loop would then wait to get it back from a thread that is checking a photo)."""

    def __init__(self, root: Path, photo_id: str) -> None:
        self.root, self.photo_id = root, photo_id
        self.part: Path | None = None  # named when the body outgrows memory
        self.digest: hashlib._Hash | None = None  # from then on
        self.memory = bytearray()
        self.file: BinaryIO | None = None

    def write(self, chunk: bytes) -> None:
        if self.file is None and len(self.memory) + len(chunk) <= SPOOL_BYTES:
            self.memory += chunk
            return
        if self.file is None:
            self.part = files.scratch(self.root, self.photo_id)
            self.file = self.part.open("wb")
            self.file.write(self.memory)
            self.digest = hashlib.sha256(self.memory)
            self.memory = bytearray()
        assert self.digest is not None
        self.digest.update(chunk)
        self.file.write(chunk)

    def sha256(self) -> str | None:
        """The hash of a body that went to its scratch file (None: one in memory)."""
        return None if self.digest is None else self.digest.hexdigest()

    def done(self) -> bytes | Path:
        """The whole body: its bytes, or its scratch file (closed)."""
        if self.file is None or self.part is None:
            return bytes(self.memory)
        self.file.close()
        return self.part

    def discard(self) -> None:
        """Remove the scratch file if there is one and it was not kept (renamed)."""
        if self.file is not None and self.part is not None:
            self.file.close()
            self.part.unlink(missing_ok=True)


#: A photo (not a recording) up to this size is checked and put in place on the event loop
#: (its check, a JPEG decoded at its smallest scale, took 0.13 ms at 10 KiB, 0.7 ms at 70
#: KiB and 1.1 ms at 100 KiB); a larger one on a keeping thread. Handing a photo to a thread
#: cost more than keeping it: 10 KiB photos at 32 connections took 0.57 ms of CPU a photo
#: here against 0.89-1.09 with every photo handed over (wake-ups and the interpreter lock
#: passed back and forth), the rates within each other's noise (issue 27, docs/benchmarks.md).
KEEP_ON_LOOP_BYTES = 128 * 2**10

#: Threads that check and put in place large photos (and look at files already there): two
#: use the second core while the loop talks HTTP; more help only on a machine with the cores.
KEEPING_THREADS = max(2, min(8, os.cpu_count() or 1))


class Keepers:
    """Threads that check downloaded bodies and put them in place, off the event loop.

    Leaner than ``asyncio.to_thread`` (about 50 us of the loop's CPU a call: a context copy,
    an executor future wrapped in an asyncio one, a wake-up of the loop per result): a job is
    one put on a queue, and results come back to the loop in batches, one wake-up for all
    that finished while it was busy. Pillow decodes with the interpreter lock released, so
    checks on two threads use two cores."""

    def __init__(self, threads: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.inbox: SimpleQueue[_Call | None] = SimpleQueue()
        self.finished: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, name=f"fetch-keep-{i}", daemon=True)
                        for i in range(threads)]
        for thread in self.threads:
            thread.start()

    def run(self, call: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """``call(*args)`` on a keeping thread; its result (or exception) on the loop."""
        future: asyncio.Future[T] = self.loop.create_future()
        self.inbox.put((future, call, args))
        return future

    def _work(self) -> None:
        while (item := self.inbox.get()) is not None:
            future, call, args = item
            try:
                result, error = call(*args), None
            except BaseException as exc:  # handed to the awaiting task, which decides
                result, error = None, exc
            with self.lock:
                wake = not self.finished
                self.finished.append((future, result, error))
            if wake:
                try:
                    self.loop.call_soon_threadsafe(self._deliver)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    return

    def _deliver(self) -> None:
        with self.lock:
            finished, self.finished = self.finished, []
        for future, result, error in finished:
            if future.done():  # its task was cancelled
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    def close(self) -> None:
        """Let the threads finish what they hold and end (at the end of a run, when nothing
        else waits on the loop)."""
        for _ in self.threads:
            self.inbox.put(None)
        for thread in self.threads:
            thread.join()


async def fetch_one(client: Client, job: Job, root: Path, options: FetchOptions,
                    limiter: HostLimiter, rng: random.Random, keepers: Keepers,
                    folders: Container[str] | None = None) -> Outcome:
    """One file, start to finish; never raises for anything the server or file does. A large
    file's check and putting in place run on ``keepers``' threads, a small photo's here.
    ``folders``: the shard folders there were under ``root`` when the run began (None: look
    in every one for a file an earlier run kept)."""
    refused = refusal(job.url)
    if refused:
        return Outcome(job.photo_id, "failed", refused)
    found = files.on_disk(root, job.photo_id, folders)
    if found is not None:
        try:
            kept = await keepers.run(files.describe, found, job.kind, options.max_bytes)
            return Outcome(job.photo_id, "there", kept=kept)
        except InputError:
            found.unlink(missing_ok=True)  # not a file we would keep: fetch it again
    wire = 0
    for attempt in range(options.retries + 1):
        await limiter.wait(job.url)
        body = _Body(root, job.photo_id)
        try:
            try:
                size = await _stream(client, job.url, options.max_bytes, body.write,
                                     ACCEPT.get(job.kind, ACCEPT["photo"]))
            except _Failure as failure:
                wire += failure.wire_bytes
                if not failure.retryable:
                    return Outcome(job.photo_id, "failed", failure.reason, tries=attempt + 1,
                                   wire_bytes=wire)
                delay = backoff_delay(attempt, options, failure.retry_after, rng)
                if attempt == options.retries or delay > options.max_wait:
                    return Outcome(job.photo_id, "retry", failure.reason, tries=attempt + 1,
                                   wire_bytes=wire)
                await asyncio.sleep(delay)
                continue
            wire += size
            whole = body.done()
            try:
                if (job.kind == "photo" and isinstance(whole, bytes)
                        and len(whole) <= KEEP_ON_LOOP_BYTES):
                    kept = _keep(job, whole, root, options, None, size)
                else:
                    kept = await keepers.run(_keep, job, whole, root, options, body.sha256(),
                                             size)
            except InputError as exc:
                return Outcome(job.photo_id, "failed", exc.reason, tries=attempt + 1,
                               wire_bytes=wire)
            return Outcome(job.photo_id, "fetched", kept=kept, tries=attempt + 1,
                           wire_bytes=wire)
        finally:
            body.discard()
    raise AssertionError("unreachable: the last try returns")


def _keep(job: Job, body: bytes | Path, root: Path, options: FetchOptions,
          sha256: str | None, file_bytes: int) -> files.Kept:
    """Check a downloaded body and put it in place (on the loop, or a keeping thread): a
    photo through ``files.keep`` (its kind's check in ``files.CHECKS``), a recording through
    the one audio path (issue 28), which takes the bytes (a large one is read back from its
    scratch file, which the caller then removes)."""
    if job.kind == "sound":
        from fieldguide.sound.keep import keep_recording

        data = body if isinstance(body, bytes) else body.read_bytes()
        return keep_recording(data, job.photo_id, root, options.max_bytes)
    # A body that stayed in memory is hashed here, one that streamed was as it came (_Body).
    digest = hashlib.sha256(body).hexdigest() if isinstance(body, bytes) else sha256
    if digest is None:
        raise AssertionError("a body streamed to its scratch file is hashed on the way")
    return files.keep(body, job.photo_id, root, kind=job.kind, max_bytes=options.max_bytes,
                      sha256=digest, file_bytes=file_bytes)


async def fetch_many(jobs: Iterable[Job], root: Path, options: FetchOptions,
                     on_outcome: Callable[[Outcome], None], *,
                     client: Client | None = None, seed: int | None = None) -> None:
    """Fetch every job into ``root`` with ``options.concurrency`` workers; ``on_outcome`` is
    called (on the event loop) as each photo ends. Jobs are pulled lazily, so memory stays
    flat however many there are."""
    rng = random.Random(seed)
    limiter = HostLimiter(options.rate)
    queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=2 * options.concurrency)
    own = client is None
    http = client or Client(options)

    folders = files.shard_folders(root)
    keepers = Keepers(KEEPING_THREADS)

    async def worker() -> None:
        while (job := await queue.get()) is not None:
            on_outcome(await fetch_one(http, job, root, options, limiter, rng, keepers, folders))

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
        keepers.close()
        if own:
            await http.close()
