"""The ``kzvote`` command line: thin commands, option types, errors -> exit codes.

Exit codes: 0 done; 1 ``--fail-on anomaly`` and an anomaly was found; 2 bad input or
usage (always with a one-line explanation and the fix, never a traceback).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from kzvote import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Election forensics for polling-station results: calibrated, explained, reproducible.",
)

MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help='Map a field to a header: --map registered="Registered voters"; '
        "FIELD=A+B sums columns; --map candidates=A+B+C names the candidate columns.",
    ),
]
MappingOpt = Annotated[
    str | None,
    typer.Option(
        "--mapping",
        help="TOML mapping file, or the name of a bundled one (poland-pkw).",
    ),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ignore",
        help="A column that is neither a field nor a candidate (repeatable), e.g. "
        '--ignore "Ballots received".',
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Run even when the column mapping does not add up (implausible_mapping); "
        "the objection is recorded in the report.",
    ),
]
LimitOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--limit",
        help="Raise a reading limit: bytes=4G, rows=10M, columns=N, cell=N (repeatable; "
        "defaults 512M bytes, 5M rows, 5,000 columns, 100,000 characters per cell).",
    ),
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="Text encoding (default: detect UTF-8/BOM/cp1251).")
]
DelimiterOpt = Annotated[
    str | None, typer.Option("--delimiter", help="Cell delimiter (default: sniff , ; tab |).")
]
SheetOpt = Annotated[str | None, typer.Option("--sheet", help="XLSX sheet name (default: first).")]
JsonOpt = Annotated[
    str | None, typer.Option("--json", help="Write the JSON report here ('-' for stdout).")
]
PlotsOpt = Annotated[
    str | None, typer.Option("--plots", help="Folder for plots (default ./kzvote-output/<file>/).")
]
NoPlotsOpt = Annotated[bool, typer.Option("--no-plots", help="Do not draw plots.")]
ByRegionOpt = Annotated[bool, typer.Option("--by-region", help="Run in every region too.")]
LeaderOpt = Annotated[
    str | None, typer.Option("--leader", help="The candidate to test (default: most votes).")
]
AlphaOpt = Annotated[float, typer.Option("--alpha", help="Significance level after adjustment.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (recorded in the report).")]
AdjustOpt = Annotated[
    str, typer.Option("--adjust", help="Multiple-testing adjustment: holm, bh or none.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
FailOnOpt = Annotated[
    str, typer.Option("--fail-on", help="'anomaly': exit 1 when any test says anomaly; 'never'.")
]
TestsOpt = Annotated[
    str | None, typer.Option("--tests", help="Comma-separated tests to run (default: all).")
]


def _console(stderr: bool = False):
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty():
        # a pipe or a file: the width the user set (COLUMNS), else a normal terminal's
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and 40 <= int(columns) <= 1000 else 80
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width, safe_box=True)


def _fail(error) -> None:
    """Print a kzvote error for a person and exit 2.

    One line ``error [code] file, line N, column 'X': message`` and one ``fix:`` line,
    never wrapped, whatever the terminal width (a script can grep the first line).
    """
    where = error.where()
    prefix = where + ": " if where else ""
    lines = [f"error [{error.code}] {prefix}{error.message}"]
    if error.value is not None:
        lines[0] += f" (value {error.value!r})"
    if error.hint:
        lines.append(f"  fix: {error.hint}")
    for problem in error.problems[:20]:
        lines.append(f"  line {problem.line}, {problem.column}: {problem.message}")
    text = "\n".join(" ".join(line.splitlines()) for line in lines) + "\n"
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    raise typer.Exit(2)


def _plot_folders(files: list[str], plots: str | None) -> list[Path]:
    """One plot folder per input, even when two inputs share a base name."""
    if plots and len(files) == 1:
        return [Path(plots)]
    base = Path(plots) if plots else Path("kzvote-output")
    out: list[Path] = []
    seen: dict[str, int] = {}
    for path in files:
        name = _default_plot_dir(path).name
        seen[name] = seen.get(name, 0) + 1
        out.append(base / (name if seen[name] == 1 else f"{name}_{seen[name]}"))
    return out


def _inputs(*paths: str | None) -> list[str]:
    """Every file given on the command line that an output must never replace."""
    return [p for p in paths if p]


def _check_outputs(inputs: list[str], *outputs: str | None) -> None:
    """Refuse bad output paths before any work is done (they are checked again on write)."""
    from kzvote.outputs import refuse_overwriting_inputs, refuse_special

    for output in outputs:
        if output and output != "-":
            refuse_overwriting_inputs(Path(output), inputs)
            refuse_special(Path(output))


def _write_stdout(text: str) -> None:
    """JSON to standard output, always UTF-8, whatever the console encoding."""
    from kzvote.model import KzvoteError

    try:
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:
            sys.stdout.flush()
            buffer.write(text.encode("utf-8"))
            buffer.flush()
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    except BrokenPipeError:
        raise typer.Exit(0) from None
    except OSError as exc:
        raise KzvoteError(
            "cannot_write",
            f"cannot write the report to standard output: {exc.strerror}",
            file="-",
            hint="check the disk or the pipe, or write to a file with --json PATH",
        ) from None


def _guard(func):
    """Turn kzvote errors into exit code 2 with a clear message."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from kzvote.model import KzvoteError

        try:
            return func(*args, **kwargs)
        except KzvoteError as error:
            _fail(error)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except MemoryError:
            from kzvote.model import KzvoteError as Error

            _fail(Error("out_of_memory", "the file is too large for this machine's memory"))

    return wrapper


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kzvote {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Election forensics for polling-station results.

    Example: kzvote analyze stations.csv --json report.json
    """


def _load(
    path: str,
    map_options,
    mapping,
    encoding,
    delimiter,
    sheet,
    *,
    ignore=None,
    force: bool = False,
    limit=None,
    **kwargs,
):
    from kzvote.reading import load_stations, parse_limits, parse_map_options

    overrides = parse_map_options(map_options, mapping, ignore)
    return load_stations(
        path,
        overrides=overrides,
        encoding=encoding,
        delimiter=delimiter,
        sheet=sheet,
        force=force,
        limits=parse_limits(limit),
        **kwargs,
    )


def _default_plot_dir(path: str) -> Path:
    from kzvote.outputs import safe_name

    name = Path(path).name
    for suffix in (".gz", ".xz", ".bz2", ".zip", ".csv", ".tsv", ".txt", ".xlsx"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return Path("kzvote-output") / safe_name(name)


@app.command()
@_guard
def analyze(
    files: Annotated[
        list[str], typer.Argument(help="Polling-station files (CSV/TSV/XLSX, compressed too).")
    ],
    *,
    json_path: JsonOpt = None,
    plots: PlotsOpt = None,
    no_plots: NoPlotsOpt = False,
    by_region: ByRegionOpt = False,
    leader: LeaderOpt = None,
    alpha: AlphaOpt = 0.05,
    seed: SeedOpt = 0,
    adjust: AdjustOpt = "holm",
    tests: TestsOpt = None,
    min_registered: Annotated[
        int,
        typer.Option(
            "--min-registered", help="Smallest station (registered voters) in the integer test."
        ),
    ] = 100,
    quiet: QuietOpt = False,
    fail_on: FailOnOpt = "never",
    calibrated: Annotated[
        str | None,
        typer.Option(
            "--calibrated",
            help="A 'kzvote calibrate --json' report of this file: use empirical p-values.",
        ),
    ] = None,
    map_options: MapOpt = None,
    mapping: MappingOpt = None,
    ignore: IgnoreOpt = None,
    force: ForceOpt = False,
    limit: LimitOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    sheet: SheetOpt = None,
    stations_path: Annotated[
        str | None,
        typer.Option(
            "--stations",
            help="Write the stations behind the findings (region, id, numbers, reasons) "
            "to this CSV.",
        ),
    ] = None,
    report_path: Annotated[
        str | None,
        typer.Option(
            "--report",
            help="Write a shareable report: PATH.html (one self-contained page) or PATH.md.",
        ),
    ] = None,
    title: Annotated[
        str | None,
        typer.Option("--title", help="The election's name for figures and the report."),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every result, not only the anomalies.")
    ] = False,
) -> None:
    """Check polling-station results and run the forensic battery.

    Example: kzvote analyze stations.csv --json report.json --by-region
    """
    from kzvote.model import KzvoteError
    from kzvote.outputs import write_atomic
    from kzvote.render import console as view
    from kzvote.render.jsonout import dumps, serialize
    from kzvote.suite import Params
    from kzvote.suite import analyze as run_analysis

    if fail_on not in ("anomaly", "never"):
        raise KzvoteError("bad_option", f"--fail-on must be 'anomaly' or 'never', not {fail_on!r}")
    if min_registered < 0:
        raise KzvoteError("bad_option", f"--min-registered must be >= 0, not {min_registered}")
    params = Params(
        alpha=alpha,
        seed=seed,
        adjust=adjust,
        leader=leader,
        by_region=by_region,
        tests=tuple(t.strip() for t in tests.split(",") if t.strip()) if tests else None,
        options={"min_registered": min_registered},
    )
    params.validate()
    to_stdout = json_path == "-"
    console = _console(stderr=to_stdout)
    inputs = _inputs(*files, mapping, calibrated)
    _check_outputs(inputs, json_path, stations_path, report_path)
    report_format = _report_format(report_path)
    if (stations_path or report_path) and len(files) > 1:
        raise KzvoteError(
            "bad_option",
            "--stations and --report take one input file",
            hint="run analyze once per file, or drop --stations/--report",
        )
    calibration = _read_calibration(calibrated) if calibrated else None
    reports = []
    folders = _plot_folders(files, plots)
    for path, folder in zip(files, folders, strict=True):
        with _progress(quiet or to_stdout) as step:
            step(f"reading {Path(path).name}", 0, 1)
            table = _load(
                path,
                map_options,
                mapping,
                encoding,
                delimiter,
                sheet,
                ignore=ignore,
                force=force,
                limit=limit,
            )
            report = run_analysis(table, params, calibration, progress=step)
            if not no_plots:
                from kzvote.plots import save_report_plots

                step("drawing figures", 0, 1)
                report = report.with_plots(
                    save_report_plots(
                        table,
                        report.input["leader"],
                        folder,
                        report.results,
                        title=title or _clean_title(path),
                    )
                )
        data = serialize(report)
        if title:
            data["parameters"]["title"] = title
        reports.append(data)
        if not quiet:
            console.print(view.report_renderable(data, show_all=show_all))
        if stations_path:
            from kzvote.render.csvout import evidence_csv

            write_atomic(stations_path, evidence_csv(data), inputs=inputs)
        if report_path:
            from kzvote.render.report import analyze_report

            text = analyze_report(data, html=report_format == "html", title=title)
            write_atomic(report_path, text, inputs=inputs)
    if len(reports) > 1 and not quiet:
        console.print(view.multi_summary([_file_row(d) for d in reports]))
    if json_path:
        if len(reports) == 1:
            payload = reports[0]
        else:
            payload = {
                "schema_version": reports[0]["schema_version"],
                "kzvote_version": __version__,
                "reports": reports,
            }
        text = dumps(payload)
        if to_stdout:
            _write_stdout(text)
        else:
            write_atomic(json_path, text, inputs=inputs)
    if fail_on == "anomaly" and any(
        r["verdict"] == "anomaly" for d in reports for r in d["results"]
    ):
        raise typer.Exit(1)


def _report_format(path: str | None) -> str | None:
    from kzvote.model import KzvoteError

    if path is None:
        return None
    lower = path.lower()
    if lower.endswith((".html", ".htm")):
        return "html"
    if lower.endswith(".md"):
        return "md"
    raise KzvoteError(
        "bad_option",
        f"--report {path!r}: the name must end in .html or .md",
        hint="--report report.html (a page to share) or --report report.md (CI, trackers)",
    )


def _clean_title(path: str) -> str:
    """A figure title from a file name: 'kz2023_majilis_national.csv' -> 'kz2023 majilis
    national'; a bare year such as '2011.csv.gz' keeps its folder ('ru-kobak 2011')."""
    p = Path(path)
    stem = _default_plot_dir(path).name
    words_ = stem.replace("_", " ").replace("-", " ").strip()
    if len(words_) <= 6 and p.parent.name:
        words_ = f"{p.parent.name.replace('_', ' ')} {words_}"
    return words_


@contextlib.contextmanager
def _progress(silent: bool):
    """A progress line on stderr when it is a terminal; a no-op otherwise."""
    if silent or not sys.stderr.isatty():
        yield lambda message, done, total: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("kzvote", total=1)

        def step(message: str, done: int, total: int) -> None:
            bar.update(task, description=message[:60], completed=done, total=max(total, 1))

        yield step


def _read_calibration(path: str) -> dict:
    import json

    from kzvote.model import KzvoteError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KzvoteError(
            "file_not_found", "the calibration file does not exist", file=path
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KzvoteError("bad_calibration", f"not a JSON file: {exc}", file=path) from None
    except OSError as exc:
        raise KzvoteError(
            "bad_calibration", f"cannot read the calibration file: {exc.strerror}", file=path
        ) from None
    except RecursionError:
        raise KzvoteError("bad_calibration", "the JSON is nested too deeply", file=path) from None
    if not isinstance(data, dict) or data.get("command") != "calibrate" or "tests" not in data:
        raise KzvoteError(
            "bad_calibration",
            "this JSON is not a 'kzvote calibrate' report",
            file=path,
            hint="make one with: kzvote calibrate FILE --json calibration.json",
        )
    tests = data["tests"]
    well_formed = isinstance(tests, list) and all(
        isinstance(t, dict)
        and isinstance(t.get("test"), str)
        and isinstance(t.get("subject"), str)
        and isinstance(t.get("null_p_values"), list)
        and all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1
            for v in t["null_p_values"]
        )
        for t in tests
    )
    if not well_formed:
        raise KzvoteError(
            "bad_calibration",
            "the calibration report's 'tests' is not a list of tests with their twins' "
            "p-values (edited or damaged?)",
            file=path,
            hint="make a new one with: kzvote calibrate FILE --json calibration.json",
        )
    return data


@app.command()
@_guard
def calibrate(
    file: Annotated[str, typer.Argument(help="The election file to build clean twins of.")],
    *,
    sims: Annotated[int, typer.Option("--sims", help="Clean twins to simulate.")] = 200,
    power_sims: Annotated[
        int | None,
        typer.Option("--power-sims", help="Twins per injected size (default: min(sims, 50))."),
    ] = None,
    inject: Annotated[
        list[str] | None,
        typer.Option(
            "--inject",
            help="KIND=SIZE, repeatable: stuffing_incremental, stuffing_extreme, "
            "whole_percent, invented (power at SIZE and at 1/2, 1/4, 1/8 of it).",
        ),
    ] = None,
    json_path: JsonOpt = None,
    plots: PlotsOpt = None,
    no_plots: NoPlotsOpt = False,
    seed: SeedOpt = 0,
    jobs: Annotated[
        int, typer.Option("--jobs", help="Worker processes (this machine: 2 cores).")
    ] = 2,
    alpha: AlphaOpt = 0.05,
    tests: TestsOpt = None,
    leader: LeaderOpt = None,
    quiet: QuietOpt = False,
    map_options: MapOpt = None,
    mapping: MappingOpt = None,
    ignore: IgnoreOpt = None,
    force: ForceOpt = False,
    limit: LimitOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    sheet: SheetOpt = None,
) -> None:
    """Measure each test's false-positive rate (and power) on clean twins of your file.

    Example: kzvote calibrate stations.csv --sims 200 --inject whole_percent=0.05 --json cal.json
    """
    from kzvote.calibrate import calibrate as run_calibration
    from kzvote.calibrate import twin_count
    from kzvote.model import KzvoteError
    from kzvote.outputs import write_atomic
    from kzvote.render import console as view
    from kzvote.render.jsonout import dumps
    from kzvote.suite import Params

    injections = {}
    for item in inject or []:
        kind, sep, size = item.partition("=")
        try:
            injections[kind.strip()] = float(size)
        except ValueError:
            raise KzvoteError(
                "bad_option",
                f"--inject {item!r} is not KIND=SIZE",
                hint="e.g. --inject whole_percent=0.05",
            ) from None
        if not sep:
            raise KzvoteError("bad_option", f"--inject {item!r} is not KIND=SIZE")
    if jobs < 1:
        raise KzvoteError("bad_option", "--jobs must be at least 1")
    import os

    cores = os.cpu_count() or 1
    if jobs > cores:
        _console(stderr=True).print(
            f"[yellow]--jobs {jobs} is more than the {cores} cores: using {cores}[/yellow]"
        )
        jobs = cores
    params = Params(
        alpha=alpha,
        seed=seed,
        leader=leader,
        tests=tuple(t.strip() for t in tests.split(",")) if tests else None,
    )
    params.validate()
    table = _load(
        file,
        map_options,
        mapping,
        encoding,
        delimiter,
        sheet,
        ignore=ignore,
        force=force,
        limit=limit,
    )
    _, total = twin_count(sims, power_sims, injections)
    to_stdout = json_path == "-"
    inputs = _inputs(file, mapping)
    _check_outputs(inputs, json_path)
    show = not quiet and sys.stderr.isatty()
    import signal

    stopped_by = {"sigterm": False}

    def _terminated(signum, frame):  # SIGTERM: stop like Ctrl-C, keep finished twins
        stopped_by["sigterm"] = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        if show:
            from rich.progress import Progress

            with Progress(console=_console(stderr=True), transient=True) as bar:
                task = bar.add_task("twins", total=total)
                report = run_calibration(
                    table,
                    params,
                    sims=sims,
                    power_sims=power_sims,
                    inject=injections,
                    jobs=jobs,
                    progress=lambda k: bar.advance(task, k),
                )
        else:
            report = run_calibration(
                table, params, sims=sims, power_sims=power_sims, inject=injections, jobs=jobs
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    from kzvote.render.jsonout import serialize

    data = serialize(report)
    if not no_plots:
        from kzvote.plots import save_calibration_plots

        folder = Path(plots) if plots else _default_plot_dir(file) / "calibration"
        data = serialize(report.with_plots(save_calibration_plots(data, folder)))
    if not quiet:
        _console(stderr=to_stdout).print(view.calibration_renderable(data))
    if json_path:
        text = dumps(data)
        if to_stdout:
            _write_stdout(text)
        else:
            write_atomic(json_path, text, inputs=inputs)
    if not data["complete"]:
        _console(stderr=True).print(
            f"[yellow]interrupted: the report covers the {data['twins_run']} of {total} twins "
            "that finished[/yellow]"
        )
        raise typer.Exit(143 if stopped_by["sigterm"] else 130)


def _file_row(data: dict) -> dict:
    return {
        "file": data["input"]["path"],
        "stations": data["summary"]["stations"],
        "turnout": data["summary"]["turnout"],
        "leader": data["summary"]["leader"],
        "anomalies": sum(r["verdict"] == "anomaly" for r in data["results"]),
        "inconclusive": sum(r["verdict"] == "inconclusive" for r in data["results"]),
    }


@app.command()
@_guard
def columns(
    file: Annotated[str, typer.Argument(help="A polling-station file.")],
    *,
    json_out: Annotated[bool, typer.Option("--json", help="Print the mapping as JSON.")] = False,
    observers: Annotated[
        bool,
        typer.Option(
            "--observers",
            help="Read it as an observers' tally (no field required, candidates optional).",
        ),
    ] = False,
    map_options: MapOpt = None,
    mapping: MappingOpt = None,
    ignore: IgnoreOpt = None,
    limit: LimitOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    sheet: SheetOpt = None,
) -> None:
    """Show how the file's headers map onto kzvote's fields, and what was guessed.

    Also runs the mapping's plausibility check and shows its objections, if any.

    Example: kzvote columns stations.csv --map registered="Voters on the list"
    """
    from kzvote.render import console as view
    from kzvote.render.jsonout import dumps

    extra = {"required": (), "need_candidates": False} if observers else {}
    table = _load(
        file,
        map_options,
        mapping,
        encoding,
        delimiter,
        sheet,
        ignore=ignore,
        force=True,
        limit=limit,
        **extra,
    )
    info = {
        "path": file,
        "mapping": table.mapping.to_dict(),
        "source_notes": table.source.get("notes", []),
        "stations": table.n_stations,
        "aggregate_rows": 0 if table.aggregate is None else int(table.aggregate.sum()),
        "plausible": not table.mapping.warnings,
    }
    if json_out:
        _write_stdout(dumps(info))
    else:
        _console().print(view.columns_renderable(info))


@app.command()
@_guard
def simulate(
    out: Annotated[str, typer.Argument(help="Where to write the simulated official file (CSV).")],
    *,
    preset: Annotated[
        str, typer.Option("--preset", help="kz2023 (20 regions like Kazakhstan 2023) or generic.")
    ] = "generic",
    stations: Annotated[
        int, typer.Option("--stations", help="Stations (generic preset).")
    ] = 10_000,
    regions: Annotated[int, typer.Option("--regions", help="Regions (generic preset).")] = 10,
    turnout: Annotated[
        float, typer.Option("--turnout", help="Mean honest turnout (generic preset).")
    ] = 0.55,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    f_incremental: Annotated[
        float, typer.Option("--f-incremental", help="Klimek incremental-fraud probability.")
    ] = 0.0,
    f_extreme: Annotated[
        float, typer.Option("--f-extreme", help="Klimek extreme-fraud probability.")
    ] = 0.0,
    theta: Annotated[
        float, typer.Option("--theta", help="Klimek incremental stuffing scale.")
    ] = 0.1,
    clean_model: Annotated[
        str,
        typer.Option(
            "--clean-model",
            help="regional (regions with their own turnout and preferences) or klimek "
            "(one truncated-normal blob, as in the Klimek model).",
        ),
    ] = "regional",
    whole_percent_share: Annotated[
        float,
        typer.Option(
            "--whole-percent-share", help="Share of stations with turnout set to a whole percent."
        ),
    ] = 0.0,
    rounded_share: Annotated[
        float,
        typer.Option(
            "--rounded-share", help="Share of stations whose counts are rounded to 5 or 10."
        ),
    ] = 0.0,
    observers: Annotated[
        str | None,
        typer.Option("--observers", help="Also write observers' tallies (honest counts) here."),
    ] = None,
    observer_region: Annotated[
        str | None, typer.Option("--observer-region", help="Region the observers cover.")
    ] = None,
    observer_share: Annotated[
        float, typer.Option("--observer-share", help="Share of that region's stations observed.")
    ] = 0.12,
    region_only: Annotated[
        str | None, typer.Option("--region-only", help="Write only this region's stations to OUT.")
    ] = None,
    truth: Annotated[
        str | None,
        typer.Option("--truth", help="Also write the truth table (what was done where)."),
    ] = None,
    concurrent: Annotated[
        str | None,
        typer.Option(
            "--concurrent",
            help="Also write a single-mandate contest at the same stations here (OUT is "
            "then the party list); see --inflate-share.",
        ),
    ] = None,
    inflate_share: Annotated[
        float,
        typer.Option(
            "--inflate-share",
            help="With --concurrent: share of stations inflated in one contest only.",
        ),
    ] = 0.0,
    inflate_contest: Annotated[
        str,
        typer.Option("--inflate-contest", help="a (the party list, OUT) or b (--concurrent)."),
    ] = "a",
    inflate_min: Annotated[
        int, typer.Option("--inflate-min", help="Fewest extra ballots at an inflated station.")
    ] = 40,
    inflate_max: Annotated[
        int, typer.Option("--inflate-max", help="Most extra ballots at an inflated station.")
    ] = 250,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="canonical (English field names), kk or ru (the Kazakh CEC precinct "
            "protocol in Kazakh or Russian, with received, spoiled and unused lines).",
        ),
    ] = "canonical",
) -> None:
    """Write a synthetic election (clean, or with known manipulation) in canonical columns.

    Example: kzvote simulate clean.csv --stations 10000 --seed 1
    """
    from dataclasses import replace

    from kzvote.model import KzvoteError
    from kzvote.outputs import write_atomic
    from kzvote.simulate import (
        LAYOUTS,
        Scenario,
        kazakhstan_2023,
        protocol_layout,
    )
    from kzvote.simulate import (
        observers as observer_table,
    )
    from kzvote.simulate import (
        simulate as run,
    )

    for name, value in (  # "not 0 <= value <= 1" is also true for NaN
        ("--f-incremental", f_incremental),
        ("--f-extreme", f_extreme),
        ("--whole-percent-share", whole_percent_share),
        ("--rounded-share", rounded_share),
        ("--observer-share", observer_share),
        ("--inflate-share", inflate_share),
    ):
        if not 0 <= value <= 1:
            raise KzvoteError("bad_option", f"{name} must be between 0 and 1, not {value}")
    if layout not in LAYOUTS:
        raise KzvoteError(
            "bad_option", f"--layout must be one of {', '.join(LAYOUTS)}, not {layout!r}"
        )
    if f_incremental + f_extreme > 1:
        raise KzvoteError("bad_option", "--f-incremental + --f-extreme must not exceed 1")
    if stations < 1 or regions < 1:
        raise KzvoteError("bad_option", "--stations and --regions must be positive")
    if stations > 5_000_000 or regions > stations:
        raise KzvoteError(
            "bad_option",
            "--stations must be at most 5,000,000 and --regions at most --stations",
        )
    if not 0 < turnout < 1:  # also false for NaN
        raise KzvoteError("bad_option", f"--turnout must be between 0 and 1, not {turnout}")
    if not 0 < theta <= 1:
        raise KzvoteError("bad_option", f"--theta must be in (0, 1], not {theta}")
    if not 0 <= seed < 2**63:
        raise KzvoteError("bad_option", f"--seed must be from 0 to 2**63-1, not {seed}")
    if preset == "kz2023":
        scenario = kazakhstan_2023()
    elif preset == "generic":
        scenario = Scenario(stations=stations, regions=regions, turnout=turnout)
    else:
        raise KzvoteError("bad_option", f"--preset must be kz2023 or generic, not {preset!r}")
    scenario = replace(
        scenario,
        f_incremental=f_incremental,
        f_extreme=f_extreme,
        theta=theta,
        whole_percent_share=whole_percent_share,
        rounded_share=rounded_share,
        clean_model=clean_model,
        observer_region=observer_region if observers else None,
        observer_share=observer_share if observers else 0.0,
    )
    if observers and not observer_region:
        raise KzvoteError("bad_option", "--observers needs --observer-region")
    table, truth_table = run(scenario, seed)
    if region_only:
        keep = table["region"] == region_only
        if not keep.any():
            raise KzvoteError(
                "unknown_region", f"no region called {region_only!r} in the simulation"
            )
        table = table[keep]
    written = [out]
    if concurrent:
        from kzvote.simulate import concurrent_pair

        if inflate_min < 0 or inflate_max < inflate_min:
            raise KzvoteError("bad_option", "--inflate-min must be >= 0 and at most --inflate-max")
        table, contest_b, pair_truth = concurrent_pair(
            table,
            seed,
            inflate_share=inflate_share,
            inflate_range=(inflate_min, inflate_max),
            inflate=inflate_contest,
        )
        truth_table = truth_table.merge(
            pair_truth.drop(columns=["region"]), on="station_id", how="left"
        )
        write_atomic(concurrent, contest_b.to_csv(index=False))
        written.append(concurrent)
    elif inflate_share:
        raise KzvoteError("bad_option", "--inflate-share needs --concurrent")
    write_atomic(out, protocol_layout(table, layout, seed).to_csv(index=False))
    if observers:
        write_atomic(observers, observer_table(truth_table).to_csv(index=False))
        written.append(observers)
    if truth:
        write_atomic(truth, truth_table.to_csv(index=False))
        written.append(truth)
    _console(stderr=True).print(
        f"wrote {', '.join(written)} ({len(table):,} stations, seed {seed})"
    )


