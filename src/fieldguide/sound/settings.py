"""What a sound model's card says about its recordings: ``model.json``'s ``extras["sound"]``.

A sound model is an ordinary model folder (``model.json`` + ``model.onnx``) whose card carries
this section: the kind of model, the sample rate recordings are resampled to, the window
length and hop (how recordings are cut), and, for the mel-spectrogram kind, how each window
becomes an image. Identification reads it back, so a model is always fed as it was trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fieldguide.errors import InputError

KEY = "sound"
#: ``mel``: log-mel spectrograms through an image backbone; ``birdnet-probe``: heads on
#: BirdNET V2.4 embeddings (the model folder holds only the heads).
KINDS = ("mel", "birdnet-probe")


@dataclass(frozen=True)
class MelSettings:
    """A window as a log-mel spectrogram image: ``n_fft``-sample frames every ``hop``
    samples, ``n_mels`` bands from ``fmin`` to ``fmax`` Hz, decibels from the window's loudest
    value down to ``top_db`` below it mapped to 255..0 (quiet windows are not lost to the
    scale), low frequencies at the bottom, as a sonogram is drawn."""

    n_fft: int = 1024
    hop: int = 320
    n_mels: int = 128
    fmin: float = 50.0
    fmax: float = 14_000.0
    top_db: float = 80.0


@dataclass(frozen=True)
class SoundSettings:
    """The ``sound`` section of a card (see module doc). The default is the mel kind at
    32 kHz with 5-s windows every 2.5 s (the habit of open bird-sound challenge solutions)."""

    kind: str = "mel"
    sample_rate: int = 32_000
    window_s: float = 5.0
    hop_s: float = 2.5
    mel: MelSettings = MelSettings()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.kind != "mel":
            d.pop("mel")
        return d

    @classmethod
    def from_dict(cls, d: Any, where: Path | None = None) -> SoundSettings:
        """A validated section; every refusal names the key that is wrong."""
        key = f"extras.{KEY}"
        if not isinstance(d, dict):
            raise InputError("must be a mapping", path=where, field=key)
        kind = d.get("kind")
        if kind not in KINDS:
            raise InputError(f"kind {kind!r} is not one of {', '.join(KINDS)}", path=where,
                             field=f"{key}.kind")
        try:
            rate, window, hop = int(d["sample_rate"]), float(d["window_s"]), float(d["hop_s"])
            mel = _mel(d["mel"]) if kind == "mel" else MelSettings()
        except KeyError as exc:
            raise InputError("missing key", path=where, field=f"{key}.{exc.args[0]}") from None
        except (TypeError, ValueError, OverflowError):
            raise InputError("sample_rate, window_s, hop_s and the mel settings must be "
                             "numbers", path=where, field=key) from None
        checks = [("sample_rate", 4_000 <= rate <= 768_000, "in 4000..768000 Hz"),
                  ("window_s", 0.05 <= window <= 60, "in [0.05, 60] s"),
                  ("hop_s", 0 < hop <= window, "in (0, window_s]"),
                  ("mel.n_fft", 16 <= mel.n_fft <= 65_536, "in 16..65536"),
                  ("mel.hop", 1 <= mel.hop <= mel.n_fft, "in 1..n_fft"),
                  ("mel.n_mels", 4 <= mel.n_mels <= 1024, "in 4..1024"),
                  ("mel.fmax", 0 <= mel.fmin < mel.fmax <= rate / 2,
                   "above fmin and at most half the sample rate"),
                  ("mel.top_db", 1 <= mel.top_db <= 200, "in [1, 200] dB")]
        for name, ok, what in checks:
            if not ok:
                raise InputError(f"must be {what}", path=where, field=f"{key}.{name}")
        return cls(str(kind), rate, window, hop, mel)


def _mel(d: Any) -> MelSettings:
    if not isinstance(d, dict):
        raise TypeError("mel must be a mapping")
    return MelSettings(int(d["n_fft"]), int(d["hop"]), int(d["n_mels"]), float(d["fmin"]),
                       float(d["fmax"]), float(d["top_db"]))
