"""Parts of the fetch engine that the runs against the loopback server do not single out:
the keeping threads and the look for files kept by an earlier run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fieldguide.errors import InputError
from fieldguide.photos import files
from fieldguide.photos.client import Keepers


def _square(x: int) -> int:
    if x == 13:
        raise InputError("refused on purpose")
    return x * x


def test_keepers_hand_back_every_result_and_error_to_its_own_caller() -> None:
    async def run() -> tuple[list[object], Keepers]:
        keepers = Keepers(2)
        try:
            results = await asyncio.gather(*(keepers.run(_square, i) for i in range(300)),
                                           return_exceptions=True)
        finally:
            keepers.close()
        return results, keepers

    results, keepers = asyncio.run(run())
    assert [r for i, r in enumerate(results) if i != 13] == [i * i for i in range(300) if i != 13]
    assert isinstance(results[13], InputError) and results[13].reason == "refused on purpose"
    assert not any(thread.is_alive() for thread in keepers.threads)


def test_a_shard_folder_made_during_the_run_is_not_searched(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    files.prepare(root)
    at_start = files.shard_folders(root)
    assert at_start == frozenset()  # .tmp is not a shard folder
    kept = root / files.shard("p1") / "p1.jpg"
    kept.parent.mkdir()
    kept.write_bytes(b"not looked at")
    assert files.on_disk(root, "p1", at_start) is None
    assert files.on_disk(root, "p1", files.shard_folders(root)) == kept
    assert files.on_disk(root, "p1") == kept
