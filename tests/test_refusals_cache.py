"""Issue 23: the spectra cache trusts a checkpoint only by its content, and a bad entry is never used.

Each test failed before its fix: a same-size rewrite with its modification time restored served the
old eigenvalues; a FIFO at an entry's path hung the run; an entry of the wrong length was used and
marked ok, a 2-D or empty one crashed; an unusable ``--spectra`` folder failed after the analysis.
"""

import os
import signal

import numpy as np
import pytest

from rmtkit import checkpoints
from rmtkit.cache import cached_spectra
from rmtkit.layers import extract_layers
from tests.test_cache import OPTS, Solver  # the counting eigensolver of the cache tests


def write(path, seed):
    rng = np.random.default_rng(seed)
    checkpoints.write_safetensors(path, {"a.kernel": rng.standard_normal((60, 40)).astype(np.float32)})


def layers_of(path):
    return extract_layers(checkpoints.load_weights(path))[0]


def test_same_size_rewrite_with_its_time_restored_is_not_served_stale_spectra(tmp_path):
    path, cache = tmp_path / "m.safetensors", tmp_path / "cache"
    write(path, seed=0)
    cached_spectra(Solver(), layers_of(path), cache, **OPTS)
    stat = path.stat()
    write(path, seed=1)  # another checkpoint of the same size ...
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... its modification time restored (cp -p, rsync -t)
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    solver = Solver()
    spectra, _ = cached_spectra(solver, layers_of(path), cache, **OPTS)
    assert solver.asked == ["a.kernel"]
    w = checkpoints.read_safetensors(path)["a.kernel"].astype(np.float64)
    np.testing.assert_allclose(spectra["a.kernel"], np.linalg.eigvalsh(w.T @ w), rtol=1e-10)  # the new weights'
    again = Solver()
    cached_spectra(again, layers_of(path), cache, **OPTS)
    assert again.asked == []  # the same bytes: a hit


@pytest.fixture
def alarm():
    """Fail instead of hanging: a blocking open() is interrupted after 10 s (not by an OSError, which a reader may catch)."""

    class Hung(BaseException):
        pass

    def ring(*_):
        raise Hung("hung for 10 s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def filled(tmp_path, store):
    """A cache filled once for a file checkpoint ("file") or an array in memory ("memory"): (layers, cache, entry)."""
    cache = tmp_path / "cache"
    if store == "file":
        write(tmp_path / "m.safetensors", seed=0)
        layers = lambda: layers_of(tmp_path / "m.safetensors")  # noqa: E731
    else:
        w = np.random.default_rng(1).standard_normal((60, 40))
        layers = lambda: extract_layers({"a.kernel": w})[0]  # noqa: E731
    cached_spectra(Solver(), layers(), cache, **OPTS)
    (entry,) = cache.iterdir()
    return layers, cache, entry


@pytest.mark.parametrize("store", ["file", "memory"])
def test_a_fifo_at_an_entry_path_is_a_miss_not_a_hang(tmp_path, alarm, store):
    layers, cache, entry = filled(tmp_path, store)
    entry.unlink()
    os.mkfifo(entry)
    solver = Solver()
    spectra, _ = cached_spectra(solver, layers(), cache, **OPTS)
    assert solver.asked == ["a.kernel"] and spectra["a.kernel"].shape == (40,)


@pytest.mark.parametrize("store", ["file", "memory"])
def test_a_folder_at_an_entry_path_costs_the_caching_not_the_analysis(tmp_path, store):
    layers, cache, entry = filled(tmp_path, store)
    good = cached_spectra(Solver(), layers(), cache, **OPTS)[0]["a.kernel"]
    entry.unlink()
    entry.mkdir()
    solver = Solver()
    with pytest.warns(UserWarning, match=f"spectra cache: {entry} not written"):
        spectra, failures = cached_spectra(solver, layers(), cache, **OPTS)
    assert solver.asked == ["a.kernel"] and failures == {} and entry.is_dir()
    np.testing.assert_array_equal(spectra["a.kernel"], good)


@pytest.mark.parametrize("store", ["file", "memory"])
@pytest.mark.parametrize("bad", ["short", "2-D", "empty", "NaN", "text"])
def test_an_entry_of_the_wrong_shape_is_recomputed_never_used(tmp_path, store, bad):
    layers, cache, entry = filled(tmp_path, store)
    good = cached_spectra(Solver(), layers(), cache, **OPTS)[0]["a.kernel"]
    value = {"short": good[:-3], "2-D": good.reshape(4, 10), "empty": good[:0], "NaN": np.full_like(good, np.nan),
             "text": np.array(["x"] * good.size)}[bad]
    if store == "file":
        with np.load(entry, allow_pickle=False) as z:
            members = {k: z[k] for k in z.files}
        (key,) = [k for k in members if k != "__identity__"]
        np.savez(entry, **{**members, key: value})
    else:
        np.save(entry, value)
    solver = Solver()
    spectra, failures = cached_spectra(solver, layers(), cache, **OPTS)
    assert solver.asked == ["a.kernel"] and failures == {}
    np.testing.assert_array_equal(spectra["a.kernel"], good)
    again = Solver()
    cached_spectra(again, layers(), cache, **OPTS)
    assert again.asked == []  # the bad entry was overwritten


@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_an_unusable_spectra_folder_is_refused_before_the_analysis(tmp_path, capsys, monkeypatch, where):
    import rmtkit.analyzer
    from rmtkit import cli

    write(tmp_path / "m.safetensors", seed=0)
    (tmp_path / "f").write_text("not a folder")
    folder = tmp_path / "f" if where == "a file" else tmp_path / "f" / "cache"
    solver = Solver()
    with pytest.raises(ValueError, match=rf"spectra cache {folder}: .*not a folder"):
        cached_spectra(solver, layers_of(tmp_path / "m.safetensors"), folder, **OPTS)
    assert solver.asked == []

    def never(*_args, **_kwargs):
        raise AssertionError("the analysis started")

    monkeypatch.setattr(rmtkit.analyzer, "analyze", never)
    monkeypatch.setenv("RMTKIT_JAX_CACHE", "off")
    assert cli.main(["analyze", str(tmp_path / "m.safetensors"), "--spectra", str(folder), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rmtkit: error: --spectra") and err.count("\n") == 1
