"""``load_review``: read a review folder strictly (the format is in :mod:`trialsynth.io.review`)."""

from __future__ import annotations

import difflib
import math
import re
import tomllib
import warnings
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from trialsynth._core import bounds
from trialsynth._core.errors import InputError, TrialsynthWarning
from trialsynth._core.limits import max_table_bytes
from trialsynth.io.poolcsv import MEASURES, NUMERIC_COLUMNS
from trialsynth.io.review._csv import Table, read_table
from trialsynth.io.review._toml import key_lines, line_of
from trialsynth.io.review.grade import GRADE_FILE, apply_grade_csv, read_grade_csv
from trialsynth.io.review.model import (
    GRADE_DOMAINS,
    AnalysisDefaults,
    AnalysisSet,
    BaselineValue,
    BayesSettings,
    Cumulative,
    Eligibility,
    Grade,
    GradeDomain,
    LeadPosition,
    ModelSpec,
    Moderator,
    NetworkSpec,
    OISSettings,
    Outcome,
    OutcomeRow,
    Question,
    Reported,
    Review,
    Search,
    Study,
    Subgroup,
    TSASettings,
)
from trialsynth.io.review.nesting import check_nesting
from trialsynth.io.review.rob import read_risk_of_bias
from trialsynth.io.review.signalling import SIGNALLING_FILE, read_signalling
from trialsynth.stats.effects import PROFILES
from trialsynth.stats.meta import COUNT_METHODS, METHODS
from trialsynth.stats.prisma import PrismaCounts, check_prisma, prisma_from_mapping

__all__ = ["DATA_COLUMNS", "DEFAULT_MODEL", "load_review", "read_prisma"]

#: The model an outcome gets when neither it nor ``[analysis]`` sets one: REML for tau²
#: (metafor's default and the estimator most methodological reviews recommend), without
#: the Hartung–Knapp adjustment (as metafor's ``rma()`` and :func:`trialsynth.stats.meta.pool_input`).
DEFAULT_MODEL = ModelSpec(method="REML", hk=False, assumption="", origin="default")
DEFAULT_PROFILE = "metafor"
DEFAULT_LEVEL = 95.0
DEFAULT_LABEL_TREATMENT = "Favours treatment"
DEFAULT_LABEL_CONTROL = "Favours control"
#: The analysis set a review has when review.toml declares none.
DEFAULT_SET = AnalysisSet(id="main", name="Main analysis")
#: The study id that baseline.csv and lead_position.csv use for the published review's own
#: pooled figures (it may not be used in studies.csv).
POOLED = "pooled"

DATA_TYPES = ("binary", "continuous", "generic", "time_to_event")
TYPE_MEASURES: dict[str, tuple[str, ...]] = {
    "binary": ("OR", "RR", "RD"),
    "continuous": ("MD", "SMD", "ROM"),
    "generic": MEASURES,
    "time_to_event": ("HR",),
}
BETTER = ("lower", "higher")
KINDS = ("quoted", "derived")
USE = ("yes", "no")
DENOMINATORS = ("randomised", "analysed")
STATUSES = ("included", "unconfirmed")
ARMS = ("treatment", "control", "all", "unstated")
STATISTICS = ("mean", "sd", "median", "iqr", "range", "n", "percent", "count", "unstated")
_RANGE_STATISTICS = ("iqr", "range")

#: The data columns of outcomes.csv: every column set that :mod:`trialsynth.io.poolcsv` reads
#: (its numeric columns and the text column ``direction``).
DATA_COLUMNS = (*NUMERIC_COLUMNS, "direction")
OUTCOME_REQUIRED = ("outcome", "study", "source", "kind", "note", "use")
OUTCOME_OPTIONAL = ("denominator", "definition", "analysis_set", "es_id", "cluster", *DATA_COLUMNS)
STUDY_REQUIRED = ("id", "label", "citation", "year", "source")
STUDY_OPTIONAL = (
    "design",
    "n_randomised_treatment",
    "n_randomised_control",
    "follow_up",
    "status",
    "note",
    "analysis_set",
    "kind",
)
BASELINE_REQUIRED = ("study", "characteristic", "arm", "statistic", "value", "source", "kind")
LEAD_REQUIRED = ("study", "arm", "position", "percent", "source", "kind")
REPORTED_REQUIRED = ("outcome", "estimate", "ci_lower", "ci_upper", "p_value", "source")
REPORTED_OPTIONAL = ("analysis_set", "k", "n", "unit", "note")

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RANGE = re.compile(rf"\s*({_NUMBER.pattern})\s*(?:–|—|-|to)\s*({_NUMBER.pattern})\s*")
_P_BOUND = re.compile(r"\s*(<=|≤|<|>=|≥|>)\s*(.*)", re.DOTALL)

# review.toml: the keys of each table (required ones first in messages).
_TOP = (
    "review",
    "outcomes",
    "search",
    "analysis",
    "analysis_sets",
    "subgroups",
    "cumulative",
    "moderators",
    "networks",
    "prisma",
    "screening",  # read by trialsynth.workflow.screening.session.exclusion_reasons
)
_REVIEW = ("title", "question", "reproduces", "summary", "eligibility")
_QUESTION = ("population", "intervention", "comparator", "outcomes")
_ELIGIBILITY = ("inclusion", "exclusion", "note")
_SEARCH = ("databases", "queries", "period", "last_searched", "note")
_ANALYSIS = ("profile", "level", "model", "sensitivity", "label_treatment", "label_control")
_MODEL = ("method", "hk", "hk_variant", "assumption", "glmm", "fixed", "robust")
#: The binomial–normal models of ``method = "GLMM"`` (as metafor's ``rma.glmm``).
GLMM_MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")
_SET = ("id", "name", "description")
_OUTCOME = (
    "id",
    "name",
    "data_type",
    "measure",
    "better",
    "unit",
    "label_treatment",
    "label_control",
    "model",
    "sensitivity",
    "definition",
    "primary",
    "note",
    "tsa",
    "bayes",
    "grade",
    "level",
)
_GRADE = (
    *GRADE_DOMAINS,
    "assumed_control_risk",
    "control_risk_source",
    "control_risk_from",
    "ois",
    "note",
)
_GRADE_DOMAIN = ("rating", "reason")
_OIS = ("alpha", "power", "rrr", "mean_difference", "sd", "hazard_ratio")
CONTROL_RISK_FROM = ("pooled", "median")
_TSA = ("alpha", "power", "control_risk", "rrr", "mean_difference", "sd", "hazard_ratio", "diversity", "note")
_BAYES = ("tau_prior", "mu_prior", "note")
_SUBGROUP = ("column", "name", "description")
_CUMULATIVE = ("order_by", "name")
_MODERATOR = ("column", "name", "unit")
_NETWORK = ("id", "file", "measure", "name", "reference", "method", "better", "description", "add", "to")
#: Measures and models of ``[[networks]]`` (those of ``trialsynth nma``).
NETWORK_MEASURES = ("OR", "RR", "MD", "SMD", "HR")
NETWORK_METHODS = ("REML", "ML", "FE")

KeyPath = tuple[str | int, ...]


# =============================================================================== review.toml


