"""Micro-batching: crops of concurrent requests gathered (up to ``max_batch`` rows or
``wait_s``) into one ONNX call, since a batch of 32 costs far less than 32 calls of one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

Run = Callable[[np.ndarray], dict[str, np.ndarray]]


class Full(Exception):
    """The queue is at its bound: the caller answers 503 with Retry-After."""


class Batcher:
    """One worker task draining a bounded queue; ``submit`` awaits its rows' outputs."""

    def __init__(self, run: Run, max_batch: int = 32, wait_s: float = 0.004,
                 max_queue: int = 256, on_batch: Callable[[int], None] | None = None) -> None:
        self.run, self.max_batch, self.wait_s = run, max_batch, wait_s
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future[dict[str, np.ndarray]]]]
        self.queue = asyncio.Queue(max_queue)
        self.on_batch = on_batch
        self.task: asyncio.Task[None] | None = None

    def depth(self) -> int:
        return self.queue.qsize()

    async def submit(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._work())
        fut: asyncio.Future[dict[str, np.ndarray]] = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait((crops, fut))
        except asyncio.QueueFull:
            raise Full from None
        return await fut

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _drain(self, items: list[tuple[np.ndarray, asyncio.Future[dict[str, np.ndarray]]]],
               rows: int) -> int:
        """Move what is already queued into ``items`` while the batch has room."""
        while rows < self.max_batch and not self.queue.empty():
            item = self.queue.get_nowait()
            items.append(item)
            rows += len(item[0])
        return rows

    async def _work(self) -> None:
        while True:
            items = [await self.queue.get()]
            rows = self._drain(items, len(items[0][0]))
            if rows < self.max_batch and self.wait_s > 0:
                # One timer per batch: a wait_for per gathered request made a task each, on
                # the event loop that also parses every upload.
                await asyncio.sleep(self.wait_s)
                rows = self._drain(items, rows)
            items = [(c, f) for c, f in items if not f.done()]  # timed-out callers
            if not items:
                continue
            if self.on_batch:
                self.on_batch(rows)
            try:
                out = await asyncio.to_thread(self.run, np.concatenate([c for c, _ in items]))
            except Exception as exc:  # the model failed: every waiting request learns why
                for _, f in items:
                    f.set_exception(exc)
                continue
            start = 0
            for crops, f in items:
                n = len(crops)
                if not f.done():
                    f.set_result({k: v[start:start + n] for k, v in out.items()})
                start += n
