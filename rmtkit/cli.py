"""``rmtkit`` command line: ``rmtkit analyze PATH [PATH ...] [options]``, ``rmtkit compare A B [options]``.

Several PATHs (``rmtkit analyze ckpts/epoch_*.safetensors``) are a series: one long table with a
``checkpoint`` and a ``step`` column, and with ``--plots`` the trajectories of every layer.

Exit codes (for scripts):
    0  every selected layer analysed, every fit made
    1  analysed, but some layers failed (NaN/Inf, all-zero) or a fit of theirs did (status
       "partial": degenerate, rank-deficient, ...); their rows say why
    2  usage error, unusable output path, or the input cannot be read (missing path, corrupt
       checkpoint): one line on stderr, nothing analysed
    3  nothing to analyse (no layer passed the filters)
    4  an internal error (a bug: please report the one-line message)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from rmtkit.analysis import AnalyzeOptions, option_choices
from rmtkit.compile_cache import enable_compilation_cache
from rmtkit.status import RowStatus

EXIT_OK, EXIT_LAYER_FAILED, EXIT_INPUT, EXIT_NOTHING, EXIT_INTERNAL = 0, 1, 2, 3, 4
#: The defaults of ``analyze``'s flags: those of :class:`rmtkit.analysis.AnalyzeOptions` (choices too).
DEFAULTS = AnalyzeOptions()
#: ``--flag`` -> the :class:`~rmtkit.analysis.AnalyzeOptions` field it sets (tests/test_options.py checks them).
OPTION_FLAGS = {"--layers": "layers", "--exclude": "exclude", "--types": "types", "--min-evals": "min_evals",
                "--max-evals": "max_evals", "--normalize": "normalize", "--precision": "precision",
                "--pl-method": "pl_method", "--randomize": "randomize", "--seed": "seed", "--esd": "esd",
                "--vectors": "vectors", "--traps": "traps"}

COMPARE_HELP = """Per tensor name of either model: both alphas and phases, the KS distance between the two ESDs,
||W_b - W_a||_F / ||W_a||_F and the change (b minus a) of every metric (delta_<column>; csv and json hold them
all, --columns picks them for the table). The table shows the compared rows; --all adds the others with why.
Both models are analysed with the same options.

Exit codes: as rmtkit analyze's, over both models: 0 every selected layer analysed; 1 some layer failed or
partly in a or b; 2 usage error or unreadable input; 3 no layer passed the filters in either model; 4 a bug."""


class UsageError(Exception):
    """A bad argument, found before any work starts."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse would print the whole usage first)
        self.exit(EXIT_INPUT, f"rmtkit: error: {message} (see {self.prog} --help)\n")