def _show(path: KeyPath) -> str:
    """('outcomes', 1, 'model') -> 'outcomes[2].model' (array elements counted from 1)."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "the top level"


def _table_name(path: KeyPath, table: dict) -> str:
    """How a table is named in messages: [analysis.model], [[outcomes]] no. 2 (id "nyha")."""
    if not path:
        return "the file"
    if isinstance(path[-1], int):
        keys = ".".join(str(p) for p in path[:-1] if not isinstance(p, int))
        name = f"[[{keys}]] no. {path[-1] + 1}"
        if isinstance(table.get("id"), str):
            name += f' (id "{table["id"]}")'
        return name
    return f"[{_show(path)}]"


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'the text "{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


#: A review.toml whose arrays or inline tables nest deeper than Python's parser can follow.
_TOO_DEEP = "arrays or inline tables are nested too deeply to read (a review.toml needs two or three levels)"


class _Toml:
    """review.toml with the line of every key, and typed getters that fail with that line."""

    def __init__(self, path: Path) -> None:
        self.source = str(path)
        try:
            limit = max_table_bytes()
            if path.is_file() and path.stat().st_size > limit:
                raise InputError(
                    f"the file is larger than {limit / 1e6:g} MB, the limit for this kind of file "
                    "(set TRIALSYNTH_MAX_TABLE_MB to change it)",
                    file=self.source,
                )
            raw = path.read_bytes()
        except FileNotFoundError:
            raise InputError("the review folder has no review.toml", file=self.source) from None
        except OSError as exc:
            raise InputError(f"the file cannot be read ({exc.strerror or exc})", file=self.source) from None
        try:
            self.text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise self.error_at("the file is not UTF-8 text", line) from None
        try:
            self.data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            match = re.search(r"\(at line (\d+), column \d+\)", message)
            line = int(match.group(1)) if match else None
            reason = message[: match.start()].strip() if match else message
            raise self.error_at(f"this is not valid TOML ({reason})", line) from None
        except RecursionError:
            raise self.error_at(_TOO_DEEP, None) from None
        except ValueError:  # an integer of more than 4,300 digits (Python's limit on int("..."))
            raise self.error_at("a number in the file has too many digits to be read", None) from None
        try:
            self.lines = key_lines(self.text)
        except RecursionError:
            raise self.error_at(_TOO_DEEP, None) from None

    def error_at(self, message: str, line: int | None) -> InputError:
        error = InputError(message, file=self.source)
        if line is not None:
            error.row = line
            error.args = (f"{self.source}, line {line}: {message}".replace("\n", " "),)
        return error

    def error(self, message: str, path: KeyPath) -> InputError:
        return self.error_at(message, line_of(self.lines, path))

    # ------------------------------------------------------------------ structure
    def table(self, value: object, path: KeyPath, keys: tuple[str, ...], required: Collection[str]) -> dict:
        if not isinstance(value, dict):
            raise self.error(f"'{_show(path)}' must be a table, not {_describe(value)}", path)
        for key in value:
            if key not in keys:
                close = difflib.get_close_matches(key, keys, n=1)
                hint = (
                    f"; did you mean '{close[0]}'?" if close else f"; the keys allowed are: {', '.join(keys)}"
                )
                where = f" in {_table_name(path, value)}" if path else ""
                raise self.error(f"unknown key '{key}'{where}{hint}", (*path, key))
        for key in required:
            if key not in value:
                raise self.error(f"{_table_name(path, value)} lacks the required key '{key}'", path)
        return value

    def tables(self, value: object, path: KeyPath) -> list:
        if not isinstance(value, list):
            raise self.error(
                f"'{_show(path)}' must be a list of tables ([[{_show(path)}]]), not {_describe(value)}", path
            )
        return value

    # ------------------------------------------------------------------ scalars
    def text_value(self, table: dict, path: KeyPath, key: str, default: str = "") -> str:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str):
            raise self.error(f"'{key}' must be text in quotes, not {_describe(value)}", (*path, key))
        return value

    def required_text(self, table: dict, path: KeyPath, key: str) -> str:
        value = self.text_value(table, path, key)
        if not value.strip():
            raise self.error(f"'{key}' must not be blank", (*path, key))
        return value

    def identifier(self, table: dict, path: KeyPath, key: str) -> str:
        value = self.required_text(table, path, key)
        if not _ID.fullmatch(value):
            raise self.error(
                f"'{key}' must be an identifier (letters, digits, '_', '-', '.'; no spaces), not \"{value}\"",
                (*path, key),
            )
        return value

    def choice(
        self, table: dict, path: KeyPath, key: str, choices: Collection[str], default: str = ""
    ) -> str:
        if key not in table and default:
            return default
        value = self.required_text(table, path, key)
        if value not in choices:
            hint = ""
            folded = {c.casefold(): c for c in choices}
            if value.strip().casefold() in folded:
                hint = f" (write it as '{folded[value.strip().casefold()]}')"
            raise self.error(f'unknown {key} "{value}"; use one of {", ".join(choices)}{hint}', (*path, key))
        return value

    def boolean(self, table: dict, path: KeyPath, key: str, default: bool = False) -> bool:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            raise self.error(
                f"'{key}' must be true or false (without quotes), not {_describe(value)}", (*path, key)
            )
        return value

    def number(self, table: dict, path: KeyPath, key: str, default: float) -> float:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(
                f"'{key}' must be a number (without quotes), not {_describe(value)}", (*path, key)
            )
        return float(value)

    def text_list(self, table: dict, path: KeyPath, key: str) -> tuple[str, ...]:
        if key not in table:
            return ()
        value = table[key]
        if not isinstance(value, list):
            raise self.error(
                f'\'{key}\' must be a list of texts, ["...", "..."], not {_describe(value)}', (*path, key)
            )
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"'{key}' must list texts in quotes, not {_describe(item)}", (*path, key, i))
        return tuple(value)


def _model(toml: _Toml, value: object, path: KeyPath, origin: str, measure: str | None) -> ModelSpec:
    table = toml.table(value, path, _MODEL, ("method",))
    method = toml.choice(table, path, "method", METHODS)
    hk = toml.boolean(table, path, "hk")
    if hk and method in COUNT_METHODS:
        raise toml.error(
            f"the Hartung–Knapp adjustment (hk = true) does not apply to method {method}", (*path, "hk")
        )
    if measure is not None and method in COUNT_METHODS and measure not in COUNT_METHODS[method]:
        allowed = ", ".join(COUNT_METHODS[method])
        raise toml.error(f"method {method} works with measure {allowed}, not {measure}", (*path, "method"))
    hk_variant = toml.choice(table, path, "hk_variant", ("knha", "adhoc"), "knha")
    if hk_variant != "knha" and not hk:
        raise toml.error("'hk_variant' applies only with hk = true", (*path, "hk_variant"))
    glmm = toml.choice(table, path, "glmm", GLMM_MODELS, default="UM.FS") if method == "GLMM" else None
    fixed = toml.boolean(table, path, "fixed")
    if method != "GLMM" and ("glmm" in table or "fixed" in table):
        key = "glmm" if "glmm" in table else "fixed"
        raise toml.error(f"'{key}' applies to method = \"GLMM\" only, not {method}", (*path, key))
    robust = toml.choice(table, path, "robust", ("CR2",)) if "robust" in table else None
    return ModelSpec(
        robust=robust,
        method=method,
        hk=hk,
        assumption=toml.text_value(table, path, "assumption"),
        origin=origin,
        hk_variant=hk_variant,
        glmm=glmm,
        fixed=fixed,
    )


def _check_tsa(toml: _Toml, values: dict, path: KeyPath, measure: str) -> None:
    """The TSA settings make sense for the outcome's measure (the rules of
    :func:`trialsynth.stats.tsa.required_information_size`), or an error naming the key."""

    def fail(message: str, key: str) -> InputError:
        return toml.error(message, (*path, key))

    alpha, power = values["alpha"], values["power"]
    if alpha is not None and not 0 < alpha < 0.5:
        raise fail(
            f"'alpha' is a two-sided fraction above 0 and below 0.5 (e.g. 0.05), not {alpha:g}", "alpha"
        )
    if power is not None and not 0.5 < power < 1:
        raise fail(f"'power' is a fraction above 0.5 and below 1 (e.g. 0.80), not {power:g}", "power")
    ways = {
        "control_risk and rrr": ("control_risk", "rrr"),
        "mean_difference and sd": ("mean_difference", "sd"),
        "hazard_ratio": ("hazard_ratio",),
    }
    given = [name for name, keys in ways.items() if any(values[k] is not None for k in keys)]
    if not given:
        return
    if len(given) > 1:
        second = next(k for k in ways[given[1]] if values[k] is not None)
        raise fail(f"give the anticipated effect one way, not both {given[0]} and {given[1]}", second)
    keys = ways[given[0]]
    if measure == "HR" and keys == ("control_risk", "rrr") and values["control_risk"] is None:
        keys = ("rrr",)  # an HR review may give the anticipated effect as a relative reduction
    expected = {"HR": ("hazard_ratio", "rrr"), "MD": ("mean_difference",), "SMD": ("mean_difference",)}
    wanted = expected.get(measure, ("control_risk",) if measure in ("OR", "RR", "RD") else keys)
    if keys[0] not in wanted:
        raise fail(f"'{keys[0]}' does not apply to measure {measure}", keys[0])
    for key in keys:
        if values[key] is None:
            raise fail(f"the anticipated effect needs {given[0]}; '{key}' is missing", key)
    risk, rrr = values["control_risk"], values["rrr"]
    if risk is not None and not 0 < risk < 1:
        raise fail(f"'control_risk' is a proportion above 0 and below 1, not {risk:g}", "control_risk")
    if rrr is not None and (rrr == 0 or rrr >= 1 or (risk is not None and rrr <= 1 - 1 / risk)):
        raise fail(
            f"'rrr' is a non-zero relative risk reduction below 1 (0.20 for 20 %) that keeps the "
            f"anticipated risk between 0 and 1, not {rrr:g}",
            "rrr",
        )
    if values["mean_difference"] == 0:
        raise fail("'mean_difference' must not be 0", "mean_difference")
    if values["sd"] is not None and not values["sd"] > 0:
        raise fail(f"'sd' must be above 0, not {values['sd']:g}", "sd")
    hr = values["hazard_ratio"]
    if hr is not None and not (0 < hr and hr != 1):
        raise fail(f"'hazard_ratio' must be above 0 and not 1, not {hr:g}", "hazard_ratio")


def _tsa_settings(toml: _Toml, table: dict, path: KeyPath, measure: str) -> TSASettings | None:
    """An outcome's ``tsa = { alpha = 0.05, power = 0.8, control_risk = 0.55, rrr = 0.2 }``."""
    if "tsa" not in table:
        return None
    t_path = (*path, "tsa")
    t = toml.table(table["tsa"], t_path, _TSA, ())
    values = {
        key: toml.number(t, t_path, key, float("nan")) for key in _TSA if key not in ("diversity", "note")
    }
    for key in values:
        if key in t and not math.isfinite(values[key]):
            raise toml.error(f"'{key}' must be a finite number, not {values[key]}", (*t_path, key))
    values = {key: (None if value != value else value) for key, value in values.items()}
    diversity = t.get("diversity", "auto")
    if not (
        diversity == "auto"
        or (isinstance(diversity, int | float) and not isinstance(diversity, bool) and 0 <= diversity < 1)
    ):
        raise toml.error(
            f"'diversity' must be \"auto\" or a fraction in [0, 1), not {_describe(diversity)}",
            (*t_path, "diversity"),
        )
    _check_tsa(toml, values, t_path, measure)
    return TSASettings(
        alpha=values["alpha"] if values["alpha"] is not None else 0.05,
        power=values["power"] if values["power"] is not None else 0.80,
        control_risk=values["control_risk"],
        rrr=values["rrr"],
        mean_difference=values["mean_difference"],
        sd=values["sd"],
        hazard_ratio=values["hazard_ratio"],
        diversity=diversity,
        note=toml.text_value(t, t_path, "note"),
    )


