"""QC pictures drawn with Pillow: image panels in millimetres, tinted masks, outlines, lines and text.

Pillow imports in a hundredth of a second; matplotlib took half a second of every per-scan job that drew a picture
(a third of a body-composition job's CPU, issue 16). A picture is a :class:`Canvas` of panels: each panel shows a 2-D
array (rows x columns, with the millimetres of a row and of a column) fitted into its box at the true aspect ratio,
and places text, lines and outlines at array coordinates.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from wbrad.io import atomic_path

Colour = tuple[int, int, int]
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
TITLE_PX = 13  # matplotlib's 9 pt at 100 dpi, the pictures' former look
LABEL_PX = 10


@cache
def font(size_px: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at ``size_px`` pixels, the font matplotlib ships (found without importing it), else Pillow's."""
    spec = find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "mpl-data/fonts/ttf/DejaVuSans.ttf"
        if path.is_file():
            return ImageFont.truetype(str(path), size_px)
    return ImageFont.load_default(size=size_px)


def grey(values: np.ndarray, window: tuple[float, float], invert: bool = False) -> np.ndarray:
    """RGB uint8 of ``values`` clipped to ``window`` (low black, high white; ``invert``: high black)."""
    low, high = window
    level = np.clip((np.asarray(values, float) - low) / (high - low), 0.0, 1.0)
    level = 1.0 - level if invert else level
    return np.repeat(np.round(level * 255).astype(np.uint8)[..., None], 3, axis=-1)


def tint(rgb: np.ndarray, mask: np.ndarray, colour: Colour, alpha: float) -> np.ndarray:
    """``rgb`` with ``colour`` blended over ``mask``'s pixels at opacity ``alpha``."""
    out = rgb.astype(float)
    out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(colour, float)
    return np.round(out).astype(np.uint8)


def edge(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` with a 4-neighbour outside it: its outline, one pixel wide."""
    inner = np.pad(mask, 1, constant_values=False)
    core = inner[1:-1, 1:-1] & inner[:-2, 1:-1] & inner[2:, 1:-1] & inner[1:-1, :-2] & inner[1:-1, 2:]
    return mask & ~core


@dataclass(frozen=True)
class Panel:
    """Where one array lies on the canvas: its top-left pixel, its size in pixels, the array's rows and columns, and
    whether row 0 is drawn at the bottom (``lower``: z upwards in a coronal view)."""

    left: int
    top: int
    width: int
    height: int
    rows: int
    cols: int
    lower: bool

    def at(self, row: float, col: float) -> tuple[float, float]:
        """The canvas pixel (x, y) of array coordinates (row, column), voxel centres at integer coordinates."""
        r = self.rows - 1 - row if self.lower else row
        return self.left + (col + 0.5) * self.width / self.cols, self.top + (r + 0.5) * self.height / self.rows

    def shown(self, array: np.ndarray) -> np.ndarray:
        """``array`` (rows x columns) as drawn: flipped when row 0 is at the bottom."""
        return array[::-1] if self.lower else array


class Canvas:
    """A white picture of ``width`` x ``height`` pixels divided into ``columns`` x ``rows`` equal boxes, each with a
    title line above its panel."""

    def __init__(self, width: int, height: int, columns: int = 1, rows: int = 1, title_px: int = TITLE_PX):
        self.image = Image.new("RGB", (width, height), WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.box = (width / columns, height / rows)
        self.columns = columns
        self.title_px = title_px

    def panel(self, index: int, rgb: np.ndarray, mm: tuple[float, float], title: str = "",
              lower: bool = False, title_chars: int | None = None) -> Panel:
        """Show ``rgb`` (rows x columns x 3) in box ``index`` (row-major) at ``mm`` (a row's and a column's
        millimetres), as large as fits below the title; a title longer than ``title_chars`` is wrapped smaller."""
        bw, bh = self.box
        x0, y0 = (index % self.columns) * bw, (index // self.columns) * bh
        size = self.title_px
        lines = [title]
        if title_chars and len(title) > title_chars:
            size, lines = round(self.title_px * 0.72), textwrap.wrap(title, title_chars + 10)
        head = (len(lines) * (size + 2) + 6) if title else 4
        rows, cols = rgb.shape[:2]
        height_mm, width_mm = rows * mm[0], cols * mm[1]
        scale = min((bw - 8) / width_mm, (bh - head - 4) / height_mm)  # pixels per mm
        w, h = max(1, round(width_mm * scale)), max(1, round(height_mm * scale))
        placed = Panel(round(x0 + (bw - w) / 2), round(y0 + head + (bh - head - 4 - h) / 2), w, h, rows, cols, lower)
        picture = Image.fromarray(np.ascontiguousarray(placed.shown(rgb))).resize((w, h), Image.Resampling.BILINEAR)
        self.image.paste(picture, (placed.left, placed.top))
        for k, line in enumerate(lines):
            self.draw.text((x0 + bw / 2, y0 + 3 + k * (size + 2)), line, fill=BLACK, font=font(size), anchor="ma")
        return placed

    def outline(self, panel: Panel, mask: np.ndarray, colour: Colour, dashed: bool = False) -> None:
        """Draw ``mask``'s outline (array coordinates of ``panel``) one pixel wide in ``colour`` (``dashed``: in
        dashes of 4 pixels)."""
        scaled = Image.fromarray(panel.shown(np.asarray(mask, np.uint8) * 255)).resize(
            (panel.width, panel.height), Image.Resampling.NEAREST)
        pixels = edge(np.asarray(scaled) > 0)
        if dashed:
            y, x = np.indices(pixels.shape)
            pixels &= (x + y) // 4 % 2 == 0
        line = Image.fromarray(pixels.astype(np.uint8) * 255)
        self.image.paste(colour, (panel.left, panel.top, panel.left + panel.width, panel.top + panel.height), line)

    def text(self, panel: Panel, row: float, col: float, text: str, colour: Colour, size_px: int = LABEL_PX,
             anchor: str = "mm") -> None:
        """Write ``text`` at array coordinates (Pillow ``anchor``: "mm" centred, "lm" left, "rm" right)."""
        self.draw.text(panel.at(row, col), text, fill=colour, font=font(size_px), anchor=anchor)

    def hline(self, panel: Panel, row: float, cols: int, colour: Colour) -> None:
        """A horizontal line across ``panel`` through array row ``row``."""
        (x0, y), (x1, _) = panel.at(row, -0.5), panel.at(row, cols - 0.5)
        self.draw.line((x0, y, x1, y), fill=colour, width=1)

    def save(self, path: str | Path) -> None:
        """Write the PNG atomically, with its integrity record."""
        with atomic_path(path) as tmp:
            self.image.save(tmp, format="png")
