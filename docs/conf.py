"""Sphinx configuration of the skwfm documentation.

The build is offline by design: no intersphinx and no extension that downloads
anything, so ``sphinx-build -W`` works on a machine without network access.
Build with ``docs/build.sh`` (HTML with the executed gallery, warnings are errors).
"""

import logging
import os
import sys
import warnings

# Document the package of this checkout, not whatever is installed elsewhere.
DOCS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(DOCS_DIR))

import skwfm  # noqa: E402

# The gallery scripts draw figures without a display.
os.environ.setdefault("MPLBACKEND", "Agg")

# -- project ----------------------------------------------------------------------------

project = "skwfm"
author = "the skwfm developers"
copyright = "2026, the skwfm developers"
release = skwfm.__version__
version = ".".join(release.split(".")[:2])

# -- extensions -------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
root_doc = "index"
source_suffix = {".rst": "restructuredtext"}


# autodoc / autosummary: one generated page per public name listed in api.rst
autosummary_generate = True
autodoc_default_options = {"members": False, "inherited-members": False}
autodoc_typehints = "none"
add_module_names = False

# numpydoc: the class template lists the methods itself; do not let numpydoc add a
# second, autosummary-based member table (it would reference unexported names).
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# doctest builder (``sphinx-build -b doctest``, ``build.sh --doctest``): it tests the
# ``.. doctest::`` blocks of the .rst pages only; the docstring examples are already
# run by pytest (--doctest-modules), so plain ">>>" blocks are not collected twice.
doctest_test_doctest_blocks = ""
doctest_global_setup = """
import warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
warnings.filterwarnings("ignore", category=ConvergenceWarning)
"""

# -- sphinx-gallery ---------------------------------------------------------------------

sphinx_gallery_conf = {
    # every examples/plot_*.py is executed and gets a page with its figures
    "examples_dirs": os.path.join("..", "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py|/_",
    "within_subsection_order": "FileNameSortKey",
    # "Examples using X" sections on the API pages
    "doc_module": ("skwfm",),
    "backreferences_dir": os.path.join("gen_modules", "backreferences"),
    "reference_url": {"skwfm": None},
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "download_all_examples": False,
    # a failing example fails the build; "-D plot_gallery=0" skips running them
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "min_reported_time": 1,
    "show_memory": False,
}

# the gallery imports matplotlib; keep its font-cache chatter out of -W builds
warnings.filterwarnings("ignore", message="Matplotlib is building the font cache")

# -- HTML -------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skwfm {release}"
html_static_path = ["_static"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"install": [], "quickstart": []}


# -- setup ------------------------------------------------------------------------------


class _EmptyGlobFilter(logging.Filter):
    """Drop "toctree glob pattern '*' didn't match any documents".

    user_guide/index.rst lists ``models`` and then globs every other page of the
    directory, so that new pages need no edit of the index; while models is the only
    page the glob is legitimately empty. Sphinx emits that warning without a type, so
    ``suppress_warnings`` cannot silence it.
    """

    def filter(self, record):
        return "didn't match any documents" not in str(record.msg)


def setup(app):
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(_EmptyGlobFilter())