def _bayes_settings(toml: _Toml, table: dict, path: KeyPath) -> BayesSettings | None:
    """An outcome's ``bayes = { tau_prior = "halfnormal:0.5", mu_prior = "uniform" }``."""
    if "bayes" not in table:
        return None
    b_path = (*path, "bayes")
    b = toml.table(table["bayes"], b_path, _BAYES, ("tau_prior",))
    tau_prior = toml.required_text(b, b_path, "tau_prior")
    from trialsynth.stats.bayes import parse_tau_prior

    try:
        parse_tau_prior(tau_prior)
    except InputError as exc:
        raise toml.error(f"'tau_prior': {exc.reason}", (*b_path, "tau_prior")) from None
    return BayesSettings(
        tau_prior=tau_prior,
        mu_prior=toml.text_value(b, b_path, "mu_prior", "uniform"),
        note=toml.text_value(b, b_path, "note"),
    )


def _fraction(toml: _Toml, table: dict, path: KeyPath, key: str, rule: str, ok) -> float | None:
    if key not in table:
        return None
    value = toml.number(table, path, key, float("nan"))
    if not ok(value):
        raise toml.error(f"'{key}' {rule}, not {value:g}", (*path, key))
    return value


def _grade(toml: _Toml, table: dict, path: KeyPath, data_type: str, measure: str) -> Grade | None:
    """An outcome's ``grade`` table: GRADE judgements and summary-of-findings inputs."""
    if "grade" not in table:
        return None
    g_path = (*path, "grade")
    g = toml.table(table["grade"], g_path, _GRADE, ())
    given = [d for d in GRADE_DOMAINS if d in g]
    if given and len(given) < len(GRADE_DOMAINS):
        missing = ", ".join(d for d in GRADE_DOMAINS if d not in g)
        raise toml.error(
            f"the grade table rates {', '.join(given)} but not {missing}: rate all five domains "
            "(rating = 0 when there is no serious concern) or none (certainty not assessed)",
            g_path,
        )
    domains = []
    for name in given:
        d_path = (*g_path, name)
        d = toml.table(g[name], d_path, _GRADE_DOMAIN, ("rating",))
        rating = d["rating"]
        if isinstance(rating, bool) or rating not in (0, -1, -2):
            raise toml.error(
                f"'rating' is 0 (not serious), -1 (serious) or -2 (very serious), not {_describe(rating)}",
                (*d_path, "rating"),
            )
        reason = toml.text_value(d, d_path, "reason")
        if rating != 0 and not reason.strip():
            raise toml.error(f"{name} is rated down ({rating}): give the 'reason'", d_path)
        domains.append(GradeDomain(domain=name, rating=int(rating), reason=reason))
    acr = _fraction(
        toml,
        g,
        g_path,
        "assumed_control_risk",
        "is a risk between 0 and 1 (0.25 for 25%)",
        lambda v: 0 < v < 1,
    )
    if acr is not None and measure not in ("OR", "RR", "RD", "HR"):
        raise toml.error(
            f"'assumed_control_risk' applies to risks (OR, RR, RD, HR), not to measure {measure}",
            (*g_path, "assumed_control_risk"),
        )
    source = toml.text_value(g, g_path, "control_risk_source")
    if acr is not None and not source.strip():
        raise toml.error(
            "an assumed_control_risk needs its 'control_risk_source'", (*g_path, "assumed_control_risk")
        )
    if acr is None and source.strip():
        raise toml.error(
            "'control_risk_source' is given without an assumed_control_risk", (*g_path, "control_risk_source")
        )
    ois = None
    if "ois" in g:
        o_path = (*g_path, "ois")
        o = toml.table(g["ois"], o_path, _OIS, ())
        positive = ("must be above 0", lambda v: v > 0)
        ois = OISSettings(
            alpha=_fraction(toml, o, o_path, "alpha", "is a fraction between 0 and 1", lambda v: 0 < v < 1)
            or 0.05,
            power=_fraction(toml, o, o_path, "power", "is a fraction between 0 and 1", lambda v: 0 < v < 1)
            or 0.80,
            rrr=_fraction(
                toml, o, o_path, "rrr", "is a non-zero fraction below 1", lambda v: v < 1 and v != 0
            ),
            mean_difference=_fraction(toml, o, o_path, "mean_difference", "must not be 0", lambda v: v != 0),
            sd=_fraction(toml, o, o_path, "sd", *positive),
            hazard_ratio=_fraction(
                toml, o, o_path, "hazard_ratio", "must be above 0 and not 1", lambda v: v > 0 and v != 1
            ),
        )
        kinds = {
            "rrr": ois.rrr is not None,
            "md": ois.mean_difference is not None or ois.sd is not None,
            "hr": ois.hazard_ratio is not None,
        }
        wanted = {"binary": "rrr", "continuous": "md", "time_to_event": "hr"}.get(data_type)
        if sum(kinds.values()) != 1 or (wanted is not None and not kinds[wanted]):
            what = {"rrr": "rrr", "md": "mean_difference and sd", "hr": "hazard_ratio"}
            expected = what[wanted] if wanted else "rrr, mean_difference and sd, or hazard_ratio"
            raise toml.error(
                f"the ois table of a {data_type} outcome gives the anticipated effect as {expected}", o_path
            )
        if kinds["md"] and (ois.mean_difference is None or ois.sd is None):
            raise toml.error("the ois table needs both mean_difference and sd", o_path)
    return Grade(
        domains=tuple(domains),
        assumed_control_risk=acr,
        control_risk_source=source,
        control_risk_from=toml.choice(g, g_path, "control_risk_from", CONTROL_RISK_FROM, "pooled"),
        ois=ois,
        note=toml.text_value(g, g_path, "note"),
    )


