"""Seeded mutation fuzzing of every parser (issue 15: ~39,000 mutated files found tracebacks).

Each parser gets valid seed files (the project's fixtures and bundled reviews), mutated by a
seeded random choice of: byte flips, truncation, NUL bytes, deleted/duplicated/swapped
lines, numbers replaced by extreme or odd values (1e308, 1e-200, NaN, inf, -0, ...),
deleted/duplicated/shuffled CSV columns, the text re-encoded (UTF-16, Latin-1, UTF-8 with
a BOM), random Unicode and control characters, deeply nested brackets. Pass: the parser
returns a result or raises :class:`InputError` whose message is one line. Any other
exception is a failure, reported with the mutation and the seed that reproduce it.

The default suite runs ``DEFAULT_CASES`` per parser (a few thousand); ``pytest -m slow``
runs ``SLOW_CASES`` with other seeds.
"""

from __future__ import annotations

import random
import re
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from trialsynth._core.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = ROOT / "src" / "trialsynth" / "examples"

DEFAULT_CASES = 2000
SLOW_CASES = 20000

ODD_NUMBERS = (
    "1e308", "-1e308", "1e309", "1e-200", "-1e-200", "5e-324", "NaN", "nan", "inf", "-inf", "Infinity",
    "-0", "-0.0", "0", "-1", "1e1000", "99999999999999999999999", "0x10", "1_000", "١٢", "½", "", " ",
    "1,5", "1.2.3", "--1", "+-1", "1e", ".", "-", "NA",
)  # fmt: skip
ODD_TEXT = (
    "\x00", "\r", "\t", "\x1b[31m", "\u202e", "\ufeff", "\ud7ff", "é", "𝛂", '"', "'", ",", ";", "\\", "=cmd|",
)  # fmt: skip
ODD_TOML = (
    "1e308", "-1e308", "nan", "inf", "-inf", "-0.0", "0", "-1", "99999999999999999999", "true", "[]", "{}",
    '""', '"\\u0000"', '"x\\ny"', "[1, 2]", '["a", 1]', "{a = 1}", "[[]]", "[" * 200 + "]" * 200,
    "2024-01-01", "1979-05-27T07:32:00Z", '"""multi\nline"""', "'literal'", '"' + "x" * 10000 + '"',
)  # fmt: skip
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


