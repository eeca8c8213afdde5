"""Sphinx configuration of the course website: the lecture notebooks of this folder, executed, as static HTML.

Build it with ``python3 -m cnnlab.site build/site`` (see ``cnnlab/site.py``). Nothing here reaches the network:
MyST-NB executes the notebooks locally, the theme's fonts and scripts ship with it, and MathJax is served from
the site itself (``sphinx-mathjax-offline``), so the pages also render offline.
"""

from __future__ import annotations

project = "Convolutional Networks and Image Segmentation"
author = "the course authors"
copyright = "the course authors, MIT License"

extensions = ["myst_nb", "sphinx-mathjax-offline"]

# The site's pages are index.md and the numbered lecture notebooks; nothing else in this folder.
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
master_doc = "index"

myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Execution: cnnlab.site overrides the mode ("force" to run every notebook, "off" to keep stored outputs).
nb_execution_mode = "force"
nb_execution_timeout = 1800
nb_execution_raise_on_error = True
nb_execution_in_temp = False
nb_merge_streams = True
# Tables printed with IPython.display.Markdown are GitHub-style: parse outputs as MyST, not plain CommonMark.
nb_render_markdown_format = "myst"
nb_execution_show_tb = True

html_theme = "sphinx_book_theme"
html_title = "CNNs and Image Segmentation"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
}
html_last_updated_fmt = None
html_show_sourcelink = False