def _sensitivity(toml: _Toml, value: object, path: KeyPath, origin: str, measure: str | None):
    if not isinstance(value, list):
        raise toml.error(
            f"'sensitivity' must be a list of models, [{{ method = \"FE\" }}, ...], not {_describe(value)}",
            path,
        )
    return tuple(_model(toml, item, (*path, i), origin, measure) for i, item in enumerate(value))


def _prisma(toml: _Toml, top: dict) -> PrismaCounts | None:
    """The ``[prisma]`` table: flow counts entered by hand (screening done elsewhere).

    A malformed table is an error naming review.toml, the key and its line; counts that do
    not add up are kept as entered and reported in a :class:`TrialsynthWarning` (the report
    lists the same problems beside the diagram).
    """
    if "prisma" not in top:
        return None
    path: KeyPath = ("prisma",)
    if not isinstance(top["prisma"], dict):
        raise toml.error(f"'prisma' must be a table, not {_describe(top['prisma'])}", path)
    try:
        counts = prisma_from_mapping(top["prisma"], file=toml.source)
    except InputError as exc:
        key: KeyPath = path if exc.column is None else (*path, *exc.column.split(".", 1))
        raise toml.error(exc.reason, key) from None
    problems = check_prisma(counts)
    if problems:
        warnings.warn(
            f"{toml.source} [prisma]: the flow counts do not add up: " + "; ".join(problems),
            TrialsynthWarning,
            stacklevel=3,
        )
    return counts


def read_prisma(path: str | Path) -> PrismaCounts | None:
    """The ``[prisma]`` table of a review.toml (``path``: the file or its review folder), read
    and checked as :func:`load_review` reads it (``None`` when the file has none), without
    reading the rest of the review: for ``trialsynth prisma`` on a review that keeps its flow
    counts by hand. Errors name review.toml, the key and its line."""
    path = Path(path)
    toml = _Toml(path / "review.toml" if path.is_dir() else path)
    if not isinstance(toml.data, dict):  # pragma: no cover - tomllib always gives a table
        return None
    return _prisma(toml, toml.data)


def _level(toml: _Toml, table: dict, path: KeyPath, default: float | None) -> float | None:
    """A confidence level in percent, strictly between 50 and 100."""
    if "level" not in table:
        return default
    level = toml.number(table, path, "level", math.nan)  # present: the default is not used
    if not 50.0 < level < 100.0:
        message = f"'level' is a percentage between 50 and 100 (e.g. 95), not {level:g}"
        raise toml.error(message, (*path, "level"))
    return level