@app.command()
@_guard
def compare(
    official: Annotated[str, typer.Argument(help="The official polling-station file.")],
    observed: Annotated[
        str, typer.Argument(help="The observers' tallies (may hold only some fields).")
    ],
    *,
    key: Annotated[
        str | None, typer.Option("--key", help="Station id column, the same header in both files.")
    ] = None,
    observer_counts: Annotated[
        str,
        typer.Option(
            "--observer-counts",
            help="exact: observers counted everything; lower-bound: proven minimums "
            "(an official count below them is a discrepancy).",
        ),
    ] = "exact",
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance", help="Ballots of difference tolerated (default 2; 0 for lower-bound)."
        ),
    ] = None,
    tolerance_share: Annotated[
        float, typer.Option("--tolerance-share", help="...or this share of registered, if larger.")
    ] = 0.01,
    json_path: JsonOpt = None,
    csv_path: Annotated[
        str | None, typer.Option("--csv", help="Write one row per matched station.")
    ] = None,
    report_path: Annotated[
        str | None,
        typer.Option("--report", help="Write a shareable report: PATH.html or PATH.md."),
    ] = None,
    plots: PlotsOpt = None,
    no_plots: NoPlotsOpt = False,
    by_region: ByRegionOpt = False,
    leader: LeaderOpt = None,
    alpha: AlphaOpt = 0.05,
    seed: SeedOpt = 0,
    adjust: AdjustOpt = "holm",
    quiet: QuietOpt = False,
    fail_on: FailOnOpt = "never",
    map_options: MapOpt = None,
    mapping: MappingOpt = None,
    observed_map: Annotated[
        list[str] | None, typer.Option("--observed-map", help="--map for the observers' file.")
    ] = None,
    observed_mapping: Annotated[
        str | None, typer.Option("--observed-mapping", help="--mapping for the observers' file.")
    ] = None,
    ignore: IgnoreOpt = None,
    observed_ignore: Annotated[
        list[str] | None,
        typer.Option("--observed-ignore", help="--ignore for the observers' file."),
    ] = None,
    force: ForceOpt = False,
    limit: LimitOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
) -> None:
    """Compare observers' tallies with the official count, station by station.

    Example: kzvote compare official.csv observers.csv --json compare.json
    """
    from kzvote.compare import compare as run_compare
    from kzvote.model import KzvoteError
    from kzvote.outputs import write_atomic
    from kzvote.render import console as view
    from kzvote.render.csvout import stations_csv
    from kzvote.render.jsonout import dumps
    from kzvote.suite import Params

    if fail_on not in ("anomaly", "never"):
        raise KzvoteError("bad_option", f"--fail-on must be 'anomaly' or 'never', not {fail_on!r}")
    key_map = [f"station_id={key}"] if key else []
    official_table = _load(
        official,
        (map_options or []) + key_map,
        mapping,
        encoding,
        delimiter,
        None,
        ignore=ignore,
        force=force,
        limit=limit,
    )
    observed_table = _load(
        observed,
        (observed_map or []) + key_map,
        observed_mapping,
        encoding,
        delimiter,
        None,
        ignore=observed_ignore,
        force=force,
        limit=limit,
        required=(),
        need_candidates=False,
    )
    params = Params(alpha=alpha, seed=seed, adjust=adjust, leader=leader, by_region=by_region)
    report = run_compare(
        official_table,
        observed_table,
        params,
        mode=observer_counts,
        tolerance_ballots=tolerance,
        tolerance_share=tolerance_share,
    )
    inputs = _inputs(official, observed, mapping, observed_mapping)
    _check_outputs(inputs, json_path, csv_path, report_path)
    report_format = _report_format(report_path)
    from kzvote.render.jsonout import serialize

    data = serialize(report)
    if not no_plots:
        from kzvote.plots import save_compare_plots

        folder = Path(plots) if plots else _default_plot_dir(observed)
        data = serialize(report.with_plots(save_compare_plots(official_table, data, folder)))
    to_stdout = json_path == "-"
    if not quiet:
        _console(stderr=to_stdout).print(view.compare_renderable(data))
    if csv_path:
        write_atomic(csv_path, stations_csv(data), inputs=inputs)
    if report_path:
        from kzvote.render.report import compare_report

        write_atomic(report_path, compare_report(data, html=report_format == "html"), inputs=inputs)
    if json_path:
        text = dumps(data)
        if to_stdout:
            _write_stdout(text)
        else:
            write_atomic(json_path, text, inputs=inputs)
    if fail_on == "anomaly" and any(r["verdict"] == "anomaly" for r in data["results"]):
        raise typer.Exit(1)


