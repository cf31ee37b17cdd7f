"""The report as PDF, printed from report.html by WeasyPrint (optional).

WeasyPrint (https://weasyprint.org; BSD-3-Clause, maintained by CourtBouillon) lays out HTML
and CSS for paged media in Python, including the report's inline SVG figures and its print
style sheet. It is an optional dependency (``pip install 'trialsynth[pdf]'``) that needs the
Pango text libraries of the system (Debian: ``libpango-1.0-0 libpangoft2-1.0-0
libharfbuzz-subset0``). Without them the HTML report is written as usual and
:func:`pdf_unavailable` says why there is no PDF.

The report is self-contained; the PDF is printed without any network access (every URL
that is not a local file is refused).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PDF_HINT", "pdf_unavailable", "report_pdf", "write_pdf"]

PDF_HINT = (
    "install the optional PDF support with pip install 'trialsynth[pdf]' (WeasyPrint) and, on Debian, "
    "apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"
)


def pdf_unavailable() -> str | None:
    """None when PDFs can be written; otherwise one line saying what is missing and how to add it."""
    try:
        import weasyprint  # noqa: F401
    except ImportError:
        return f"WeasyPrint is not installed; {PDF_HINT}"
    except OSError as exc:  # WeasyPrint is there but cannot load Pango (a system library)
        return f"WeasyPrint cannot load its system libraries ({str(exc).splitlines()[0]}); {PDF_HINT}"
    return None


def write_pdf(html_path: str | Path, pdf_path: str | Path | None = None) -> Path:
    """Print ``report.html`` to ``report.pdf`` beside it (or to ``pdf_path``); returns the path.

    Raises :class:`RuntimeError` with :func:`pdf_unavailable`'s message when WeasyPrint or its
    libraries are missing.
    """
    reason = pdf_unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    import weasyprint

    html_path = Path(html_path)
    target = Path(pdf_path) if pdf_path is not None else html_path.with_suffix(".pdf")
    fetcher = weasyprint.URLFetcher(allowed_protocols={"file", "data"})
    document = weasyprint.HTML(filename=str(html_path), url_fetcher=fetcher, media_type="print")
    from trialsynth.io.atomic import replace_file

    return replace_file(target, document.write_pdf())


def _notice_marker() -> Path:
    """Where it is recorded that the optional-PDF notice was shown (the user's cache folder)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "trialsynth" / "pdf-notice-shown"


def _notice_once(reason: str) -> None:
    """Say once per user (not on every run) why the optional PDF is not written; ``--pdf`` asks
    for it and then fails with the reason, ``--no-pdf`` is silent."""
    import click

    marker = _notice_marker()
    if marker.exists():
        return
    click.echo(
        f"report.pdf not written (optional; this notice is shown once, --pdf asks for it): {reason}", err=True
    )
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(reason + "\n", encoding="utf-8")
    except OSError:  # a read-only home: the notice shows again next time, nothing else breaks
        pass


def report_pdf(report: Path, wanted: bool | None) -> Path | None:
    """``trialsynth run``'s PDF step: ``wanted`` None prints when possible and otherwise says
    why not once per user (the HTML report stands); True fails with the reason when it is not
    possible (exit 1); False skips it."""
    import click

    if wanted is False:
        return None
    reason = pdf_unavailable()
    if reason is not None:
        if wanted:
            raise click.ClickException(f"report.pdf not written: {reason}")
        _notice_once(reason)
        return None
    return write_pdf(report)
