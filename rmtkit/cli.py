"""``rmtkit`` command line: ``rmtkit analyze PATH [options]``.

Exit codes (for scripts):
    0  every selected layer analysed
    1  analysed, but some layers failed (NaN/Inf, all-zero); their rows say why
    2  usage error, or the input cannot be read (missing path, corrupt checkpoint)
    3  nothing to analyse (no layer passed the filters)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_LAYER_FAILED, EXIT_INPUT, EXIT_NOTHING = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rmtkit", description="Random Matrix Theory analysis of neural-network weights.",
                                     epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="per-layer spectra, fits, metrics and phases of a checkpoint",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    a.add_argument("path", help=".safetensors file, HF model directory, .npz, or PyTorch file (needs torch)")
    a.add_argument("--layers", nargs="+", metavar="PATTERN", help="keep names matching a glob/substring (re:REGEX for regexes)")
    a.add_argument("--exclude", nargs="+", metavar="PATTERN", help="drop names matching these")
    a.add_argument("--types", nargs="+", choices=["dense", "conv", "embedding", "dense_general"])
    a.add_argument("--min-evals", type=int, default=None, help="smallest min(N, M) analysed (default 50)")
    a.add_argument("--max-evals", type=int, default=None)
    a.add_argument("--normalize", action="store_true", help="eigenvalues of W^T W / N instead of W^T W")
    a.add_argument("--precision", choices=["float64", "float32"], default="float64")
    a.add_argument("--pl-method", choices=["csn", "auto"], default="csn", help="power-law fit (default csn)")
    a.add_argument("--randomize", action="store_true", help="add the shuffled-W baseline (correlation traps)")
    a.add_argument("--seed", type=int, default=0, help="seed of --randomize")
    a.add_argument("--format", choices=["table", "csv", "json"], default="table")
    a.add_argument("-o", "--output", help="write the results here instead of stdout")
    a.add_argument("--plots", metavar="DIR", help="write per-layer ESD/tail figures and a model chart to DIR")
    a.add_argument("--no-progress", action="store_true")
    return parser


def _analyze(args: argparse.Namespace) -> int:
    import rmtkit
    from rmtkit import io

    options = {k: v for k, v in dict(layers=args.layers, exclude=args.exclude, types=args.types,
                                     min_evals=args.min_evals, max_evals=args.max_evals).items() if v is not None}
    try:
        df = rmtkit.analyze(args.path, normalize=args.normalize, precision=args.precision, pl_method=args.pl_method,
                            randomize=args.randomize, seed=args.seed, progress=False if args.no_progress else None,
                            **options)
    except (io.CheckpointError, ValueError) as err:
        print(f"rmtkit: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    ok = (df["status"] == "ok").sum()
    summary = rmtkit.summarize(df) if ok else None
    text = io.write_results(df, args.output, args.format, summary)
    if args.output is None:
        sys.stdout.write(text)
    if args.plots and ok:
        from rmtkit import plot

        spectra = rmtkit.layer_spectra(args.path, normalize=args.normalize, precision=args.precision, **options)
        written = plot.save_model_plots(df, spectra, args.plots)
        print(f"rmtkit: {written} figures in {Path(args.plots).resolve()}", file=sys.stderr)
    if ok == 0:
        print("rmtkit: no layer passed the filters (see the reasons above)", file=sys.stderr)
        return EXIT_NOTHING
    failed = (df["status"] == "failed").sum()
    if failed:
        print(f"rmtkit: {failed} layer(s) failed; their rows say why", file=sys.stderr)
        return EXIT_LAYER_FAILED
    return EXIT_OK


def _enable_compilation_cache() -> None:
    """Keep JAX's compiled fits on disk between CLI processes (``RMTKIT_JAX_CACHE``: folder, or ``off``).

    A cold process then loads the executables instead of compiling them again (seconds saved).
    """
    where = os.environ.get("RMTKIT_JAX_CACHE", str(Path.home() / ".cache" / "rmtkit" / "jax"))
    if where.lower() == "off":
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _enable_compilation_cache()
    if args.command == "analyze":
        return _analyze(args)
    return EXIT_INPUT  # pragma: no cover - argparse enforces the sub-command


if __name__ == "__main__":
    sys.exit(main())
