"""Tray icons drawn with Pillow at run time, one per (state, health, theme, level, size).

Drawing instead of shipping PNGs keeps every combination (4 states x 4 health badges x
2 themes x 11 level steps x any size) consistent and lets tests check pixels. Each icon is
a filled disc in the state's colour inside a ring in the theme's contrast colour, so it
stays readable on light and dark panels; the glyph inside tells states apart even for
colour-blind users. Pure: no I/O, results cached by key.
"""
from __future__ import annotations

import enum
import functools
import os
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw

RGB = tuple[int, int, int]
LEVEL_STEPS = 10  # the level is quantised so the cache stays small and redraws are rare
_SUPERSAMPLE = 4  # draw large, then downscale: smooth edges at 16 px


class Health(str, enum.Enum):
    """Engine health shown as a badge beside the state (design: loading/degraded/failed)."""

    OK = "ok"
    LOADING = "loading"
    DEGRADED = "degraded"
    FAILED = "failed"


STATE_COLOURS: dict[str, RGB] = {
    "listening": (229, 57, 53),  # red: the microphone is open
    "thinking": (255, 179, 0),  # amber
    "speaking": (30, 136, 229),  # blue
}
BADGE_COLOURS: dict[Health, RGB] = {
    Health.LOADING: (3, 169, 244),  # light blue
    Health.DEGRADED: (255, 109, 0),  # orange
    Health.FAILED: (213, 0, 0),  # red
}
LEVEL_COLOUR: RGB = (118, 255, 3)  # bright green meter, visible on the red disc
# Typical panel backgrounds; "light"/"dark" name the panel, not the icon.
PANEL_COLOURS: dict[str, RGB] = {"light": (242, 242, 242), "dark": (34, 34, 34)}
# The ring (and the idle disc) in the colour that contrasts with the panel.
_CONTRAST: dict[str, RGB] = {"light": (33, 33, 33), "dark": (238, 238, 238)}
_GLYPH_DARK: RGB = (33, 33, 33)
_GLYPH_LIGHT: RGB = (255, 255, 255)


@dataclass(frozen=True)
class IconKey:
    """Everything an icon depends on; equal keys give the identical cached image."""

    state: str = "idle"
    health: Health = Health.OK
    theme: str = "dark"
    level: int = 0  # 0..LEVEL_STEPS, only drawn while listening
    size: int = 64

    @property
    def name(self) -> str:
        """A short stable name (logs, the dummy backend, screenshots)."""
        return f"{self.state}-{self.health.value}-{self.theme}-l{self.level}-{self.size}"


def make_key(state: str, health: Health | str = Health.OK, theme: str = "dark",
             level: float = 0.0, size: int = 64) -> IconKey:
    """Normalise raw values (enum states, float levels) into a cache key."""
    state = getattr(state, "value", state)
    if state not in ("idle", *STATE_COLOURS):
        raise ValueError(f"unknown tray state {state!r}; expected idle, listening, thinking or speaking")
    if theme not in PANEL_COLOURS:
        raise ValueError(f"unknown icon theme {theme!r}; expected 'light' or 'dark' (resolve 'auto' first)")
    steps = round(min(1.0, max(0.0, level)) * LEVEL_STEPS) if state == "listening" else 0
    return IconKey(state, Health(health), theme, steps, size)


def resolve_theme(setting: str, environ: dict[str, str] | None = None) -> str:
    """Map the [tray] theme setting to a panel theme; "auto" guesses from the desktop.

    No toolkit exposes the panel colour portably, so "auto" reads GTK_THEME
    (e.g. "Adwaita:light") and otherwise assumes a dark panel, the default of most desktops.
    """
    if setting in PANEL_COLOURS:
        return setting
    gtk_theme = (environ if environ is not None else os.environ).get("GTK_THEME", "").lower()
    return "light" if gtk_theme.endswith(":light") else "dark"


@functools.lru_cache(maxsize=256)
def render(key: IconKey) -> Image.Image:
    """The RGBA icon for ``key``; callers must not modify the returned (shared) image."""
    big = key.size * _SUPERSAMPLE
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    _draw_disc(draw, key, big)
    _GLYPHS[key.state](draw, big, _glyph_colour(key))
    if key.state == "listening":
        _draw_level(img, big, key.level)
    if key.health is not Health.OK:
        _draw_badge(draw, big, key)
    return img.resize((key.size, key.size), Image.Resampling.LANCZOS)


