"""Sphinx configuration of the trialsynth documentation (built by ``make docs``)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Build from the checkout's sources (also when trialsynth is not installed); the notebook
# kernels inherit PYTHONPATH and so import the same sources.
sys.path.insert(0, str(ROOT / "src"))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "src"), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
)

import trialsynth  # noqa: E402

project = "trialsynth"
author = "the trialsynth authors"
copyright = "trialsynth authors, BSD-3-Clause"
release = trialsynth.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_click",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

# --- MyST: $…$ and $$…$$ maths, anchors for the headings of the existing pages
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# --- notebooks: executed at every build; a cell that raises fails the build
nb_execution_mode = "force"
nb_execution_timeout = 120
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# --- API reference from the docstrings
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc renders the signatures; hints stay in the source
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()

# --- output
html_theme = "pydata_sphinx_theme"
html_title = f"trialsynth {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []
html_show_sourcelink = False


# --- plain-text maths in docstrings and --help texts
# The docstrings and the commands' help write absolute values as |z| (readable in help() and
# in a terminal); reStructuredText would read |z| as a substitution. Escape the bars outside
# inline literals and roles before the text is parsed; nothing else is changed.
_LITERAL = re.compile(r"(``.+?``|`[^`]*`)")
_BARS = re.compile(r"(?<![\\|\w])\|(?=[^\s|])([^|\n]*?[^\s|\\])\|(?![\w|])")


def _escape_bars(lines: list[str]) -> None:
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if "|" not in line or stripped.startswith("+") or (stripped.startswith("|") and line.endswith("|")):
            continue  # leave tables alone
        head = ""
        if stripped.startswith("| "):  # a line block (click's \\b paragraphs)
            cut = len(line) - len(stripped) + 2
            head, line = line[:cut], line[cut:]
        parts = _LITERAL.split(line)
        lines[i] = head + "".join(p if j % 2 else _BARS.sub(r"\\|\1\\|", p) for j, p in enumerate(parts))


def _escape_docstring(app, what, name, obj, options, lines) -> None:
    _escape_bars(lines)


def _escape_click(app, ctx, lines) -> None:
    _escape_bars(lines)


# --- links between repository files
# The Markdown pages are also read on the repository's web view, where they link to files by
# their paths. On this site a link to a page that is part of it goes to that page, and a link to
# a folder of the repository becomes the folder's path as text.
_SITE_PAGES = {"examples/FORMAT.md": "review-folder.md", "docs/revman.md": "revman.md"}
_LINK = re.compile(r"\[([^\]]+)\]\(((?:\.\./)?[\w./-]+)\)")


def _relink(text: str, folder: str) -> str:
    def repl(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if target.startswith(("http:", "https:")) or "://" in target:
            return m.group(0)
        path = Path(folder, target)
        repo_path = Path(os.path.normpath(path)).as_posix()
        if repo_path in _SITE_PAGES:
            page = Path(os.path.relpath(Path("docs", _SITE_PAGES[repo_path]), "docs")).as_posix()
            return f"[{label}]({page})"
        if repo_path.startswith("docs/") and repo_path.endswith(".md"):
            return f"[{label}]({repo_path[len('docs/'):]})"
        return f"`{repo_path}`" if label.strip("`") == target else f"{label} (`{repo_path}`)"

    return _LINK.sub(repl, text)


def _relink_source(app, docname, source) -> None:
    source[0] = _relink(source[0], "docs/" + str(Path(docname).parent))


def _relink_include(app, relative_path, parent_docname, content) -> None:
    content[0] = _relink(content[0], Path(relative_path).parent.as_posix())


def setup(app) -> None:
    app.connect("source-read", _relink_source)
    app.connect("include-read", _relink_include)
    app.connect("autodoc-process-docstring", _escape_docstring)
    for part in ("description", "usage", "options", "arguments", "envvars", "epilog"):
        app.connect(f"sphinx-click-process-{part}", _escape_click)