def _read_toml(path: Path) -> tuple[_Toml, dict[str, Any]]:
    toml = _Toml(path)
    top = toml.table(toml.data, (), _TOP, ("review", "outcomes"))
    out: dict[str, Any] = {"prisma": _prisma(toml, top)}

    review = toml.table(top["review"], ("review",), _REVIEW, ("title", "question"))
    p = ("review",)
    out["title"] = toml.required_text(review, p, "title")
    out["reproduces"] = toml.text_value(review, p, "reproduces")
    out["summary"] = toml.text_value(review, p, "summary")
    q_path = (*p, "question")
    question = toml.table(review["question"], q_path, _QUESTION, ("population", "intervention", "comparator"))
    out["question"] = Question(
        population=toml.required_text(question, q_path, "population"),
        intervention=toml.required_text(question, q_path, "intervention"),
        comparator=toml.required_text(question, q_path, "comparator"),
        outcomes=toml.text_value(question, q_path, "outcomes"),
    )
    e_path = (*p, "eligibility")
    eligibility = toml.table(review.get("eligibility", {}), e_path, _ELIGIBILITY, ())
    out["eligibility"] = Eligibility(
        inclusion=toml.text_list(eligibility, e_path, "inclusion"),
        exclusion=toml.text_list(eligibility, e_path, "exclusion"),
        note=toml.text_value(eligibility, e_path, "note"),
    )

    s_path = ("search",)
    search = toml.table(top.get("search", {}), s_path, _SEARCH, ())
    out["search"] = Search(
        databases=toml.text_list(search, s_path, "databases"),
        queries=toml.text_list(search, s_path, "queries"),
        period=toml.text_value(search, s_path, "period"),
        last_searched=toml.text_value(search, s_path, "last_searched"),
        note=toml.text_value(search, s_path, "note"),
    )

    a_path = ("analysis",)
    analysis = toml.table(top.get("analysis", {}), a_path, _ANALYSIS, ())
    level = _level(toml, analysis, a_path, DEFAULT_LEVEL)
    default_model = (
        _model(toml, analysis["model"], (*a_path, "model"), "analysis", None)
        if "model" in analysis
        else DEFAULT_MODEL
    )
    default_sensitivity = (
        _sensitivity(toml, analysis["sensitivity"], (*a_path, "sensitivity"), "analysis", None)
        if "sensitivity" in analysis
        else ()
    )
    out["analysis"] = AnalysisDefaults(
        profile=toml.choice(analysis, a_path, "profile", PROFILES, DEFAULT_PROFILE),
        level=DEFAULT_LEVEL if level is None else level,
        model=default_model,
        sensitivity=default_sensitivity,
        label_treatment=toml.text_value(analysis, a_path, "label_treatment", DEFAULT_LABEL_TREATMENT),
        label_control=toml.text_value(analysis, a_path, "label_control", DEFAULT_LABEL_CONTROL),
    )

    sets: list[AnalysisSet] = []
    for i, item in enumerate(toml.tables(top.get("analysis_sets", []), ("analysis_sets",))):
        path_i = ("analysis_sets", i)
        table = toml.table(item, path_i, _SET, ("id", "name"))
        set_id = toml.identifier(table, path_i, "id")
        if set_id in {s.id for s in sets}:
            raise toml.error(f"analysis set id '{set_id}' is used twice", (*path_i, "id"))
        sets.append(
            AnalysisSet(
                id=set_id,
                name=toml.required_text(table, path_i, "name"),
                description=toml.text_value(table, path_i, "description"),
            )
        )
    out["analysis_sets"] = tuple(sets) or (DEFAULT_SET,)

    outcomes: list[Outcome] = []
    items = toml.tables(top["outcomes"], ("outcomes",))
    if not items:
        raise toml.error("the review needs at least one [[outcomes]] table", ("outcomes",))
    for i, item in enumerate(items):
        path_i = ("outcomes", i)
        table = toml.table(item, path_i, _OUTCOME, ("id", "name", "data_type", "measure", "better"))
        outcome_id = toml.identifier(table, path_i, "id")
        if outcome_id in {o.id for o in outcomes}:
            raise toml.error(f"outcome id '{outcome_id}' is used twice", (*path_i, "id"))
        data_type = toml.choice(table, path_i, "data_type", DATA_TYPES)
        measure = toml.choice(table, path_i, "measure", MEASURES)
        if measure not in TYPE_MEASURES[data_type]:
            raise toml.error(
                f"measure {measure} does not go with data_type {data_type} "
                f'(use {", ".join(TYPE_MEASURES[data_type])}, or data_type "generic")',
                (*path_i, "measure"),
            )
        if "model" in table:
            model = _model(toml, table["model"], (*path_i, "model"), "outcome", measure)
        else:
            model = _model_for(toml, default_model, outcome_id, measure, (*a_path, "model"))
        if "sensitivity" in table:
            sensitivity = _sensitivity(
                toml, table["sensitivity"], (*path_i, "sensitivity"), "outcome", measure
            )
        else:
            sensitivity = tuple(
                _model_for(toml, m, outcome_id, measure, (*a_path, "sensitivity", j))
                for j, m in enumerate(default_sensitivity)
            )
        outcomes.append(
            Outcome(
                id=outcome_id,
                name=toml.required_text(table, path_i, "name"),
                data_type=data_type,
                measure=measure,
                better=toml.choice(table, path_i, "better", BETTER),
                unit=toml.text_value(table, path_i, "unit"),
                label_treatment=toml.text_value(
                    table, path_i, "label_treatment", out["analysis"].label_treatment
                ),
                label_control=toml.text_value(table, path_i, "label_control", out["analysis"].label_control),
                model=model,
                sensitivity=sensitivity,
                definition=toml.text_value(table, path_i, "definition"),
                primary=toml.boolean(table, path_i, "primary"),
                note=toml.text_value(table, path_i, "note"),
                tsa=_tsa_settings(toml, table, path_i, measure),
                bayes=_bayes_settings(toml, table, path_i),
                grade=_grade(toml, table, path_i, data_type, measure),
                level=_level(toml, table, path_i, None),
            )
        )
    out["outcomes"] = tuple(outcomes)

    subgroups: list[tuple[Subgroup, KeyPath]] = []
    for i, item in enumerate(toml.tables(top.get("subgroups", []), ("subgroups",))):
        path_i = ("subgroups", i)
        table = toml.table(item, path_i, _SUBGROUP, ("column",))
        column = toml.required_text(table, path_i, "column")
        name = toml.text_value(table, path_i, "name", column)
        subgroups.append((Subgroup(column, name, toml.text_value(table, path_i, "description")), path_i))
    out["subgroups"] = subgroups

    cumulative = None
    if "cumulative" in top:
        c_path = ("cumulative",)
        table = toml.table(top["cumulative"], c_path, _CUMULATIVE, ("order_by",))
        cumulative = Cumulative(
            order_by=toml.required_text(table, c_path, "order_by"),
            name=toml.text_value(table, c_path, "name"),
        )
    out["cumulative"] = cumulative

    moderators: list[tuple[Moderator, KeyPath]] = []
    for i, item in enumerate(toml.tables(top.get("moderators", []), ("moderators",))):
        path_i = ("moderators", i)
        table = toml.table(item, path_i, _MODERATOR, ("column",))
        column = toml.required_text(table, path_i, "column")
        moderators.append(
            (
                Moderator(
                    column,
                    toml.text_value(table, path_i, "name", column),
                    toml.text_value(table, path_i, "unit"),
                ),
                path_i,
            )
        )
    out["moderators"] = moderators
    out["networks"] = _networks(toml, top)
    return toml, out