def _csv_columns(data: bytes, rng: random.Random) -> bytes:
    """Delete, duplicate or swap one column of every line (naive split on commas)."""
    rows = [line.rstrip(b"\r\n").split(b",") for line in _lines(data)]
    width = max(len(r) for r in rows)
    i, j = rng.randrange(width), rng.randrange(width)
    how = rng.choice(("delete", "duplicate", "swap", "delete-header", "delete-body"))
    out = []
    for n, row in enumerate(rows):
        row = list(row)
        if (how == "delete" and i < len(row)) or (how == "delete-header" and n == 0 and i < len(row)):
            del row[i]
        elif how == "delete-body" and n > 0 and i < len(row):
            del row[i]
        elif how == "duplicate" and i < len(row):
            row.insert(i, row[i])
        elif how == "swap" and i < len(row) and j < len(row):
            row[i], row[j] = row[j], row[i]
        out.append(b",".join(row))
    return b"\n".join(out) + b"\n"


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One to three seeded mutations of ``data``; returns the bytes and what was done."""
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.choice(
            (
                "flip", "truncate", "nul", "number", "number", "number", "columns", "columns", "line-delete",
                "line-duplicate", "line-swap", "encoding", "text", "nest", "empty-cells", "huge-line", "cell",
                "cell", "value", "value",
            )
        )  # fmt: skip
        if kind == "flip" and data:
            b = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            data = bytes(b)
        elif kind == "truncate":
            data = data[: rng.randint(0, len(data))]
        elif kind == "nul":
            at = rng.randint(0, len(data))
            data = data[:at] + b"\x00" * rng.randint(1, 3) + data[at:]
        elif kind == "number":
            matches = list(NUMBER.finditer(data))
            if matches:
                for m in rng.sample(matches, min(len(matches), rng.randint(1, 4))):
                    data = data[: m.start()] + b"\x00MARK" + data[m.end() :]
                while b"\x00MARK" in data:
                    data = data.replace(b"\x00MARK", rng.choice(ODD_NUMBERS).encode("utf-8"), 1)
        elif kind == "columns" and data:
            data = _csv_columns(data, rng)
        elif kind.startswith("line-"):
            lines = _lines(data)
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if kind == "line-delete":
                del lines[i]
            elif kind == "line-duplicate":
                lines.insert(i, lines[j])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = b"".join(lines)
        elif kind == "encoding":
            text = data.decode("utf-8", errors="replace")
            enc = rng.choice(("utf-16", "utf-16-le", "utf-16-be", "latin-1", "cp1252", "utf-8-sig", "utf-32"))
            data = text.encode(enc, errors="replace")
        elif kind == "text":
            at = rng.randint(0, len(data))
            data = data[:at] + rng.choice(ODD_TEXT).encode("utf-8", errors="surrogatepass") + data[at:]
        elif kind == "nest":
            at = rng.randint(0, len(data))
            depth = rng.choice((50, 1000, 5000))
            opener, closer = rng.choice(((b"[", b"]"), (b"{", b"}"), (b"(", b")"), (b"<a>", b"</a>")))
            data = data[:at] + opener * depth + closer * rng.choice((0, depth)) + data[at:]
        elif kind == "empty-cells":
            data = re.sub(rb",[^,\n]*", b",", data, count=rng.randint(1, 5))
        elif kind == "cell" and data:
            # one CSV cell replaced by an odd number or text
            lines = _lines(data)
            i = rng.randrange(len(lines))
            cells = lines[i].rstrip(b"\r\n").split(b",")
            j = rng.randrange(len(cells))
            cells[j] = rng.choice(ODD_NUMBERS + ODD_TEXT).encode("utf-8", errors="surrogatepass")
            lines[i] = b",".join(cells) + b"\n"
            data = b"".join(lines)
        elif kind == "value":
            # one TOML/XML/tagged value (after '=', '"' or a tag) replaced by an odd one
            matches = list(re.finditer(rb"(= *)([^\n]*)", data))
            if matches:
                m = rng.choice(matches)
                value = rng.choice(ODD_TOML).encode("utf-8")
                data = data[: m.start(2)] + value + data[m.end(2) :]
        elif kind == "huge-line":
            at = rng.randint(0, len(data))
            data = data[:at] + b"9" * rng.choice((1000, 100_000)) + data[at:]
        done.append(kind)
    return data, "+".join(done)


class Outcome:
    def __init__(self, name: str) -> None:
        self.name = name
        self.results = 0
        self.errors = 0
        self.failures: list[str] = []


# ------------------------------------------------------------------------------------ parsers


def _pool_seeds() -> list[tuple[bytes, str]]:
    data = FIXTURES / "acceptance" / "data"
    seeds = [
        ((data / "li2007.csv").read_bytes(), "OR"),
        ((data / "dorn2007.csv").read_bytes(), "RR"),
        ((data / "gibson2002.csv").read_bytes(), "SMD"),
        ((data / "baskerville2012.csv").read_bytes(), "SMD"),
    ]
    inline = {
        "RD": (
            "study,events_treatment,n_treatment,events_control,n_control\n"
            "a,0,10,0,12\nb,3,40,5,41\nc,1,20,4,19\n"
        ),
        "HR": "study,estimate,ci_lower,ci_upper\nA,0.8,0.6,1.05\nB,0.7,0.5,0.98\nC,1.1,0.8,1.5\n",
        "MD": (
            "study,mean_treatment,se_treatment,n_treatment,mean_control,ci_lower_control,ci_upper_control,n_control\n"
            "a,5.1,0.4,40,6.2,5.4,7.0,38\nb,4.8,0.5,30,5.9,5.0,6.8,31\n"
        ),
        "ROM": (
            "study,median_treatment,q1_treatment,q3_treatment,n_treatment,mean_control,sd_control,n_control\n"
            "a,12,9,15,40,14,4,41\nb,11,8,16,30,13,5,29\n"
        ),
        "IRR": (
            "study,events_treatment,person_time_treatment,events_control,person_time_control\n"
            "a,12,1000.5,20,1100\nb,0,800,4,790\n"
        ),
    }
    return seeds + [(text.encode(), measure) for measure, text in inline.items()]


def case_pool(tmp: Path, cases: int, seed: int) -> Outcome:
    from trialsynth.io.poolcsv import read_pool_csv

    seeds = _pool_seeds()
    path = tmp / "pool.csv"
    rng = random.Random(seed)
    out = Outcome("pool CSV")
    for case in range(cases):
        original, measure = seeds[case % len(seeds)]
        data, how = mutate(original, rng)
        path.write_bytes(data)
        repeated = case % 5 == 0
        _check(
            out,
            case,
            how,
            lambda measure=measure, repeated=repeated: read_pool_csv(
                path, measure=measure, repeated=repeated
            ),
        )
    return out


def _check(out: Outcome, case: int, how: str, call: Callable[[], object]) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except InputError as exc:
        out.errors += 1
        if "\n" in str(exc) or "\r" in str(exc):
            out.failures.append(f"case {case} ({how}): InputError with a line break: {str(exc)[:200]!r}")
    except Exception as exc:
        out.failures.append(f"case {case} ({how}): {type(exc).__name__}: {str(exc)[:200]}")
    else:
        out.results += 1


def case_review(tmp: Path, cases: int, seed: int) -> Outcome:
    """review.toml, studies.csv, outcomes.csv and every other CSV of five review folders."""
    from trialsynth.io.review import load_review

    folders = []
    sources = (
        FIXTURES / "reviews" / "flow",
        EXAMPLES / "bcg",
        FIXTURES / "reviews" / "rob-example",
        EXAMPLES / "smoking-cessation",  # a network CSV
        EXAMPLES / "imaging-guided-crt",  # baseline, reported and an extra ordering table
    )
    for source in sources:
        folder = tmp / source.name
        shutil.copytree(source, folder)
        files = sorted(p for p in folder.iterdir() if p.suffix in (".toml", ".csv"))
        folders.append((folder, [(p, p.read_bytes()) for p in files]))
    rng = random.Random(seed)
    out = Outcome("review folder")
    for case in range(cases):
        folder, files = folders[case % len(folders)]
        path, original = files[rng.randrange(len(files))]
        data, how = mutate(original, rng)
        path.write_bytes(data)
        _check(out, case, f"{path.name}: {how}", lambda folder=folder: load_review(folder))
        path.write_bytes(original)
    return out


RECORD_SEEDS = {
    "ris": "embase.ris",
    "medline": "pubmed.nbib",
    "pubmed_xml": "pubmed.xml",
    "csv": "scopus.csv",
    "bibtex": "wos.bib",
}
WOS = (
    "FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\nAU Smith, J\n   Jones, K\n"
    "TI A randomised trial of\n   something\nSO TRIAL JOURNAL\nPY 2019\nVL 12\nIS 3\nBP 100\nEP 110\n"
    "DI 10.1000/xyz\nPM 12345678\nUT WOS:000123\nER\n\nPT J\nAU Lee, A\nTI Another trial\nPY 2020\nER\n\nEF\n"
)


def case_records(fmt: str) -> Callable[[Path, int, int], Outcome]:
    def run(tmp: Path, cases: int, seed: int) -> Outcome:
        from trialsynth.io.records.parsers import decode, parse_text

        original = WOS.encode() if fmt == "wos" else (FIXTURES / "records" / RECORD_SEEDS[fmt]).read_bytes()
        rng = random.Random(f"{fmt}-{seed}")
        out = Outcome(f"records {fmt}")
        for case in range(cases):
            data, how = mutate(original, rng)

            def call(data=data):
                text, _, _ = decode(data, "f")
                return parse_text(text, fmt, "f")

            _check(out, case, how, call)
        return out

    return run


def case_revman(suffix: str) -> Callable[[Path, int, int], Outcome]:
    def run(tmp: Path, cases: int, seed: int) -> Outcome:
        from trialsynth.io.revman import read_revman

        original = (FIXTURES / "revman" / ("types.rm5" if suffix == ".rm5" else "export.csv")).read_bytes()
        path = tmp / f"file{suffix}"
        rng = random.Random(f"revman{suffix}-{seed}")
        out = Outcome(f"RevMan {suffix}")
        for case in range(cases):
            data, how = mutate(original, rng)
            path.write_bytes(data)
            _check(out, case, how, lambda: read_revman(path))
        return out

    return run


def case_extraction(tmp: Path, cases: int, seed: int) -> Outcome:
    from tests.workflow.test_records_extraction import ANN, BOB, RESOLUTIONS
    from trialsynth.workflow.records.extraction import compare, resolve

    folder = tmp / "review"
    (folder / "extraction").mkdir(parents=True)
    files = {"ann.csv": ANN.encode(), "bob.csv": BOB.encode(), "resolutions.csv": RESOLUTIONS.encode()}
    rng = random.Random(seed)
    out = Outcome("extraction files")
    for case in range(cases):
        target = rng.choice(sorted(files))
        for name, data in files.items():
            (folder / "extraction" / name).write_bytes(data)
        data, how = mutate(files[target], rng)
        (folder / "extraction" / target).write_bytes(data)

        def call():
            compare(folder)
            return resolve(folder)

        _check(out, case, f"{target}: {how}", call)
    return out


def case_km(tmp: Path, cases: int, seed: int) -> Outcome:
    """Digitised Kaplan–Meier curves and numbers at risk (``trialsynth km``), then the reconstruction."""
    from tests.cli.test_km_cli import _write
    from trialsynth.io.kmcsv import read_km_curves, read_numbers_at_risk

    curves, risk, _, _ = _write(tmp)
    files = {curves: curves.read_bytes(), risk: risk.read_bytes()}
    rng = random.Random(seed)
    out = Outcome("Kaplan–Meier CSVs")
    for case in range(cases):
        target = rng.choice(sorted(files))
        for path, data in files.items():
            path.write_bytes(data)
        data, how = mutate(files[target], rng)
        target.write_bytes(data)

        def call():
            return read_km_curves(curves), read_numbers_at_risk(risk)

        _check(out, case, f"{target.name}: {how}", call)
    return out


PARSERS: dict[str, Callable[[Path, int, int], Outcome]] = {
    "km": case_km,
    "pool": case_pool,
    "review": case_review,
    **{f"records-{fmt}": case_records(fmt) for fmt in (*RECORD_SEEDS, "wos")},
    "revman-rm5": case_revman(".rm5"),
    "revman-csv": case_revman(".csv"),
    "extraction": case_extraction,
}
#: Per-parser share of the default cases (the slower folder parsers run fewer).
SHARE = {"records-bibtex": 0.5}


def _report(outcome: Outcome, seconds: float) -> str:
    return (
        f"{outcome.name}: {outcome.results + outcome.errors + len(outcome.failures)} cases "
        f"in {seconds:.1f} s CPU, "
        f"{outcome.results} results, {outcome.errors} InputErrors, {len(outcome.failures)} failures"
    )


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_fuzz_parser(name, tmp_path, capsys):
    cases = int(DEFAULT_CASES * SHARE.get(name, 1.0))
    start = time.process_time()
    outcome = PARSERS[name](tmp_path, cases, 15)
    with capsys.disabled():
        print("\n" + _report(outcome, time.process_time() - start), end="")
    assert not outcome.failures, "\n".join(outcome.failures[:20])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PARSERS))
def test_fuzz_parser_long(name, tmp_path, capsys):
    start = time.process_time()
    outcome = PARSERS[name](tmp_path, SLOW_CASES, 1515)
    with capsys.disabled():
        print("\n" + _report(outcome, time.process_time() - start), end="")
    assert not outcome.failures, "\n".join(outcome.failures[:20])


def test_mutations_are_seeded():
    a = [mutate(b"study,a,b\nx,1,2\n", random.Random(7)) for _ in range(3)]
    b = [mutate(b"study,a,b\nx,1,2\n", random.Random(7)) for _ in range(3)]
    assert a == b
