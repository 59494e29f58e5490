import sys

from hydra.core.override_parser.overrides_parser import OverridesParser

from simulations.zoo.config import sweep_of
from simulations.zoo.main import main


def _check_checkpoints(argv: list[str]) -> None:
    """A ``checkpoints=[...]`` glob that matches nothing: one line and exit 2, before Hydra starts (not its traceback)."""
    overrides = [a for a in argv if a.lstrip("+~").startswith("checkpoints=")]
    try:
        for override in OverridesParser.create().parse_overrides(overrides):
            value = override.value()
            sweep_of([str(v) for v in value] if isinstance(value, list) else [str(value)])
    except ValueError as err:  # nothing matches (Hydra's own override errors are also ValueErrors: it reports them)
        if "nothing matches" not in str(err):
            return
        print(f"zoo: error: {err}", file=sys.stderr)
        sys.exit(2)


_check_checkpoints(sys.argv[1:])
main()