def _networks(toml: _Toml, top: dict) -> tuple[NetworkSpec, ...]:
    """``[[networks]]``: each names a CSV inside the review folder (checked when it is read)."""
    networks: list[NetworkSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(toml.tables(top.get("networks", []), ("networks",))):
        path_i = ("networks", i)
        table = toml.table(item, path_i, _NETWORK, ("id", "file", "measure"))
        ident = toml.required_text(table, path_i, "id")
        if not _ID.fullmatch(ident) or ident in seen:
            problem = (
                "is used twice" if ident in seen else "is not an identifier (letters, digits, '_', '-', '.')"
            )
            raise toml.error(f"network id '{ident}' {problem}", (*path_i, "id"))
        seen.add(ident)
        name = toml.required_text(table, path_i, "file")
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or not name.lower().endswith(".csv"):
            raise toml.error(
                f"network file '{name}' must be a .csv file inside the review folder", (*path_i, "file")
            )
        networks.append(
            NetworkSpec(
                id=ident,
                name=toml.text_value(table, path_i, "name", ident),
                file=relative,
                measure=toml.choice(table, path_i, "measure", NETWORK_MEASURES),
                reference=toml.text_value(table, path_i, "reference") or None,
                method=toml.choice(table, path_i, "method", NETWORK_METHODS, default="REML"),
                better=toml.choice(table, path_i, "better", ("lower", "higher"), default="lower"),
                description=toml.text_value(table, path_i, "description"),
                add=_correction(toml, table, path_i),
                to=toml.choice(table, path_i, "to", ("only0", "all", "none"), default="only0"),
            )
        )
    return tuple(networks)


def _correction(toml: _Toml, table: dict, path: KeyPath) -> float:
    add = toml.number(table, path, "add", 0.5)
    if not 0 <= add <= 1:
        raise toml.error(
            f"the continuity correction 'add' must be between 0 and 1, not {add:g}", (*path, "add")
        )
    return add


def _model_for(toml: _Toml, model: ModelSpec, outcome: str, measure: str, path: KeyPath) -> ModelSpec:
    """A review-wide model applied to one outcome: it must suit the outcome's measure."""
    if model.method in COUNT_METHODS and measure not in COUNT_METHODS[model.method]:
        raise toml.error(
            f"method {model.method} works with measure {', '.join(COUNT_METHODS[model.method])}, not with "
            f"outcome '{outcome}' ({measure}); give that outcome its own model or sensitivity list",
            path,
        )
    return model


# =============================================================================== CSV files


class _Rows:
    """Cell checks for one CSV table, failing with file, row and column."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def fail(self, message: str, row: int, column: str | None = None) -> InputError:
        shown = self.table.name(column) if column is not None and self.table.has(column) else column
        return InputError(message, file=self.table.source, row=row, column=shown)

    def required(self, cells: tuple[str, ...], row: int, column: str, what: str = "") -> str:
        value = self.table.cell(cells, column)
        if not value.strip():
            raise self.fail(f"this cell must not be blank{what}", row, column)
        return value

    def choice(self, cells, row, column, choices, *, blank: str | None = None) -> str:
        value = self.table.cell(cells, column).strip()
        if not value and blank is not None:
            return blank
        if value not in choices:
            raise self.fail(f"'{value}' is not one of {', '.join(choices)}", row, column)
        return value

    def identifier(self, cells, row, column) -> str:
        value = self.required(cells, row, column).strip()
        if not _ID.fullmatch(value):
            raise self.fail(
                f"'{value}' is not an identifier (letters, digits, '_', '-', '.'; no spaces)", row, column
            )
        return value

    def number(
        self,
        cells,
        row,
        column,
        *,
        whole: bool = False,
        check: Callable[[float], bool] | None = None,
        rule: str = "",
    ) -> float | None:
        text = self.table.cell(cells, column).strip()
        if not text:
            return None
        value = _parse_number(text)
        if value is None:
            raise self.fail(
                f"'{text}' is not a number (leave the cell blank if it is not known)", row, column
            )
        if abs(value) > bounds.MAX_MAGNITUDE:
            raise self.fail(
                f"'{text}' is beyond the magnitude a trial can report ({bounds.MAX_MAGNITUDE:g})", row, column
            )
        if whole and not value.is_integer():
            raise self.fail(f"'{text}' is not a whole number", row, column)
        if check is not None and not check(value):
            raise self.fail(f"'{text}' {rule}", row, column)
        return value

    def kind(self, cells, row, *, blank_ok: bool = False) -> str:
        kind = self.choice(cells, row, "kind", KINDS, blank="" if blank_ok else None)
        if kind == "derived" and not self.table.cell(cells, "note").strip():
            raise self.fail("a derived number needs a note saying how it was derived", row, "note")
        return kind

    def sets(self, cells, row, declared: tuple[str, ...]) -> tuple[str, ...] | None:
        """The analysis sets named in the row's analysis_set cell (None when blank: all sets)."""
        text = self.table.cell(cells, "analysis_set").strip()
        if not text:
            return None
        names = [part.strip() for part in text.split(";")]
        for name in names:
            if name not in declared:
                raise self.fail(
                    f"unknown analysis set '{name}' (review.toml declares: {', '.join(declared)})",
                    row,
                    "analysis_set",
                )
        if len(set(names)) != len(names):
            raise self.fail(f"an analysis set is named twice in '{text}'", row, "analysis_set")
        return tuple(names)


def _parse_number(text: str) -> float | None:
    candidate = text.strip().replace("\u2212", "-")
    if not _NUMBER.fullmatch(candidate):
        return None
    return float(candidate)


def _read_studies(path: Path, sets: tuple[str, ...]) -> tuple[tuple[Study, ...], Table]:
    table = read_table(
        path,
        required=STUDY_REQUIRED,
        optional=STUDY_OPTIONAL,
        open_columns=True,
        numeric=("year", "n_randomised_treatment", "n_randomised_control"),
    )
    rows = _Rows(table)
    studies: list[Study] = []
    seen: dict[str, int] = {}
    labels: dict[str, int] = {}
    for number, cells in table:
        study_id = rows.identifier(cells, number, "id")
        if study_id == POOLED:
            raise rows.fail(
                f"'{POOLED}' is reserved for a published review's own pooled figures", number, "id"
            )
        if study_id in seen:
            raise rows.fail(
                f"study id '{study_id}' appears twice (rows {seen[study_id]} and {number})", number, "id"
            )
        seen[study_id] = number
        label = rows.required(cells, number, "label")
        if label in labels:
            raise rows.fail(
                f"the label '{label}' is used twice (rows {labels[label]} and {number})", number, "label"
            )
        labels[label] = number
        rows.required(cells, number, "year")
        year = rows.number(cells, number, "year", whole=True)
        if year is None:
            raise rows.fail("the year is blank", number, "year")
        n_t, n_c = (
            rows.number(
                cells,
                number,
                column,
                whole=True,
                check=lambda v: 0 < v <= bounds.MAX_COUNT,
                rule=f"must be above 0 and at most {bounds.MAX_COUNT:.0e} (a number of patients per arm)",
            )
            for column in ("n_randomised_treatment", "n_randomised_control")
        )
        studies.append(
            Study(
                id=study_id,
                label=label,
                citation=rows.required(cells, number, "citation"),
                year=int(year),
                source=rows.required(cells, number, "source"),
                design=table.cell(cells, "design"),
                n_randomised_treatment=None if n_t is None else int(n_t),
                n_randomised_control=None if n_c is None else int(n_c),
                follow_up=table.cell(cells, "follow_up"),
                status=rows.choice(cells, number, "status", STATUSES, blank="included"),
                note=table.cell(cells, "note"),
                kind=rows.kind(cells, number, blank_ok=True),
                analysis_sets=rows.sets(cells, number, sets) or sets,
                attributes=MappingProxyType(
                    {name.strip(): cells[i] for i, name in enumerate(table.header) if name.strip()}
                ),
                row=number,
            )
        )
    if not studies:
        raise InputError("there are no studies below the header row", file=table.source, row=table.header_row)
    return tuple(studies), table


def _check_study_columns(toml: _Toml, studies_table: Table, parsed: dict) -> None:
    """Subgroup, moderator and cumulative columns must be columns of studies.csv."""
    rows = _Rows(studies_table)
    named: list[tuple[str, KeyPath, str]] = [(s.column, p, "subgroup") for s, p in parsed["subgroups"]]
    named += [(m.column, p, "moderator") for m, p in parsed["moderators"]]
    if parsed["cumulative"] is not None:
        named.append((parsed["cumulative"].order_by, ("cumulative",), "cumulative"))
    for column, path, what in named:
        key = "order_by" if what == "cumulative" else "column"
        if not studies_table.has(column):
            raise toml.error(
                f"the {what} column '{column}' is not a column of {studies_table.source}", (*path, key)
            )
        if what == "subgroup":
            continue
        for number, cells in studies_table:
            if what == "cumulative":
                rows.required(cells, number, column, " (the cumulative analysis orders studies by it)")
            rows.number(cells, number, column)


def _read_outcomes(
    path: Path,
    outcomes: tuple[Outcome, ...],
    studies: tuple[Study, ...],
    sets: tuple[str, ...],
    order_by: str | None,
    subgroup_columns: tuple[str, ...] = (),
) -> tuple[tuple[OutcomeRow, ...], Table]:
    optional = OUTCOME_OPTIONAL + ((order_by,) if order_by else ()) + subgroup_columns
    table = read_table(path, required=OUTCOME_REQUIRED, optional=optional, numeric=NUMERIC_COLUMNS)
    rows = _Rows(table)
    outcome_ids = [o.id for o in outcomes]
    by_id = {s.id: s for s in studies}
    data_columns = [c for c in DATA_COLUMNS if table.has(c)]
    records: list[OutcomeRow] = []
    used: dict[tuple[str, str, str, str], int] = {}
    for number, cells in table:
        outcome = rows.required(cells, number, "outcome").strip()
        if outcome not in outcome_ids:
            raise rows.fail(
                f"unknown outcome '{outcome}' (review.toml has: {', '.join(outcome_ids)})", number, "outcome"
            )
        study_id = rows.required(cells, number, "study").strip()
        if study_id not in by_id:
            raise rows.fail(f"unknown study '{study_id}' (not an id in studies.csv)", number, "study")
        study = by_id[study_id]
        use = rows.choice(cells, number, "use", USE) == "yes"
        has_data = any(table.cell(cells, c).strip() for c in data_columns)
        if use and not has_data:
            raise rows.fail(
                "use is 'yes' but the row has no data; give the data, or set use to 'no' and say in the note "
                "why there are none",
                number,
                "use",
            )
        if not has_data and not table.cell(cells, "note").strip():
            raise rows.fail(
                "a row without data (a data gap) needs a note saying why there are none", number, "note"
            )
        kind = rows.kind(cells, number, blank_ok=not has_data)
        if has_data:
            rows.required(cells, number, "source")
        row_sets = rows.sets(cells, number, sets)
        if row_sets is None:
            row_sets = study.analysis_sets
        else:
            outside = [s for s in row_sets if s not in study.analysis_sets]
            if outside:
                raise rows.fail(
                    f"study '{study_id}' is not in analysis set '{outside[0]}' (see its analysis_set in "
                    "studies.csv)",
                    number,
                    "analysis_set",
                )
        if order_by:
            rows.number(cells, number, order_by)
        if use:
            es_id = table.cell(cells, "es_id").strip()
            for set_id in row_sets:
                key = (study_id, outcome, set_id, es_id)
                if key in used and es_id:
                    raise rows.fail(
                        f"es_id '{es_id}' appears twice for study '{study_id}' and outcome '{outcome}' "
                        f"(row {used[key]}); each effect size of a study needs its own es_id",
                        number,
                        "es_id",
                    )
                if key in used:
                    raise rows.fail(
                        f"study '{study_id}' already has a used row for outcome '{outcome}' in analysis set "
                        f"'{set_id}' (row {used[key]}); a study enters an analysis once: set use to 'no' on "
                        "one of them, put them in different analysis sets, or give each row an es_id to fit "
                        "a multilevel model",
                        number,
                        "use",
                    )
                used[key] = number
        records.append(
            OutcomeRow(
                row=number,
                outcome=outcome,
                study=study_id,
                use=use,
                has_data=has_data,
                kind=kind,
                source=table.cell(cells, "source"),
                note=table.cell(cells, "note"),
                denominator=rows.choice(cells, number, "denominator", DENOMINATORS, blank=""),
                definition=table.cell(cells, "definition"),
                analysis_sets=row_sets,
                cells=MappingProxyType(
                    {name.strip().casefold(): cells[i] for i, name in enumerate(table.header) if name.strip()}
                ),
                raw=cells,
            )
        )

    check_nesting(records, table.source)
    # Every included study has a row for every outcome in every set it is in: data or a noted gap.
    for outcome in outcome_ids:
        for study in studies:
            for set_id in study.analysis_sets:
                if not any(
                    r.outcome == outcome and r.study == study.id and set_id in r.analysis_sets
                    for r in records
                ):
                    raise InputError(
                        f"study '{study.id}' has no row for outcome '{outcome}'"
                        + (f" in analysis set '{set_id}'" if len(sets) > 1 else "")
                        + "; add a row with the data cells blank, use 'no' and a note saying why there "
                        "are no data",
                        file=table.source,
                    )
    return tuple(records), table


def _study_or_pooled(rows: _Rows, cells, number: int, study_ids: Collection[str]) -> str:
    study = rows.required(cells, number, "study").strip()
    if study != POOLED and study not in study_ids:
        raise rows.fail(
            f"unknown study '{study}' (not an id in studies.csv, nor '{POOLED}' for the review's "
            "pooled figures)",
            number,
            "study",
        )
    return study


def _read_baseline(path: Path, study_ids: Collection[str]) -> tuple[BaselineValue, ...]:
    table = read_table(path, required=BASELINE_REQUIRED, optional=("note",))
    rows = _Rows(table)
    out: list[BaselineValue] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for number, cells in table:
        study = _study_or_pooled(rows, cells, number, study_ids)
        characteristic = rows.required(cells, number, "characteristic")
        arm = rows.choice(cells, number, "arm", ARMS)
        statistic = rows.choice(cells, number, "statistic", STATISTICS)
        key = (study, characteristic.strip(), arm, statistic)
        if key in seen:
            raise rows.fail(
                f"{statistic} of '{characteristic}' ({arm}) for '{study}' is given twice "
                f"(rows {seen[key]} and {number}); keep one and record the other in its note",
                number,
                "statistic",
            )
        seen[key] = number
        value = rows.required(cells, number, "value")
        note = table.cell(cells, "note")
        number_value = _parse_number(value)
        low = high = None
        if number_value is None or statistic in _RANGE_STATISTICS:
            match = _RANGE.fullmatch(value.replace("\u2212", "-"))
            if match is None:
                expected = "a range such as 25–40" if statistic in _RANGE_STATISTICS else "a number"
                raise rows.fail(f"'{value}' is not {expected}", number, "value")
            low, high = float(match.group(1)), float(match.group(2))
            if low > high:
                raise rows.fail(f"the range '{value}' runs backwards", number, "value")
            if statistic not in _RANGE_STATISTICS and not note.strip():
                raise rows.fail(
                    f"a {statistic} given as a range needs a note saying why "
                    "(e.g. one value per arm, without saying which)",
                    number,
                    "note",
                )
        # a range (low, high) when the value is not one number; both are set then
        checks = [v for v in (low, high) if v is not None] if number_value is None else [number_value]
        for v in checks:
            if abs(v) > bounds.MAX_MAGNITUDE:
                raise rows.fail(
                    f"'{value}' is beyond the magnitude a trial can report ({bounds.MAX_MAGNITUDE:g})",
                    number,
                    "value",
                )
            if statistic in ("n", "count") and not (v >= 0 and v.is_integer()):
                raise rows.fail(f"a {statistic} must be a whole number, not '{value}'", number, "value")
            if statistic == "percent" and not 0 <= v <= 100:
                raise rows.fail(f"a percentage lies between 0 and 100, not '{value}'", number, "value")
            if statistic == "sd" and v <= 0:
                raise rows.fail(f"a standard deviation must be above 0, not '{value}'", number, "value")
        out.append(
            BaselineValue(
                study=study,
                characteristic=characteristic,
                arm=arm,
                statistic=statistic,
                value=value,
                number=number_value,
                low=low,
                high=high,
                source=rows.required(cells, number, "source"),
                kind=rows.kind(cells, number),
                note=note,
                row=number,
            )
        )
    return tuple(out)


def _read_lead_positions(path: Path, study_ids: Collection[str]) -> tuple[LeadPosition, ...]:
    table = read_table(path, required=LEAD_REQUIRED, optional=("note",))
    rows = _Rows(table)
    out: list[LeadPosition] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, cells in table:
        study = _study_or_pooled(rows, cells, number, study_ids)
        arm = rows.choice(cells, number, "arm", ARMS)
        position = rows.required(cells, number, "position")
        key = (study, arm, position.strip())
        if key in seen:
            raise rows.fail(
                f"this position is given twice (rows {seen[key]} and {number})", number, "position"
            )
        seen[key] = number
        rows.required(cells, number, "percent")
        percent = rows.number(
            cells, number, "percent", check=lambda v: 0 <= v <= 100, rule="is not a percentage"
        )
        if percent is None:
            raise rows.fail("the percent is blank", number, "percent")
        out.append(
            LeadPosition(
                study=study,
                arm=arm,
                position=position,
                percent=percent,
                percent_text=table.cell(cells, "percent"),
                source=rows.required(cells, number, "source"),
                kind=rows.kind(cells, number),
                note=table.cell(cells, "note"),
                row=number,
            )
        )
    return tuple(out)


def _read_reported(path: Path, outcomes: tuple[Outcome, ...], sets: tuple[str, ...]) -> tuple[Reported, ...]:
    table = read_table(path, required=REPORTED_REQUIRED, optional=REPORTED_OPTIONAL)
    rows = _Rows(table)
    measures = {o.id: o.measure for o in outcomes}
    out: list[Reported] = []
    seen: dict[tuple[str, str], int] = {}
    for number, cells in table:
        outcome = rows.required(cells, number, "outcome").strip()
        if outcome not in measures:
            raise rows.fail(
                f"unknown outcome '{outcome}' (review.toml has: {', '.join(measures)})", number, "outcome"
            )
        text = table.cell(cells, "analysis_set").strip()
        if text and text not in sets:
            raise rows.fail(
                f"unknown analysis set '{text}' (review.toml declares: {', '.join(sets)})",
                number,
                "analysis_set",
            )
        set_id = text or sets[0]
        if (outcome, set_id) in seen:
            raise rows.fail(
                f"outcome '{outcome}' has a reported result twice "
                f"(rows {seen[outcome, set_id]} and {number})",
                number,
                "outcome",
            )
        seen[outcome, set_id] = number
        ratio = measures[outcome] in ("OR", "RR", "HR")
        values = {}
        for column in ("estimate", "ci_lower", "ci_upper"):
            values[column] = rows.number(
                cells,
                number,
                column,
                check=(lambda v: v > 0) if ratio else None,
                rule=f"must be above 0: give the {measures[outcome]} itself, not its logarithm",
            )
        est, lower, upper = values["estimate"], values["ci_lower"], values["ci_upper"]
        if (lower is None) != (upper is None):
            raise rows.fail(
                "give both confidence limits or neither", number, "ci_lower" if lower is None else "ci_upper"
            )
        if lower is not None and upper is not None:
            if lower >= upper:
                raise rows.fail("the lower confidence limit is not below the upper one", number, "ci_lower")
            if est is not None and not lower <= est <= upper:
                raise rows.fail("the estimate lies outside its confidence interval", number, "estimate")
        p_text = table.cell(cells, "p_value")
        p_value, p_bound = _reported_p(rows, p_text, number)
        k, n = (
            rows.number(cells, number, c, whole=True, check=lambda v: v > 0, rule="must be above 0")
            for c in ("k", "n")
        )
        out.append(
            Reported(
                outcome=outcome,
                analysis_set=set_id,
                estimate=est,
                ci_lower=lower,
                ci_upper=upper,
                p_value=p_value,
                p_bound=p_bound,
                estimate_text=table.cell(cells, "estimate"),
                ci_lower_text=table.cell(cells, "ci_lower"),
                ci_upper_text=table.cell(cells, "ci_upper"),
                p_value_text=p_text,
                k=None if k is None else int(k),
                n=None if n is None else int(n),
                unit=table.cell(cells, "unit"),
                source=rows.required(cells, number, "source"),
                note=table.cell(cells, "note"),
                row=number,
            )
        )
    return tuple(out)


def _reported_p(rows: _Rows, text: str, number: int) -> tuple[float | None, str]:
    if not text.strip():
        return None, ""
    match = _P_BOUND.fullmatch(text)
    bound = "" if match is None else ("upper" if match.group(1) in ("<", "<=", "≤") else "lower")
    value = _parse_number(text if match is None else match.group(2))
    if value is None or not 0 < value <= 1:
        raise rows.fail(f"'{text}' is not a p-value (e.g. .01, 0.04 or <.01)", number, "p_value")
    return value, bound


# =============================================================================== the folder


def _table_file(folder: Path, stem: str) -> Path:
    """``studies.csv`` or, in its place, ``studies.xlsx`` (the first sheet); not both."""
    csv_file, workbook = folder / f"{stem}.csv", folder / f"{stem}.xlsx"
    if workbook.exists() and csv_file.exists():
        raise InputError(
            f"both {stem}.csv and {stem}.xlsx are in the folder: keep one of them",
            file=str(folder),
        )
    return workbook if workbook.exists() else csv_file


def load_review(path: str | Path) -> Review:
    """Load and check a review folder; raise :class:`InputError` naming the file and
    line (review.toml) or row and column (CSV files) of the first problem."""
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("the review folder does not exist (or is not a folder)", file=str(folder))
    toml, parsed = _read_toml(folder / "review.toml")
    set_ids = tuple(s.id for s in parsed["analysis_sets"])
    studies, studies_table = _read_studies(_table_file(folder, "studies"), set_ids)
    _check_study_columns(toml, studies_table, parsed)
    cumulative: Cumulative | None = parsed["cumulative"]
    outcome_rows, outcomes_table = _read_outcomes(
        _table_file(folder, "outcomes"),
        parsed["outcomes"],
        studies,
        set_ids,
        None if cumulative is None else cumulative.order_by,
        tuple(s.column for s, _ in parsed["subgroups"]),
    )
    study_ids = [s.id for s in studies]
    files = {
        "review.toml": toml.source,
        "studies.csv": studies_table.source,
        "outcomes.csv": outcomes_table.source,
    }
    optional: dict[str, Any] = {"baseline": (), "lead_positions": (), "reported": (), "risk_of_bias": ()}
    optional["rob2_signalling"] = ()
    grade_file = folder / GRADE_FILE
    if grade_file.exists():
        ratings = read_grade_csv(grade_file, [o.id for o in parsed["outcomes"]])
        parsed["outcomes"] = apply_grade_csv(parsed["outcomes"], ratings)
        files[GRADE_FILE] = str(grade_file)
    outcome_ids = [o.id for o in parsed["outcomes"]]
    for name, key, reader in (
        ("baseline.csv", "baseline", lambda p: _read_baseline(p, study_ids)),
        ("lead_position.csv", "lead_positions", lambda p: _read_lead_positions(p, study_ids)),
        ("reported.csv", "reported", lambda p: _read_reported(p, parsed["outcomes"], set_ids)),
        ("risk_of_bias.csv", "risk_of_bias", lambda p: read_risk_of_bias(p, study_ids, outcome_ids)),
        (SIGNALLING_FILE, "rob2_signalling", lambda p: read_signalling(p, study_ids, outcome_ids)),
    ):
        file = folder / name
        if file.exists():
            optional[key] = reader(file)
            files[name] = str(file)
    return Review(
        path=folder,
        title=parsed["title"],
        reproduces=parsed["reproduces"],
        summary=parsed["summary"],
        question=parsed["question"],
        eligibility=parsed["eligibility"],
        search=parsed["search"],
        analysis=parsed["analysis"],
        analysis_sets=parsed["analysis_sets"],
        outcomes=parsed["outcomes"],
        subgroups=tuple(s for s, _ in parsed["subgroups"]),
        cumulative=cumulative,
        moderators=tuple(m for m, _ in parsed["moderators"]),
        studies=studies,
        outcome_header=outcomes_table.header,
        outcome_rows=outcome_rows,
        reported=optional["reported"],
        baseline=optional["baseline"],
        lead_positions=optional["lead_positions"],
        files=MappingProxyType(files),
        prisma=parsed["prisma"],
        networks=_existing_networks(folder, parsed["networks"], files),
        risk_of_bias=optional["risk_of_bias"],
        rob2_signalling=optional["rob2_signalling"],
    )


def _existing_networks(folder: Path, networks, files: dict[str, str]):
    """The networks with their files resolved in ``folder``; a missing file is an error."""
    out = []
    for spec in networks:
        file = folder / spec.file
        if not file.is_file():
            raise InputError(
                f"network '{spec.id}': no file '{spec.file}' in the review folder",
                file=str(folder / "review.toml"),
            )
        files[str(spec.file)] = str(file)
        out.append(replace(spec, file=file))
    return tuple(out)