class _Version(argparse.Action):
    """``--version``: imports rmtkit only when asked (the import loads JAX)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from rmtkit.version import __version__

        _print(f"rmtkit {__version__}\n", sys.stdout)
        parser.exit(EXIT_OK)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rmtkit", description="Random Matrix Theory analysis of neural-network weights.",
                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    a = sub.add_parser("analyze", help="per-layer spectra, fits, metrics and phases of a checkpoint",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    a.add_argument("path", nargs="+", help=".safetensors file, HF model directory, .npz, PyTorch file (needs "
                   "torch), or a model id org/name in the local Hugging Face cache (nothing is downloaded); "
                   "several: a series of checkpoints")
    _option_flags(a, analysis=True)
    _output_flags(a)
    a.add_argument("--plots", metavar="DIR", help="write per-layer ESD/tail figures and a model chart to DIR "
                   "(with --randomize, the shuffled-W ESD is overlaid)")
    a.add_argument("--base", metavar="MODEL", help="analyse W - W_base, the change from this base model")
    c = sub.add_parser("compare", help="per-layer changes from model A to model B",
                       description=COMPARE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("a", help="the model before (what rmtkit analyze reads)")
    c.add_argument("b", help="the model after")
    _option_flags(c, analysis=False)
    _output_flags(c)
    return parser


def _option_flags(p: argparse.ArgumentParser, *, analysis: bool) -> None:
    """The flags of :data:`OPTION_FLAGS`; ``compare`` gets those of the selection and the fits, the same for both models."""
    p.add_argument("--layers", nargs="+", metavar="PATTERN", help="keep names matching a glob/substring (re:REGEX for regexes)")
    p.add_argument("--exclude", nargs="+", metavar="PATTERN", help="drop names matching these")
    p.add_argument("--types", nargs="+", choices=option_choices("types"), help="keep only these layer types")
    p.add_argument("--min-evals", type=int, default=None,
                   help=f"smallest min(N, M) analysed (default {DEFAULTS.min_evals}, as WeightWatcher 0.7: keeps classifier heads)")
    p.add_argument("--max-evals", type=int, default=None, help="largest min(N, M) analysed (default: no limit)")
    p.add_argument("--normalize", action="store_true", help="eigenvalues of W^T W / N instead of W^T W")
    p.add_argument("--precision", choices=option_choices("precision"), default=DEFAULTS.precision,
                   help=f"dtype of the eigenvalues and fits (default {DEFAULTS.precision})")
    p.add_argument("--pl-method", choices=option_choices("pl_method"), default=DEFAULTS.pl_method,
                   help=f"power-law fit (default {DEFAULTS.pl_method}, the fit the phases were calibrated on)")
    p.add_argument("--esd", choices=option_choices("esd"), default=DEFAULTS.esd,
                   help="ESD of the power-law fit: the full W (default) or FARMS, pooled fixed-aspect-ratio windows "
                   "(docs/theory.md#farms); MP fit and phases stay on the full ESD")
    if not analysis:
        return
    p.add_argument("--randomize", action="store_true",
                   help="add the shuffled-W baseline (correlation traps), shown in the table")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed,
                   help=f"seed of --randomize and --traps (default {DEFAULTS.seed})")
    p.add_argument("--vectors", action="store_true", help="add eigenvector localization columns (vec_pr, ...)")
    p.add_argument("--traps", action="store_true", help="add correlation traps mapped to entries of W (seeded by --seed)")


def _output_flags(p: argparse.ArgumentParser) -> None:
    """Where and how the results go, the same for ``analyze`` and ``compare``."""
    p.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="output format (default table; csv/json hold every row and column)")
    p.add_argument("--columns", metavar="A,B,C", help="table columns to print, comma-separated (see docs/columns.md)")
    p.add_argument("--wide", action="store_true", help="table: print every column (lines may exceed 120 characters)")
    p.add_argument("--all", dest="show_all", action="store_true", help="table: also print the rows not "
                   "analysed (analyze: bias/norm tensors, filtered, too small) or not compared (compare), with why")
    p.add_argument("-o", "--output", help="write the results here (atomically) instead of stdout; a csv gets "
                   "its provenance in FILE.meta.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--spectra", metavar="DIR", help="cache of eigenvalues: reused by reruns with other fit options")


def _check_arguments(args: argparse.Namespace) -> None:
    """Everything that can be checked before the analysis: patterns, numbers, where results go."""
    for pattern in [*(args.layers or ()), *(args.exclude or ())]:
        if pattern.startswith("re:"):
            try:
                re.compile(pattern[3:])
            except re.error as err:
                raise UsageError(f"bad regular expression {pattern!r}: {err}") from None
    if args.min_evals is not None and args.min_evals < 0:
        raise UsageError(f"--min-evals must be >= 0, got {args.min_evals}")
    if args.max_evals is not None and args.max_evals < max(args.min_evals or 0, 1):
        raise UsageError(f"--max-evals must be >= max(--min-evals, 1), got {args.max_evals}")
    from rmtkit.diagnostics import SEED_RANGE

    if args.command == "analyze" and not SEED_RANGE[0] <= args.seed <= SEED_RANGE[1]:
        raise UsageError(f"--seed must be an integer from {SEED_RANGE[0]} to {SEED_RANGE[1]}, got {args.seed}")
    inputs = [args.a, args.b] if args.command == "compare" else [*args.path, *([args.base] if args.base else [])]
    if args.output is not None:
        _check_output_file(Path(args.output), inputs)
        if args.format == "csv":
            from rmtkit.results import results_sidecar

            _check_output_file(results_sidecar(args.output), inputs, flag="-o (its sidecar)")
    if getattr(args, "plots", None) is not None:
        _check_plots_folder(Path(args.plots))
        if args.output is not None and Path(args.output).resolve() == Path(args.plots).resolve():
            raise UsageError(f"-o {args.output} and --plots {args.plots} name the same path: give the figures a folder "
                             "of their own")
        _check_not_an_input(Path(args.plots), inputs, "--plots")
    _check_spectra_folder(args.spectra)


def _check_spectra_folder(folder: str | None) -> None:
    """The ``--spectra`` folder usable (created if missing) before any work, or a usage error."""
    if folder is not None:
        from rmtkit.cache import check_cache_folder

        try:
            check_cache_folder(folder, label="--spectra")
        except ValueError as err:
            raise UsageError(str(err)) from None


def _check_not_an_input(path: Path, inputs: list, flag: str) -> None:
    """Refuse an output that is one of the inputs (links resolved), or a file a model folder's reader reads there
    (a shard or its index: a checkpoint suffix, ``*.index.json``, ``config.json``)."""
    from rmtkit.checkpoints import READERS

    out = path.resolve()
    for given in inputs:
        source = Path(given).resolve()
        read_there = source.is_dir() and out.is_relative_to(source) and (
            out.suffix.lower() in READERS or out.name.endswith(".index.json") or out.name == "config.json")
        if out == source or read_there:
            raise UsageError(f"{flag} {path}: is {'a file the reader reads in ' if read_there else ''}the input "
                             f"{given}; results never replace what they were computed from")


def _check_output_file(path: Path, inputs: list = (), flag: str = "-o") -> None:
    _check_not_an_input(path, list(inputs), flag)
    if path.exists() and not path.is_file():
        raise UsageError(f"{flag} {path}: not a regular file (write to a file; leave out -o for stdout)")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path}: not writable")


def _check_plots_folder(path: Path) -> None:
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"--plots {path}: exists and is not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(f"--plots {path}: folder not writable")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"--plots {path}: cannot be created ({ancestor} is not a writable folder)")


def analyze_options(args: argparse.Namespace) -> dict:
    """The :class:`~rmtkit.analysis.AnalyzeOptions` fields that the flags set (:data:`OPTION_FLAGS`; ``compare`` has some);
    a flag left out whose default is None is left out here too, so the option keeps its own default."""
    values = {field: getattr(args, flag[2:].replace("-", "_"), None) for flag, field in OPTION_FLAGS.items()}
    return {k: v for k, v in values.items() if v is not None}


def _analyze(args: argparse.Namespace) -> int:
    from rmtkit.analyzer import analyze, summarize
    from rmtkit.checkpoints import CheckpointError

    _check_arguments(args)
    options = analyze_options(args) | dict(progress=False if args.no_progress else None, spectra_cache=args.spectra)
    try:
        if len(args.path) > 1:
            return _series(args, options)
        analysis = analyze(args.path[0], base=args.base, **options)
    except (CheckpointError, ValueError) as err:
        raise UsageError(str(err)) from None
    df = analysis.to_frame()
    status = df["status"]
    analysed = status.isin(RowStatus.analysed_values()).sum()
    _write(args, df, summarize(analysis) if analysed else None)
    if args.plots and analysed:
        _plots(args, analysis)
    if not (status != RowStatus.SKIPPED).any():
        _print("rmtkit: no layer passed the filters (see the reasons above)\n", sys.stderr)
        return EXIT_NOTHING
    failed, partial = int((status == RowStatus.FAILED).sum()), int((status == RowStatus.PARTIAL).sum())
    if failed or partial:
        _print(f"rmtkit: {failed} layer(s) failed, {partial} partly (a fit failed); their rows say why\n", sys.stderr)
        return EXIT_LAYER_FAILED
    return EXIT_OK


def _write(args: argparse.Namespace, df, summary, default_columns: list[str] | None = None) -> None:
    """The results to stdout, or to ``-o`` (a csv with its sidecar) with a line on stderr saying where."""
    from rmtkit.results import results_sidecar, write_results

    table = {}
    if args.format == "table":
        columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else default_columns
        table = dict(columns=columns, wide=args.wide, show_all=args.show_all)
    try:
        text = write_results(df, args.output, args.format, summary, **table)
    except OSError as err:
        raise UsageError(f"-o {args.output}: cannot write ({err.strerror or err})") from None
    except ValueError as err:  # an unknown --columns name
        raise UsageError(f"--columns: {err}") from None
    if args.output is None:
        _print(text, sys.stdout)
    else:
        side = f" (provenance in {results_sidecar(args.output).resolve()})" if args.format == "csv" else ""
        _print(f"rmtkit: results written to {Path(args.output).resolve()}{side}\n", sys.stderr)


def _series(args: argparse.Namespace, options: dict) -> int:
    """``rmtkit analyze A B C ...``: one long table; with --plots, the trajectories figure."""
    from rmtkit.compare import analyze_series, plot_trajectories
    from rmtkit.table import DEFAULT_COLUMNS

    df = analyze_series(args.path, **options)
    _write(args, df, None, default_columns=["step", *DEFAULT_COLUMNS])
    if args.plots:
        Path(args.plots).mkdir(parents=True, exist_ok=True)
        plot_trajectories(df, Path(args.plots) / "trajectories.png")
        _print(f"rmtkit: trajectories in {(Path(args.plots) / 'trajectories.png').resolve()}\n", sys.stderr)
    status = df["status"]
    if not (status != RowStatus.SKIPPED).any():  # as for one checkpoint
        _print("rmtkit: no layer passed the filters (see the reasons above)\n", sys.stderr)
        return EXIT_NOTHING
    return EXIT_LAYER_FAILED if status.isin([RowStatus.FAILED, RowStatus.PARTIAL]).any() else EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    """``rmtkit compare A B``: the compared rows as analyze's table, the exit code of both analyses."""
    import pandas as pd

    from rmtkit.checkpoints import CheckpointError
    from rmtkit.compare import compare

    _check_arguments(args)  # before the work: a bad path is a usage error, not a lost analysis
    try:
        df = compare(args.a, args.b, progress=False if args.no_progress else None, spectra_cache=args.spectra,
                     **analyze_options(args))
    except (CheckpointError, ValueError) as err:
        raise UsageError(str(err)) from None
    _write(args, df, None)
    sides = pd.concat([df["status_a"], df["status_b"]]).dropna()
    if not (sides != RowStatus.SKIPPED).any():
        _print("rmtkit: no layer passed the filters in either model (--all shows why)\n", sys.stderr)
        return EXIT_NOTHING
    failed, partial = int((sides == RowStatus.FAILED).sum()), int((sides == RowStatus.PARTIAL).sum())
    if failed or partial:
        _print(f"rmtkit: {failed} layer(s) failed, {partial} partly (a fit failed), in a and b together; "
               "--all shows their rows with why\n", sys.stderr)
        return EXIT_LAYER_FAILED
    return EXIT_OK