def badge_box(size: int) -> tuple[int, int, int, int]:
    """Where the health badge sits (bottom-right corner), in icon pixels: (x0, y0, x1, y1)."""
    d = round(size * 0.46)
    return size - d, size - d, size - 1, size - 1


def level_box(size: int) -> tuple[int, int, int, int]:
    """The column the input-level meter fills from the bottom (left edge), in icon pixels."""
    w = max(2, round(size * 0.16))
    top = round(size * 0.12)
    return round(size * 0.08), top, round(size * 0.08) + w, size - top


def _draw_disc(draw: ImageDraw.ImageDraw, key: IconKey, big: int) -> None:
    ring = _CONTRAST[key.theme]
    fill = STATE_COLOURS.get(key.state, ring)
    width = max(_SUPERSAMPLE, big // 12)
    draw.ellipse((0, 0, big - 1, big - 1), fill=ring)
    draw.ellipse((width, width, big - 1 - width, big - 1 - width), fill=fill)


def _glyph_colour(key: IconKey) -> RGB:
    if key.state == "idle":  # the idle disc is the contrast colour itself
        return _CONTRAST["dark" if key.theme == "light" else "light"]
    return _GLYPH_DARK if key.state == "thinking" else _GLYPH_LIGHT


def _mic(draw: ImageDraw.ImageDraw, big: int, colour: RGB) -> None:
    """A microphone: capsule, cradle and stand; idle and listening share it."""
    u = big / 16
    draw.rounded_rectangle((6.5 * u, 3 * u, 9.5 * u, 9.5 * u), radius=1.5 * u, fill=colour)
    draw.arc((4.5 * u, 5 * u, 11.5 * u, 11.5 * u), 0, 180, fill=colour, width=round(u))
    draw.rectangle((7.5 * u, 11 * u, 8.5 * u, 13 * u), fill=colour)


def _dots(draw: ImageDraw.ImageDraw, big: int, colour: RGB) -> None:
    """Three dots: the assistant is thinking."""
    u, r = big / 16, big / 16 * 1.3
    for cx in (4.5 * u, 8 * u, 11.5 * u):
        draw.ellipse((cx - r, 8 * u - r, cx + r, 8 * u + r), fill=colour)


def _waves(draw: ImageDraw.ImageDraw, big: int, colour: RGB) -> None:
    """A speaker with two sound waves."""
    u = big / 16
    draw.polygon([(3.5 * u, 6.5 * u), (5.5 * u, 6.5 * u), (8 * u, 4 * u),
                  (8 * u, 12 * u), (5.5 * u, 9.5 * u), (3.5 * u, 9.5 * u)], fill=colour)
    for r in (2.2 * u, 4.2 * u):
        draw.arc((8 * u - r, 8 * u - r, 8 * u + r, 8 * u + r), -50, 50, fill=colour, width=round(u))


_GLYPHS = {"idle": _mic, "listening": _mic, "thinking": _dots, "speaking": _waves}


def _draw_level(img: Image.Image, big: int, level: int) -> None:
    """A meter rising from the bottom along the left edge, kept inside the round silhouette."""
    if level <= 0:
        return
    x0, top, x1, bottom = (v * _SUPERSAMPLE for v in level_box(big // _SUPERSAMPLE))
    height = (bottom - top) * level / LEVEL_STEPS
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).rectangle((x0, bottom - height, x1 - 1, bottom - 1), fill=255)
    silhouette = Image.new("L", img.size, 0)
    ImageDraw.Draw(silhouette).ellipse((0, 0, big - 1, big - 1), fill=255)
    img.paste(LEVEL_COLOUR, mask=ImageChops.multiply(mask, silhouette))


def _draw_badge(draw: ImageDraw.ImageDraw, big: int, key: IconKey) -> None:
    x0, y0, x1, y1 = (v * _SUPERSAMPLE for v in badge_box(big // _SUPERSAMPLE))
    x1, y1 = x1 + _SUPERSAMPLE - 1, y1 + _SUPERSAMPLE - 1
    edge = max(_SUPERSAMPLE, big // 16)
    draw.ellipse((x0, y0, x1, y1), fill=_CONTRAST[key.theme])  # separates badge from disc
    draw.ellipse((x0 + edge, y0 + edge, x1 - edge, y1 - edge), fill=BADGE_COLOURS[key.health])
