"""Reading members of a zip archive without trusting it.

- A member is named relative to the archive: an absolute name, a drive, a backslash or a
  ``..`` step is refused (the same rule applies to meta.xml's file locations, see
  :func:`inside`), so nothing outside the archive (or its folder) is ever read.
- Only the members asked for are extracted, each streamed with a byte count: the sizes a zip
  declares are checked first (member count, per-member and total size, compression ratio) and
  then enforced while writing, since a crafted header can lie about them.
- Compression methods zipfile cannot read (Deflate64, PPMd, ...) and encrypted members are
  named in the error instead of surfacing as NotImplementedError or RuntimeError.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fieldguide.errors import InputError

_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
_UNSUPPORTED = {9: "Deflate64", 6: "implode", 97: "WavPack", 98: "PPMd", 93: "zstd", 95: "xz",
                99: "AES encryption"}


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive may hold. GBIF downloads compress 10-30x; a zip bomb, 1000x."""

    max_members: int = 10_000
    max_member_bytes: int = 32 * 2**30
    max_total_bytes: int = 64 * 2**30
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 2**20  # tiny members compress absurdly well and harm nobody


LIMITS = ArchiveLimits()


def safe_member_name(name: str, path: str | Path | None = None, field: str | None = None) -> str:
    """``name`` as a normalised relative POSIX path inside an archive, or InputError."""
    if not name or "\x00" in name:
        raise InputError("empty file name or NUL byte in a file name", path=path, field=field)
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise InputError(
            f"file location {name!r} points outside the archive (an absolute or non-POSIX "
            "path); archive members are named relative to the archive",
            path=path,
            field=field,
        )
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if any(p == ".." for p in parts) or not parts:
        raise InputError(
            f"file location {name!r} points outside the archive", path=path, field=field
        )
    return "/".join(parts)


def inside(root: Path, name: str, path: str | Path | None = None, field: str | None = None) -> Path:
    """``root / name`` for a member name that stays inside ``root`` (symlinks resolved too)."""
    target = root / safe_member_name(name, path, field)
    real_root = root.resolve()
    if not target.resolve().is_relative_to(real_root):
        raise InputError(
            f"file location {name!r} resolves outside the archive (a symbolic link?)",
            path=path,
            field=field,
        )
    return target


class ZipReader:
    """A zip archive opened for checked extraction (use as a context manager)."""

    def __init__(self, path: str | Path, limits: ArchiveLimits = LIMITS) -> None:
        from fieldguide.inputs.files import regular_file

        self.path = regular_file(path, what="archive")
        self.limits = limits
        try:
            self.zip = zipfile.ZipFile(self.path)
        except zipfile.BadZipFile:
            raise InputError("not a zip archive (nor a folder)", path=self.path) from None
        except (OSError, EOFError) as exc:
            raise InputError(f"unreadable archive: {exc}", path=self.path) from None
        infos = self.zip.infolist()
        if len(infos) > limits.max_members:
            self.zip.close()
            raise InputError(
                f"{len(infos):,} members is over the limit of {limits.max_members:,}",
                path=self.path,
            )
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.is_dir():
                continue
            try:
                self.members[safe_member_name(info.filename, self.path)] = info
            except InputError:
                continue  # a member nobody can name safely is never extracted
        total = sum(i.file_size for i in self.members.values())
        if total > limits.max_total_bytes:
            self.zip.close()
            raise InputError(
                f"archive would expand to {total:,} bytes, over the limit of "
                f"{limits.max_total_bytes:,}",
                path=self.path,
            )

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()

    def names(self) -> list[str]:
        return list(self.members)

    def _check(self, name: str, info: zipfile.ZipInfo) -> None:
        where = f"member {name!r}"
        if info.flag_bits & 0x1:
            raise InputError(f"{where} is encrypted; fieldguide reads only unencrypted archives",
                             path=self.path)
        if info.compress_type not in _METHODS:
            method = _UNSUPPORTED.get(info.compress_type, f"method {info.compress_type}")
            raise InputError(
                f"{where} is compressed with {method}, which fieldguide cannot read; "
                "re-zip the archive with ordinary deflate (e.g. `zip -r`)",
                path=self.path,
            )
        lim = self.limits
        if info.file_size > lim.max_member_bytes:
            raise InputError(f"{where} is {info.file_size:,} bytes, over the limit of "
                             f"{lim.max_member_bytes:,}", path=self.path)
        if (info.file_size > lim.ratio_floor_bytes
                and info.file_size > lim.max_ratio * max(info.compress_size, 1)):
            raise InputError(
                f"{where} expands {info.file_size / max(info.compress_size, 1):,.0f}x "
                f"(limit {lim.max_ratio:.0f}x): refused as a possible zip bomb",
                path=self.path,
            )

    def extract(self, name: str, dest: Path, field: str | None = None) -> Path:
        """Write member ``name`` under ``dest`` (same relative path) and return where."""
        key = safe_member_name(name, self.path, field)
        info = self.members.get(key)
        if info is None:
            raise InputError(f"member {name!r} is not in the archive", path=self.path,
                             field=field)
        self._check(key, info)
        target = dest / key
        target.parent.mkdir(parents=True, exist_ok=True)
        cap = min(info.file_size, self.limits.max_member_bytes)
        written = 0
        try:
            with self.zip.open(info) as src, target.open("wb") as out:
                while block := src.read(1 << 20):
                    written += len(block)
                    if written > cap:
                        raise InputError(
                            f"member {key!r} holds more than the {cap:,} bytes its header "
                            "declares: refused (damaged or crafted archive)",
                            path=self.path,
                        )
                    out.write(block)
        except zipfile.BadZipFile as exc:
            raise InputError(f"member {key!r} is damaged: {exc}", path=self.path) from None
        except (NotImplementedError, RuntimeError) as exc:
            raise InputError(f"member {key!r} cannot be read: {exc}", path=self.path) from None
        except (EOFError, ValueError) as exc:
            raise InputError(f"member {key!r} is truncated: {exc}", path=self.path) from None
        return target
