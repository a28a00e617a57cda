"""A tiny report document rendered twice, as Markdown (PNG files beside it) and as one
self-contained HTML file (PNGs embedded as base64), so both say exactly the same thing."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

Cell = str | int | float | None


def fmt(value: Cell, digits: int = 3) -> str:
    """A table cell: floats rounded (tiny ones, such as p-values, in scientific notation),
    ``None`` as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2e}" if 0 < abs(value) < 10**-digits else f"{value:.{digits}f}"
    return str(value)


@dataclass
class Document:
    """Blocks in order: ("h", text), ("p", text), ("table", header, rows), ("img", file)."""

    title: str
    blocks: list[tuple[object, ...]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h", text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        self.blocks.append(("table", list(header), [[fmt(c) for c in r] for r in rows]))

    def image(self, path: Path, caption: str) -> None:
        self.blocks.append(("img", path, caption))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, *rest in self.blocks:
            if kind == "h":
                out += [f"## {rest[0]}", ""]
            elif kind == "p":
                out += [str(rest[0]), ""]
            elif kind == "table":
                header, rows = rest
                assert isinstance(header, list) and isinstance(rows, list)
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "---|" * len(header))
                out += ["| " + " | ".join(r) + " |" for r in rows]
                out.append("")
            else:
                path, caption = rest
                assert isinstance(path, Path)
                out += [f"![{caption}]({path.name})", ""]
        return "\n".join(out)

    def html(self) -> str:
        esc = html.escape
        out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
               f"<title>{esc(self.title)}</title>", f"<style>{_CSS}</style></head><body>",
               f"<h1>{esc(self.title)}</h1>"]
        for kind, *rest in self.blocks:
            if kind == "h":
                out.append(f"<h2>{esc(str(rest[0]))}</h2>")
            elif kind == "p":
                out.append(f"<p>{esc(str(rest[0]))}</p>")
            elif kind == "table":
                header, rows = rest
                assert isinstance(header, list) and isinstance(rows, list)
                out.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header)
                           + "</tr>")
                out += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>"
                        for r in rows]
                out.append("</table>")
            else:
                path, caption = rest
                assert isinstance(path, Path)
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                out.append(f'<figure><img alt="{esc(str(caption))}" '
                           f'src="data:image/png;base64,{data}"><figcaption>{esc(str(caption))}'
                           "</figcaption></figure>")
        out.append("</body></html>")
        return "\n".join(out)

    def write(self, out_dir: Path, stem: str) -> dict[str, Path]:
        """Write ``stem.md`` and ``stem.html`` into ``out_dir``."""
        md = out_dir / f"{stem}.md"
        page = out_dir / f"{stem}.html"
        md.write_text(self.markdown(), encoding="utf-8")
        page.write_text(self.html(), encoding="utf-8")
        return {"markdown": md, "html": page}


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:2px 8px;text-align:right}th{background:#eee}img{max-width:100%}")
