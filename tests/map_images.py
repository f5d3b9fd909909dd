"""Reading the maps drawn as PNG images (matrices over `figures.EXACT_CELL_LIMIT` cells)."""

import base64
import io

import numpy as np
import plotly.colors
from PIL import Image


def decode_image(trace):
    """An image trace's PNG `source` as a (R, C, 3) uint8 array."""
    header, payload = trace["source"].split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB"))


def expected_colors(values, colorscale, low, high):
    """Plotly's own colours for `values` on `colorscale` over [low, high], (R, C, 3)."""
    scaled = np.clip((np.asarray(values, dtype=float) - low) / (high - low), 0, 1)
    samples = plotly.colors.sample_colorscale(colorscale, scaled.ravel().tolist())
    return np.array([plotly.colors.unlabel_rgb(color) for color in samples]).reshape(*scaled.shape, 3)


def assert_image_shows(traces, values, colorscale):
    """`traces` (an image and its colour bar) draw `values`: each pixel within 2 of plotly's colour.

    256 palette levels put a pixel at most half a level's step from the exact colour.
    """
    image, colorbar = traces
    assert image["type"] == "image" and colorbar["type"] == "heatmap"
    pixels = decode_image(image)
    assert pixels.shape == (*np.shape(values), 3)
    np.testing.assert_allclose(pixels, expected_colors(values, colorscale, colorbar["zmin"], colorbar["zmax"]), atol=2)