def _plots(args: argparse.Namespace, analysis) -> None:
    """The figures of the analysis just made: its spectra and fits, nothing loaded or fitted again."""
    from rmtkit import plot

    written, failures = plot.save_model_plots(analysis, args.plots)
    _print(f"rmtkit: {written} figures in {Path(args.plots).resolve()}\n", sys.stderr)
    for name, why in failures.items():
        _print(f"rmtkit: figure {name!r} not written: {why}\n", sys.stderr)


def _print(text: str, stream) -> None:
    """Write text that may hold names with lone surrogates, escaped rather than crashing the encoder.

    A reader that went away (``rmtkit analyze ... | head -1``) is not an error: the rest of the
    output is dropped and the exit code is the analysis's. A stream that cannot be written (stdout
    on a full disk) is a usage error naming it. Either way the stream is pointed at ``/dev/null``,
    so that Python's own flush at exit neither fails nor prints.
    """
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        stream.flush()
    except BrokenPipeError:
        _silence(stream)
    except OSError as err:
        _silence(stream)
        name = "stdout" if stream is sys.stdout else "stderr" if stream is sys.stderr else "output"
        raise UsageError(f"{name}: cannot write ({err.strerror or err})") from None


def _silence(stream) -> None:
    """Point ``stream``'s file descriptor at ``/dev/null`` (what is still buffered goes there at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a stream without a descriptor (a test's capture)
        pass


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        enable_compilation_cache()
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "compare":
            return _compare(args)
        return EXIT_INPUT  # pragma: no cover - argparse enforces the sub-command
    except UsageError as err:
        _print(f"rmtkit: error: {err}\n", sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug: one line, not a traceback (RMTKIT_TRACEBACK=1 shows it)
        if os.environ.get("RMTKIT_TRACEBACK"):
            raise
        message = " ".join(str(err).split())
        _print(f"rmtkit: internal error: {type(err).__name__}: {message} (please report it)\n", sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
