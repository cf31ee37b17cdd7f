"""Issue 15: values no trial can report are input errors naming file, row and column, in the pool
CSV and in a review folder — never a NaN estimate, an ``inf%`` weight, a silently dropped study
or an OverflowError. Control characters in cells are refused; TSA settings are checked at load.

The bounds are those documented in :mod:`trialsynth._core.bounds`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialsynth._core.errors import InputError
from trialsynth.cli.main import main
from trialsynth.io.poolcsv import read_pool_csv
from trialsynth.io.review import load_review

BCG = Path(__file__).resolve().parents[2] / "src" / "trialsynth" / "examples" / "bcg"


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize(
    ("text", "measure", "column", "words"),
    [
        # An SE of 1e-200 made the pooled estimate NaN with no error.
        ("study,estimate,se\nA,0.1,1e-200\nB,0.2,0.1\n", "MD", "se", "outside the range"),
        # A variance of 1e308 (SE 1e154) printed a weight of inf%.
        ("study,estimate,se\nA,0.1,1e154\nB,0.2,0.1\n", "MD", "se", "outside the range"),
        # n = 1e308 or SD = 1e200 overflowed into a silently dropped study.
        (
            "study,mean_treatment,sd_treatment,n_treatment,mean_control,sd_control,n_control\n"
            "A,1,1,1e308,2,1,10\nB,1,1,10,2,1,10\n",
            "MD",
            "n_treatment",
            "more than any trial",
        ),
        (
            "study,mean_treatment,sd_treatment,n_treatment,mean_control,sd_control,n_control\n"
            "A,1,1e200,10,2,1,10\nB,1,1,10,2,1,10\n",
            "MD",
            "sd_treatment",
            "outside the range",
        ),
        # A CI given as 1e-300 to 1e308 (OverflowError when back-transformed).
        (
            "study,estimate,ci_lower,ci_upper\nA,1,1e-300,1e308\nB,0.8,0.6,0.9\n",
            "OR",
            "ci_upper",
            "magnitude",
        ),
        (
            "study,estimate,ci_lower,ci_upper\nA,1,1e-300,2\nB,0.8,0.6,0.9\n",
            "OR",
            "ci_lower",
            "plausible ratio",
        ),
        ("study,log_estimate,se\nA,1000,0.1\nB,0.2,0.1\n", "OR", "log_estimate", "implausible"),
        (
            "study,events_treatment,n_treatment,events_control,n_control\nA,1,2e9,1,10\n",
            "OR",
            "n_treatment",
            r"1e\+09",
        ),
        ("study,estimate,se\nA,1e11,0.1\nB,0.2,0.1\n", "MD", "estimate", "magnitude"),
    ],
)
def test_implausible_values_are_refused_with_file_row_and_column(tmp_path, text, measure, column, words):
    path = _csv(tmp_path, text)
    with pytest.raises(InputError, match=words) as err:
        read_pool_csv(path, measure=measure)
    assert err.value.file == str(path) and err.value.row == 2 and err.value.column == column
    # The CLI says the same in one line, without a traceback.
    result = CliRunner().invoke(main, ["pool", str(path), "--measure", measure])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"row 2, column '{column}'" in result.output


def test_values_at_the_bounds_are_accepted(tmp_path):
    path = _csv(tmp_path, "study,estimate,se\nA,1e10,1e10\nB,-1e10,1e-10\nC,0.2,0.1\n")
    assert len(read_pool_csv(path, measure="MD").labels) == 3


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f"])
def test_control_characters_in_a_label_are_refused(tmp_path, char):
    path = _csv(tmp_path, f"study,estimate,se\nA{char}x,0.1,0.1\nB,0.2,0.1\n")
    with pytest.raises(InputError, match=f"control character \\(U\\+{ord(char):04X}\\)") as err:
        read_pool_csv(path, measure="MD")
    assert (err.value.row, err.value.column) == (2, "study")


def test_a_tab_inside_a_quoted_label_is_not_a_control_character(tmp_path):
    path = _csv(tmp_path, 'study,estimate,se\n"A\tB",0.1,0.1\nC,0.2,0.1\n')
    assert read_pool_csv(path, measure="MD").labels[0] == "A\tB"


# ------------------------------------------------------------------ the review folder


@pytest.fixture
def bcg(tmp_path) -> Path:
    folder = tmp_path / "bcg"
    shutil.copytree(BCG, folder)
    return folder


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_review_outcomes_with_an_implausible_n_name_outcomes_csv(bcg):
    _replace(bcg / "outcomes.csv", "tb,aronson1948,yes,4,123,", "tb,aronson1948,yes,4,1e308,")
    from trialsynth.workflow.runner import analyse_review

    with pytest.raises(InputError, match="more than any trial") as err:
        analyse_review(bcg)
    assert err.value.file.endswith("outcomes.csv") and err.value.row == 2
    assert err.value.column == "n_treatment"


def test_review_control_character_in_studies_csv_is_refused(bcg):
    _replace(bcg / "studies.csv", "Aronson 1948", "Aronson\x00 1948")
    with pytest.raises(InputError, match="control character") as err:
        load_review(bcg)
    assert err.value.file.endswith("studies.csv") and err.value.column == "label"


def test_review_n_randomised_beyond_the_bound_is_refused(bcg):
    text = (bcg / "studies.csv").read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    lines = [text[0] + ",n_randomised_treatment,n_randomised_control"]
    lines += [line + ",," for line in text[1:]]
    lines[1] = text[1] + ",1e308,100"
    assert "n_randomised_treatment" not in header
    (bcg / "studies.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_review(bcg)
    assert err.value.column == "n_randomised_treatment" and err.value.row == 2


@pytest.mark.parametrize(
    ("tsa", "key", "words"),
    [
        ("alpha = 0.7, control_risk = 0.2, rrr = 0.2", "alpha", "'alpha'"),
        ("alpha = nan, control_risk = 0.2, rrr = 0.2", "alpha", "finite"),
        ("power = 0.3, control_risk = 0.2, rrr = 0.2", "power", "'power'"),
        ("power = inf, control_risk = 0.2, rrr = 0.2", "power", "finite"),
        ("control_risk = 1.5, rrr = 0.2", "control_risk", "'control_risk'"),
        ("control_risk = 0.2, rrr = 1.5", "rrr", "'rrr'"),
        ("control_risk = 0.2, rrr = 0", "rrr", "'rrr'"),
        ("control_risk = 0.2", "control_risk", "'rrr' is missing"),
        ("control_risk = 0.2, rrr = 0.2, diversity = 1.0", "diversity", "'diversity'"),
        ("control_risk = 0.2, rrr = 0.2, diversity = -0.1", "diversity", "'diversity'"),
        ("mean_difference = 2, sd = 5", "mean_difference", "does not apply to measure RR"),
        ("control_risk = 0.2, rrr = 0.2, hazard_ratio = 0.8", "hazard_ratio", "one way"),
    ],
)
def test_tsa_settings_are_validated_when_the_folder_is_loaded(bcg, tsa, key, words):
    _replace(bcg / "review.toml", "primary = true\n", f"primary = true\ntsa = {{ {tsa} }}\n")
    with pytest.raises(InputError, match=words) as err:
        load_review(bcg)
    message = str(err.value)
    assert message.startswith(str(bcg / "review.toml")) and ", line " in message
    line = int(message.split(", line ")[1].split(":")[0])
    assert "tsa" in (bcg / "review.toml").read_text(encoding="utf-8").splitlines()[line - 1]
    assert key in message


def test_valid_tsa_settings_load(bcg):
    _replace(
        bcg / "review.toml", "primary = true\n", "primary = true\ntsa = { control_risk = 0.05, rrr = 0.3 }\n"
    )
    review = load_review(bcg)
    assert review.outcomes[0].tsa.rrr == 0.3


def test_review_model_takes_the_ad_hoc_hartung_knapp_variant(bcg):
    toml = bcg / "review.toml"
    _replace(
        toml,
        'model = { method = "REML", hk = false,',
        'model = { method = "REML", hk = true, hk_variant = "adhoc",',
    )
    review = load_review(bcg)
    assert review.outcomes[0].model.hk_variant == "adhoc"
    import warnings

    from trialsynth._core.errors import TrialsynthWarning
    from trialsynth.workflow.runner import analyse_review

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrialsynthWarning)
        primary = analyse_review(bcg).outcomes[0].primary
    assert primary.hk and primary.hk_variant == "adhoc"


def test_review_hk_variant_without_hk_is_refused(bcg):
    _replace(bcg / "review.toml", "hk = false,", 'hk = false, hk_variant = "adhoc",')
    with pytest.raises(InputError, match="'hk_variant' applies only with hk = true"):
        load_review(bcg)


@pytest.mark.parametrize(
    ("text", "measure", "column"),
    [
        ("study,treatment_1,treatment_2,estimate,se\nA,x,y,0.1,1e-200\nB,x,z,0.2,0.1\n", "MD", "se"),
        ("study,treatment,events,n\nA,x,1,1e308\nA,y,2,10\n", "OR", "n"),
        (
            "study,treatment_1,treatment_2,log_estimate,se\nA,x,y,800,0.1\nB,x,z,0.2,0.1\n",
            "OR",
            "log_estimate",
        ),
    ],
)
def test_network_csv_has_the_same_bounds(tmp_path, text, measure, column):
    from trialsynth.io.network import read_network_csv

    with pytest.raises(InputError) as err:
        read_network_csv(_csv(tmp_path, text), measure=measure)
    assert (err.value.row, err.value.column) == (2, column)
