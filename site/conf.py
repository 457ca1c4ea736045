"""Sphinx configuration of the course website. Built by site/build.py (make site), which lays this file
out beside the executed lessons in build/site-src/; nothing is executed here (nb_execution_mode)."""

project = "Pruning & Sparsity: a hands-on course"
author = "The course kit's authors"
copyright = "the course kit's authors, MIT licence"

extensions = ["myst_nb", "sphinx.ext.githubpages"]  # githubpages: .nojekyll, so GitHub Pages serves _static/
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the lessons arrive executed (build/executed/)
nb_merge_streams = True
# A lesson's Markdown outputs (display(Markdown(...)) tables) are parsed as MyST, which has tables;
# MyST-NB's default, CommonMark, has none and shows them as pipe text.
nb_render_markdown_format = "myst"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "misc.highlighting_failure"]

# MathJax 3 served from the site itself (site/build.py copies it from site/node_modules/, npm ci), so
# the maths renders offline; its assistive MathML puts a MathML copy of each formula beside the
# rendering for screen readers.
mathjax_path = "mathjax/tex-mml-chtml.js"
mathjax3_config = {"options": {"enableAssistiveMml": True}}

templates_path = ["_templates"]
html_theme = "sphinx_book_theme"
html_title = "Pruning & Sparsity"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_theme_options = {
    "repository_url": "https://github.com/ORG/REPO",  # your fork, as in the README's Binder badge
    "path_to_docs": "notebooks",
    "use_repository_button": True,
    "show_toc_level": 2,
}
html_last_updated_fmt = ""
