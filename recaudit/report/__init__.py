"""Reports: HTML (Jinja2 templates, inline SVG figures) and JSON."""
