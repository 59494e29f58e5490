"""The schema of the analysis table: its columns, in order, and which hold counts (docs/columns.md).

At the bottom of the import graph: the analyzer that fills the table, the results module that
writes and reads it, and the text table that prints it all read their column names from here.
"""

from __future__ import annotations

#: The columns of :func:`rmtkit.analyze`'s table, in order.
COLUMNS = [
    "name", "kind", "shape", "N", "M", "Q", "num_evals", "lambda_max", "alpha", "xmin", "D", "sigma", "n_tail",
    "mp_sigma", "lambda_plus", "num_spikes", "mp_D", "mp_soft_rank", "stable_rank", "hard_rank", "rank_loss",
    "entropy", "log_norm", "log_spectral_norm", "alpha_weighted", "log_alpha_norm", "phase", "phase_rule", "phase_reason",
    "warning", "verdict_alpha", "mp_status", "pl_status", "status", "reason",
]
#: Columns added by ``randomize=True``.
RANDOMIZE_COLUMNS = ["rand_lambda_plus", "rand_num_spikes", "correlation_traps", "rand_distance"]
#: Columns added by ``vectors=True`` and by ``traps=True`` (here and in :func:`rmtkit.extra.analyze_extra`).
VECTOR_COLUMNS = ["vec_pr", "vec_pr_random", "vec_localization"]
TRAP_COLUMNS = ["traps", "trap_entries"]
#: Columns of :func:`rmtkit.extra.analyze_extra`.
EXTRA_COLUMNS = ["name", "detx_num", "detx_lambda", "detx_gap", *VECTOR_COLUMNS, *TRAP_COLUMNS]
#: Former column names, as files written before the rename hold them: old -> current (readers map them).
RENAMED_COLUMNS = {"mp_softrank": "mp_soft_rank"}
#: Columns that hold counts: integers wherever they are not missing (written and printed as integers).
INTEGER_COLUMNS = ["N", "M", "num_evals", "n_tail", "num_spikes", "hard_rank", "rank_loss", "rand_num_spikes",
                   "correlation_traps", "traps"]


def current_name(column: str) -> str:
    """A column's current name (``"mp_softrank"`` -> ``"mp_soft_rank"``); any other name unchanged."""
    return RENAMED_COLUMNS.get(column, column)
