"""Tray icons by their pixels: states differ, badges and the level meter sit where they should."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from daemon.events import State
from daemon.platform.tray.icons import (
    BADGE_COLOURS, LEVEL_COLOUR, PANEL_COLOURS, STATE_COLOURS, Health, badge_box, level_box,
    make_key, render, resolve_theme,
)

SIZES = (16, 22, 24, 32)
STATES = ("idle", "listening", "thinking", "speaking")
THEMES = ("light", "dark")


def on_panel(image: Image.Image, theme: str) -> np.ndarray:
    """The icon composited on the panel colour, as the user sees it."""
    panel = Image.new("RGBA", image.size, PANEL_COLOURS[theme] + (255,))
    return np.asarray(Image.alpha_composite(panel, image).convert("RGB"), dtype=float)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance."""
    c = rgb / 255.0
    lin = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    la, lb = luminance(a), luminance(b)
    return (np.maximum(la, lb) + 0.05) / (np.minimum(la, lb) + 0.05)


def near(pixel: np.ndarray, colour: tuple[int, int, int], tol: float = 30) -> bool:
    return bool(np.all(np.abs(pixel[:3] - np.array(colour)) <= tol))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("theme", THEMES)
def test_states_are_distinct_at_small_sizes(size: int, theme: str) -> None:
    images = {s: on_panel(render(make_key(s, theme=theme, size=size)), theme) for s in STATES}
    for a, b in itertools.combinations(STATES, 2):
        differing = np.mean(np.any(np.abs(images[a] - images[b]) > 40, axis=2))
        assert differing > 0.25, f"{a} and {b} look alike at {size}px on a {theme} panel ({differing:.2f})"


@pytest.mark.parametrize("state", ["listening", "thinking", "speaking"])
def test_state_colour_fills_the_centre_ring(state: str) -> None:
    image = np.asarray(render(make_key(state, size=32)), dtype=float)
    # just inside the disc edge, left of the glyph
    assert near(image[16, 5], STATE_COLOURS[state])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("state", STATES)
def test_outline_contrasts_with_its_panel(state: str, theme: str, size: int) -> None:
    """Every icon carries a ring that stands out (WCAG >= 3:1) against its panel colour."""
    image = on_panel(render(make_key(state, theme=theme, size=size)), theme)
    edge = image[size // 2, : max(2, size // 10)]  # the left edge crosses the ring
    best = contrast(edge, np.array(PANEL_COLOURS[theme], dtype=float)).max()
    assert best >= 3.0, f"{state} at {size}px on {theme}: best contrast {best:.2f}"


def test_light_and_dark_variants_differ() -> None:
    light = np.asarray(render(make_key("idle", theme="light")), dtype=float)
    dark = np.asarray(render(make_key("idle", theme="dark")), dtype=float)
    assert np.mean(np.abs(light - dark)) > 50


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("health", [Health.LOADING, Health.DEGRADED, Health.FAILED])
def test_badge_sits_in_the_bottom_right_corner_in_its_colour(health: Health, size: int) -> None:
    plain = np.asarray(render(make_key("speaking", size=size)), dtype=float)
    badged = np.asarray(render(make_key("speaking", health, size=size)), dtype=float)
    x0, y0, x1, y1 = badge_box(size)
    centre = badged[(y0 + y1) // 2, (x0 + x1) // 2]
    assert near(centre, BADGE_COLOURS[health]), f"badge centre {centre} is not {BADGE_COLOURS[health]}"
    changed = np.any(np.abs(plain - badged) > 20, axis=2)
    ys, xs = np.nonzero(changed)
    assert ys.min() >= y0 - 1 and xs.min() >= x0 - 1, "the badge spills out of its corner"


def test_badges_differ_from_each_other() -> None:
    colours = {render(make_key("idle", h, size=24)).getpixel((19, 19)) for h in Health}
    assert len(colours) == len(Health)


@pytest.mark.parametrize("size", [24, 32, 64])
def test_level_meter_follows_the_level(size: int) -> None:
    x0, top, x1, bottom = level_box(size)
    column = (x0 + x1) // 2

    def lit(level: float) -> int:
        image = np.asarray(render(make_key("listening", level=level, size=size)), dtype=float)
        return sum(near(image[y, column], LEVEL_COLOUR, 60) for y in range(top, bottom))

    heights = [lit(v / 10) for v in range(11)]
    assert heights[0] == 0 and heights == sorted(heights), heights
    assert heights[10] >= (bottom - top) - 2
    assert abs(heights[5] - (bottom - top) / 2) <= 2


def test_level_is_shown_only_while_listening_and_clamped() -> None:
    assert make_key("thinking", level=0.8).level == 0
    assert make_key("listening", level=7.0).level == 10
    assert make_key("listening", level=-1).level == 0


def test_render_is_cached_and_keys_accept_enums() -> None:
    key = make_key(State.SPEAKING, "failed", "light", 0.0, 24)
    assert key.state == "speaking" and key.health is Health.FAILED
    assert render(key) is render(make_key("speaking", Health.FAILED, "light", size=24))
    assert key.name == "speaking-failed-light-l0-24"
    assert render(key).size == (24, 24) and render(key).mode == "RGBA"


def test_bad_values_are_named() -> None:
    with pytest.raises(ValueError, match="unknown tray state 'sleeping'"):
        make_key("sleeping")
    with pytest.raises(ValueError, match="resolve 'auto' first"):
        make_key("idle", theme="auto")


def test_resolve_theme() -> None:
    assert resolve_theme("light", {}) == "light"
    assert resolve_theme("auto", {"GTK_THEME": "Adwaita:light"}) == "light"
    assert resolve_theme("auto", {"GTK_THEME": "Adwaita:dark"}) == "dark"
    assert resolve_theme("auto", {}) == "dark"
