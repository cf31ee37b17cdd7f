"""A PubMed client over NCBI's E-utilities, and ``trialsynth search`` (queries of review.toml).

Follows NCBI's "Entrez Programming Utilities Help" (Sayers, NCBI Bookshelf NBK25497/NBK25499):

* ``esearch.fcgi`` with ``usehistory=y`` keeps the result set on NCBI's history server
  (``WebEnv`` + ``query_key``); ``efetch.fcgi`` then reads it in batches (``retstart``,
  ``retmax``) as MEDLINE text (``rettype=medline&retmode=text``), which
  :func:`trialsynth.io.records.parsers.parse_medline` reads.
* No more than 3 requests per second, or 10 with an API key; the key is read from the
  environment variable ``NCBI_API_KEY`` (never from a file in the review), and ``tool`` and
  ``email`` (``NCBI_EMAIL``) identify the caller as NCBI asks.
* HTTP 429 and 5xx answers and network errors are retried with exponential back-off
  (honouring ``Retry-After``); other errors are reported at once.

Only the standard library (:mod:`urllib`) is used. The base URL is an argument, so tests
point the client to a stub server on the loopback interface.
"""

from __future__ import annotations

import json
import os
import re
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from trialsynth._core.errors import InputError
from trialsynth.io.atomic import replace_file
from trialsynth.io.records.importing import ImportOutcome, import_text
from trialsynth.io.records.store import RecordStore

__all__ = ["EUTILS", "PubMedClient", "SearchResult", "run_search"]

EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
TOOL = "trialsynth"
RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class SearchResult:
    """An esearch answer kept on the history server."""

    query: str
    count: int
    webenv: str
    query_key: str
    translation: str


