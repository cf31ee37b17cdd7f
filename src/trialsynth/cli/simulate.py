"""``trialsynth simulate SPEC.toml``: run a simulation study of meta-analysis estimators."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click


@click.command()
@click.argument("spec_file", metavar="SPEC.toml", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for simulation.csv, simulation.json and the plot [default: out/<spec name>].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the chunks on this Dask cluster (e.g. tcp://10.0.0.5:8786); needs trialsynth[dask].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local worker processes when no --scheduler is given [default: the number of CPUs].",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    help="Replications per chunk [default: the spec's].",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on stderr."
)
@click.option("--plot/--no-plot", default=True, show_default=True, help="Draw simulation.svg/png/pdf.")
def simulate(spec_file, out_dir, scheduler, workers, chunk_size, progress, plot) -> None:
    """Simulate meta-analyses as SPEC.toml describes and compare the estimators.

    Writes a table of bias, MSE, coverage and CI width (with Monte Carlo standard errors) per
    scenario and estimator as CSV and JSON, prints it, and plots it. Results are identical
    whatever the chunk size or the number of workers. The spec format is in docs/simulate.md.
    """
    from trialsynth.stats.simulate import load_spec, run_simulation, write_csv

    spec = load_spec(spec_file)
    out = Path(out_dir) if out_dir else Path("out") / Path(spec_file).stem
    out.mkdir(parents=True, exist_ok=True)
    client = None
    if scheduler:
        client = _connect(scheduler)
    total = spec.replications * len(spec.scenarios)
    try:
        if progress:
            with click.progressbar(
                length=total, label="replications", file=sys.stderr
            ) as bar:
                result = run_simulation(
                    spec,
                    workers=workers or os.cpu_count() or 1,
                    client=client,
                    chunk_size=chunk_size,
                    progress=bar.update,
                )
        else:
            result = run_simulation(
                spec, workers=workers or os.cpu_count() or 1, client=client, chunk_size=chunk_size
            )
    finally:
        if client is not None:
            client.close()
    write_csv(result, out / "simulation.csv")
    with open(out / "simulation.json", "w", encoding="utf-8") as handle:
        json.dump(result.to_json_dict(), handle, indent=2, ensure_ascii=False, allow_nan=False)
        handle.write("\n")
    if plot:
        from trialsynth.plots import save_figure, simulation_plot

        save_figure(simulation_plot(result.rows, level=spec.level), out / "simulation")
    click.echo(_table(result.rows))
    click.echo(
        f"wrote {out / 'simulation.csv'}, {out / 'simulation.json'}"
        + (", simulation.svg/png/pdf" if plot else "")
    )


def _connect(address: str):
    from trialsynth._core.errors import InputError

    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs Dask: pip install 'trialsynth[dask]'") from None
    try:
        return Client(address, timeout=30)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return f"{value:.{digits}f}"


def _table(rows) -> str:
    head = (
        "scenario",
        "estimator",
        "estimable",
        "converged",
        "bias",
        "MSE",
        "coverage",
        "CI width",
        "tau2 bias",
    )
    body = [
        (
            r["scenario"],
            r["estimator"],
            str(r["estimable"]),
            str(r["converged"]),
            _fmt(r["bias"]),
            _fmt(r["mse"]),
            _fmt(r["coverage"], 3),
            _fmt(r["ci_width"]),
            _fmt(r["tau2_bias"]),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = [
        "  ".join(
            h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    ]
    for b in body:
        lines.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths, strict=True))
            )
        )
    return "\n".join(lines)
