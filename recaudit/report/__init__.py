"""Reports: HTML (Jinja2 templates, inline SVG figures) and JSON."""

from ._html import render_html, sanitize_svg
from .figures import figure_to_svg, new_figure

__all__ = ["figure_to_svg", "new_figure", "render_html", "sanitize_svg"]