class PubMedClient:
    """esearch + efetch with rate limiting and retries.

    ``api_key`` defaults to ``NCBI_API_KEY`` and ``email`` to ``NCBI_EMAIL`` from the
    environment. ``sleep`` and ``clock`` can be replaced in tests.
    """

    def __init__(
        self,
        base_url: str = EUTILS,
        *,
        api_key: str | None = None,
        email: str | None = None,
        batch_size: int = 500,
        max_tries: int = 5,
        backoff: float = 1.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise InputError(f"the batch size must be between 1 and 10000 (efetch's limit), not {batch_size}")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.api_key = api_key if api_key is not None else os.environ.get("NCBI_API_KEY", "").strip() or None
        self.email = email if email is not None else os.environ.get("NCBI_EMAIL", "").strip() or None
        self.batch_size = batch_size
        self.max_tries = max_tries
        self.backoff = backoff
        self.timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._last: float | None = None
        self.requests = 0

    @property
    def min_interval(self) -> float:
        """Seconds between requests: 1/3 without an API key, 1/10 with one."""
        return 0.1 if self.api_key else 1 / 3

    def _wait_turn(self) -> None:
        if self._last is not None:
            wait = self.min_interval - (self._clock() - self._last)
            if wait > 0:
                self._sleep(wait)
        self._last = self._clock()

    def _request(self, endpoint: str, params: dict[str, str]) -> bytes:
        params = {**params, "tool": TOOL}
        if self.email:
            params["email"] = self.email
        if self.api_key:
            params["api_key"] = self.api_key
        body = urllib.parse.urlencode(params).encode("ascii")
        url = self.base_url + endpoint
        problem = ""
        for attempt in range(self.max_tries):
            self._wait_turn()
            self.requests += 1
            request = urllib.request.Request(
                url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace").strip()
                if exc.code not in RETRY_STATUSES:
                    said = f": {detail}" if detail else ""
                    message = f"PubMed refused the request to {endpoint} (HTTP {exc.code}){said}"
                    raise InputError(message) from None
                problem = f"HTTP {exc.code}"
                delay = _retry_after(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                problem = str(getattr(exc, "reason", exc))
                delay = None
            if attempt + 1 < self.max_tries:
                self._sleep(min(60.0, delay if delay is not None else self.backoff * 2**attempt))
        raise InputError(f"PubMed could not be reached at {url} after {self.max_tries} tries ({problem})")

    def esearch(self, query: str) -> SearchResult:
        """Run one query, keeping the result on the history server."""
        raw = self._request(
            "esearch.fcgi",
            {"db": "pubmed", "term": query, "usehistory": "y", "retmax": "0", "retmode": "json"},
        )
        try:
            doc = json.loads(raw)["esearchresult"]
        except (ValueError, KeyError, TypeError):
            raise InputError(f"PubMed's esearch answer cannot be read for the query '{query}'") from None
        if "ERROR" in doc or "count" not in doc:
            raise InputError(f"PubMed's esearch refused the query '{query}': {doc.get('ERROR', doc)}")
        return SearchResult(
            query=query,
            count=int(doc["count"]),
            webenv=str(doc.get("webenv", "")),
            query_key=str(doc.get("querykey", "")),
            translation=str(doc.get("querytranslation", "")),
        )

    def efetch_medline(self, result: SearchResult) -> bytes:
        """Every record of a search as MEDLINE text, fetched in batches of ``batch_size``."""
        parts = []
        for start in range(0, result.count, self.batch_size):
            chunk = self._request(
                "efetch.fcgi",
                {
                    "db": "pubmed",
                    "query_key": result.query_key,
                    "WebEnv": result.webenv,
                    "retstart": str(start),
                    "retmax": str(self.batch_size),
                    "rettype": "medline",
                    "retmode": "text",
                },
            )
            parts.append(chunk.strip(b"\r\n") + b"\n")
        return b"\n".join(parts)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _search_table(review_dir: Path) -> tuple[list[str], list[str]]:
    path = review_dir / "review.toml"
    if not path.is_file():
        raise InputError("the review folder has no review.toml", file=str(path))
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8-sig")).get("search")
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"review.toml is not valid TOML ({exc})", file=str(path)) from None
    if not isinstance(table, dict):
        raise InputError("review.toml has no [search] table with the queries to run", file=str(path))
    lists = []
    for key in ("databases", "queries"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"[search] {key} must be a list of texts", file=str(path))
        lists.append([v for v in value if v.strip()])
    databases, queries = lists
    if not any(re.search(r"pubmed|medline", d, re.IGNORECASE) for d in databases):
        raise InputError(
            "[search] databases does not list PubMed or MEDLINE, so there is no query to run in PubMed",
            file=str(path),
        )
    if not queries:
        raise InputError("[search] queries is empty", file=str(path))
    return databases, queries


def run_search(
    store: RecordStore,
    review_dir: str | Path,
    *,
    client: PubMedClient | None = None,
    today: str | None = None,
) -> list[tuple[SearchResult, ImportOutcome]]:
    """Run every query of review.toml's ``[search]`` in PubMed and import the results.

    Each query becomes one import (database PubMed, the query and today's date as the
    search date). The MEDLINE text fetched is also kept as
    ``REVIEW_DIR/searches/pubmed-<date>-<n>.nbib`` so the export can be re-read later.
    """
    folder = Path(review_dir)
    _, queries = _search_table(folder)
    client = client or PubMedClient()
    today = today or datetime.now(UTC).date().isoformat()
    out = []
    for number, query in enumerate(queries, start=1):
        result = client.esearch(query)
        data = client.efetch_medline(result) if result.count else b""
        saved = folder / "searches" / f"pubmed-{today}-{number}.nbib"
        replace_file(saved, data)
        if not result.count:
            out.append((result, ImportOutcome(None, (), f"query {number}: no records in PubMed")))
            continue
        outcome = import_text(
            store,
            data,
            file_name=saved.name,
            format="medline",
            database="PubMed",
            search_date=today,
            query=query,
        )
        if outcome.info is not None and outcome.info.n_records != result.count:
            outcome = ImportOutcome(
                outcome.info,
                (
                    *outcome.warnings,
                    f"query {number}: PubMed counted {result.count} records but {outcome.info.n_records} "
                    "were read",
                ),
                outcome.message,
            )
        out.append((result, outcome))
    return out