def _contest_labels(files: list[str], labels: list[str] | None) -> list[str]:
    from kzvote.model import KzvoteError

    if labels:
        if len(labels) != len(files):
            raise KzvoteError(
                "bad_option",
                f"--label was given {len(labels)} times for {len(files)} files",
                hint="give one --label per contest file, in the same order",
            )
        out = [label.strip() for label in labels]
    else:
        out = [_default_plot_dir(f).name for f in files]
    seen: dict[str, int] = {}
    unique = []
    for label in out:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


@app.command()
@_guard
def crosscheck(
    files: Annotated[
        list[str],
        typer.Argument(help="Two or more contest files of the same election day and stations."),
    ],
    *,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Station id column, the same header in every file."),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="A name per contest, in file order (default: file names)."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Ballots of difference tolerated (default 3).")
    ] = 3.0,
    tolerance_share: Annotated[
        float,
        typer.Option(
            "--tolerance-share", help="...or this share of registered, if larger (default 0.01)."
        ),
    ] = 0.01,
    json_path: JsonOpt = None,
    csv_path: Annotated[
        str | None, typer.Option("--csv", help="Write one row per joined station.")
    ] = None,
    report: Annotated[
        str | None,
        typer.Option("--report", help="Write a shareable report (.html or .md)."),
    ] = None,
    plots: PlotsOpt = None,
    no_plots: NoPlotsOpt = False,
    by_region: ByRegionOpt = False,
    alpha: AlphaOpt = 0.05,
    seed: SeedOpt = 0,
    adjust: AdjustOpt = "holm",
    quiet: QuietOpt = False,
    fail_on: FailOnOpt = "never",
    map_options: MapOpt = None,
    mapping: MappingOpt = None,
    map_a: Annotated[
        list[str] | None, typer.Option("--map-a", help="--map for the first file only.")
    ] = None,
    map_b: Annotated[
        list[str] | None, typer.Option("--map-b", help="--map for the second file only.")
    ] = None,
    map_c: Annotated[
        list[str] | None, typer.Option("--map-c", help="--map for the third file only.")
    ] = None,
    mapping_a: Annotated[
        str | None, typer.Option("--mapping-a", help="--mapping for the first file.")
    ] = None,
    mapping_b: Annotated[
        str | None, typer.Option("--mapping-b", help="--mapping for the second file.")
    ] = None,
    mapping_c: Annotated[
        str | None, typer.Option("--mapping-c", help="--mapping for the third file.")
    ] = None,
    ignore: IgnoreOpt = None,
    force: ForceOpt = False,
    limit: LimitOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
) -> None:
    """Check that concurrent contests at the same stations agree, station by station.

    Voters receive several ballots at once (party list, district, local assembly); the
    numbers of ballots issued may differ between the contests by a few papers only.

    Example: kzvote crosscheck party_list.csv district.csv --csv stations.csv --report r.html
    """
    import math

    from kzvote.crosscheck import crosscheck as run_crosscheck
    from kzvote.model import KzvoteError
    from kzvote.outputs import write_atomic
    from kzvote.render import console as view
    from kzvote.render.csvout import crosscheck_csv
    from kzvote.render.jsonout import dumps
    from kzvote.suite import Params

    if fail_on not in ("anomaly", "never"):
        raise KzvoteError("bad_option", f"--fail-on must be 'anomaly' or 'never', not {fail_on!r}")
    if len(files) < 2:
        raise KzvoteError(
            "bad_option",
            "crosscheck needs at least two contest files",
            hint="e.g. kzvote crosscheck party_list.csv district.csv",
        )
    if not math.isfinite(tolerance) or tolerance < 0:
        raise KzvoteError("bad_option", f"--tolerance must be a number >= 0, not {tolerance}")
    if not math.isfinite(tolerance_share) or not 0 <= tolerance_share < 1:
        raise KzvoteError(
            "bad_option", f"--tolerance-share must be in [0, 1), not {tolerance_share}"
        )
    if report and not report.lower().endswith((".html", ".htm", ".md")):
        raise KzvoteError(
            "bad_option", "--report must end in .html or .md", hint="e.g. --report report.html"
        )
    labels = _contest_labels(files, label)
    inputs = _inputs(*files, mapping, mapping_a, mapping_b, mapping_c)
    _check_outputs(inputs, json_path, csv_path, report)
    per_file_map = [map_a, map_b, map_c]
    per_file_mapping = [mapping_a, mapping_b, mapping_c]
    key_map = [f"station_id={key}"] if key else []
    tables = []
    for k, path in enumerate(files):
        own_map = per_file_map[k] if k < 3 else None
        own_mapping = per_file_mapping[k] if k < 3 else None
        tables.append(
            _load(
                path,
                (map_options or []) + (own_map or []) + key_map,
                own_mapping or mapping,
                encoding,
                delimiter,
                None,
                ignore=ignore,
                force=force,
                limit=limit,
                need_candidates=False,
            )
        )
    params = Params(alpha=alpha, seed=seed, adjust=adjust, by_region=by_region)
    from kzvote.render.jsonout import serialize

    outcome = run_crosscheck(
        tables, labels, params, tolerance=tolerance, tolerance_share=tolerance_share
    )
    data = serialize(outcome)
    if not no_plots:
        from kzvote.plots import save_crosscheck_plots

        folder = Path(plots) if plots else _default_plot_dir(files[0]) / "crosscheck"
        data = serialize(outcome.with_plots(save_crosscheck_plots(data, folder)))
    to_stdout = json_path == "-"
    if not quiet:
        _console(stderr=to_stdout).print(view.crosscheck_renderable(data))
    if csv_path:
        write_atomic(csv_path, crosscheck_csv(data), inputs=inputs)
    if report:
        from kzvote.render.report import crosscheck_report

        write_atomic(
            report, crosscheck_report(data, html=not report.lower().endswith(".md")), inputs=inputs
        )
    if json_path:
        text = dumps(data)
        if to_stdout:
            _write_stdout(text)
        else:
            write_atomic(json_path, text, inputs=inputs)
    if fail_on == "anomaly" and any(r["verdict"] == "anomaly" for r in data["results"]):
        raise typer.Exit(1)


def main() -> None:
    import os
    import warnings

    from kzvote import BLAS_THREAD_VARIABLES

    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")  # before numpy is first imported

    # numeric corner cases (empty slices, overflow in a far tail) are handled where they
    # matter and explained in each result's warnings; numpy's own notes are noise here
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    # a console that cannot show a character (Kazakh names on a cp1251 console,
    # output redirected on Russian Windows) shows '?' instead of failing; the JSON
    # and every file stay UTF-8
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="replace")
    app()


if __name__ == "__main__":
    main()
