"""pool_many on a dask DataFrame: lazy, partitioned by analysis, equal to the pandas path.

The dask tests run on the synchronous scheduler (one thread, deterministic) and are skipped only
when dask is not installed (it is in the ``test`` extra). Equality: the computed dask result,
sorted by the ``by`` key, equals the pandas result of the same rows to 1e-12 (relative), with
the same columns and dtypes.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import iometa

TOL = 1e-12


@pytest.fixture
def dd():
    dd = pytest.importorskip("dask.dataframe")
    import dask

    with dask.config.set(scheduler="synchronous"):
        yield dd


def _table(seed=0, n_analyses=23, kmax=9, key="a"):
    """Analyses of 1 … kmax studies, rows shuffled so every analysis spans partitions."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, kmax + 1, n_analyses)
    ids = np.repeat(np.arange(n_analyses), k)
    tau = rng.uniform(0, 0.4, n_analyses)[ids]
    vi = rng.uniform(0.005, 0.2, ids.size)
    yi = 0.3 + tau * rng.standard_normal(ids.size) + np.sqrt(vi) * rng.standard_normal(ids.size)
    df = pd.DataFrame({key: ids, "yi": yi, "vi": vi})
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


def _sorted(out, by):
    return out.sort_values(by, ignore_index=True)


def _check_equal(lazy, data_pd, by, **opts):
    """The computed lazy result equals pandas pool_many of the same rows; meta is right."""
    expected = iometa.pool_many(data_pd, by=by, **opts)
    assert list(lazy.columns) == list(expected.columns)
    assert lazy._meta.dtypes.to_dict() == expected.dtypes.to_dict()
    got = lazy.compute()
    assert got.dtypes.to_dict() == expected.dtypes.to_dict()
    pd.testing.assert_frame_equal(_sorted(got, by), expected, check_exact=False, rtol=TOL,
                                  atol=0)
    return got


def _spans_partitions(ddf, by):
    parts = [set(ddf.get_partition(i).compute()[by]) for i in range(ddf.npartitions)]
    return any(parts[i] & parts[j] for i in range(len(parts)) for j in range(i))


@pytest.mark.parametrize("method, test", [("REML", "z"), ("DL", "knha"), ("FE", "z"),
                                          ("PM", "knha"), ("ML", "z"), ("SJ", "z")])
def test_equals_pandas_with_analyses_spanning_partitions(dd, method, test):
    df = _table(seed=1)
    ddf = dd.from_pandas(df, npartitions=5)
    assert _spans_partitions(ddf, "a")
    out = iometa.pool_many(ddf, by="a", method=method, test=test)
    assert isinstance(out, dd.DataFrame)
    got = _check_equal(out, df, "a", method=method, test=test)
    # each analysis once, sorted by the key within each output partition
    assert got["a"].is_unique
    for i in range(out.npartitions):
        assert out.get_partition(i).compute()["a"].is_monotonic_increasing


@pytest.mark.parametrize("opts", [
    dict(method="REML", heterogeneity_ci=True),
    dict(method="DL", test="knha", pi_method="hts"),
    dict(method="REML", test="knha", adhoc=True, pi_method="hk-pr"),
    dict(method="HE", level=0.9),
    dict(method="EB", yi="y", vi="v"),
])
def test_every_option_works_lazily(dd, opts):
    df = _table(seed=2)
    if "yi" in opts:
        df = df.rename(columns={"yi": "y", "vi": "v"})
    got = _check_equal(iometa.pool_many(dd.from_pandas(df, npartitions=4), by="a", **opts),
                       df, "a", **opts)
    assert (got["note"] != "").any()  # k = 1 analyses (and k < 3 PI notes) carry their note


def test_string_and_several_by_columns(dd):
    df = _table(seed=3, n_analyses=30)
    df["outcome"] = np.where(df["a"] % 3 == 0, "OS", np.where(df["a"] % 3 == 1, "PFS", "LC"))
    df["arm"] = (df["a"] % 5).astype("int32")
    df = df.drop(columns="a")
    ddf = dd.from_pandas(df, npartitions=3)
    out = iometa.pool_many(ddf, by=["outcome", "arm"], method="REML")
    # the pandas result of the rows dask holds (dask may store strings with its own dtype)
    _check_equal(out, ddf.compute(), ["outcome", "arm"], method="REML")


def test_by_as_index_with_known_divisions_needs_no_shuffle(dd, tmp_path):
    df = _table(seed=8, n_analyses=40).sort_values("a", kind="stable")
    for i, (lo, hi) in enumerate([(0, 9), (10, 24), (25, 39)]):  # Parquet files by id range
        df[df["a"].between(lo, hi)].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    ddf = dd.read_parquet(str(tmp_path), index="a", calculate_divisions=True)
    assert ddf.known_divisions and ddf.npartitions == 3
    out = iometa.pool_many(ddf, by="a", method="REML", test="knha")
    assert out.npartitions == 3  # no shuffle: one output partition per input partition
    assert "shuffle" not in repr(out.expr).lower()
    got = _check_equal(out, df.reset_index(drop=True), "a", method="REML", test="knha")
    assert got["a"].is_monotonic_increasing  # sorted across partitions as well
    # the same index without known divisions: shuffled, same numbers
    lazy = dd.read_parquet(str(tmp_path), index="a", calculate_divisions=False)
    assert not lazy.known_divisions
    _check_equal(iometa.pool_many(lazy, by="a", method="REML", test="knha"),
                 df.reset_index(drop=True), "a", method="REML", test="knha")


def test_empty_partitions(dd):
    df = _table(seed=4, n_analyses=6)
    ddf = dd.from_pandas(df, npartitions=4)
    # an input partition emptied by a filter, and more partitions than analyses after it
    first = set(ddf.get_partition(0).compute().index)
    part = ddf.map_partitions(lambda p: p[~p.index.isin(first)])
    part = part.repartition(npartitions=10)
    kept = df[~df.index.isin(first)]
    out = iometa.pool_many(part, by="a", method="DL")
    sizes = [len(out.get_partition(i).compute()) for i in range(out.npartitions)]
    assert 0 in sizes
    _check_equal(out, kept, "a", method="DL")
    # a frame with no rows at all: an empty result with the right columns (pandas refuses it)
    empty = iometa.pool_many(ddf[ddf["yi"] > 1e9], by="a").compute()
    assert empty.empty and list(empty.columns) == list(iometa.pool_many(df, by="a").columns)


@pytest.mark.parametrize("col, value", [("yi", np.nan), ("vi", np.nan), ("vi", 0.0),
                                        ("a", np.nan)])
def test_bad_row_raises_the_pandas_error_when_computed(dd, col, value):
    df = _table(seed=5)
    df[col] = df[col].astype(float)
    df.loc[17, col] = value
    with pytest.raises(ValueError) as pandas_error:
        iometa.pool_many(df, by="a")
    out = iometa.pool_many(dd.from_pandas(df, npartitions=4), by="a")  # lazy: no error yet
    with pytest.raises(ValueError) as dask_error:
        out.compute()
    assert str(dask_error.value) == str(pandas_error.value)
    assert "row 17" in str(dask_error.value)


def test_rows_reach_the_fit_in_their_original_order(dd, monkeypatch):
    """The shuffle scrambles rows; each partition is put back in the input order first."""
    from iometa import batch

    df = _table(seed=9, n_analyses=12)
    seen = []
    real = batch.pool_many

    def spy(data, **opts):
        if isinstance(data, pd.DataFrame) and len(data) > 3:
            seen.append(data.index.to_numpy())
        return real(data, **opts)

    out = iometa.pool_many(dd.from_pandas(df, npartitions=4), by="a", method="DL")
    monkeypatch.setattr(batch, "pool_many", spy)
    out.compute()
    assert seen and all((np.diff(ix) > 0).all() for ix in seen)  # from_pandas: index = row


def test_nothing_is_computed_until_asked(dd):
    df = _table(seed=6)

    def explode(part):
        raise RuntimeError("computed")

    ddf = dd.from_pandas(df, npartitions=3).map_partitions(explode, meta=df.iloc[:0])
    out = iometa.pool_many(ddf, by="a", method="REML", heterogeneity_ci=True)
    with pytest.raises(RuntimeError, match="computed"):
        out.compute()


def test_argument_errors_are_raised_at_once(dd):
    ddf = dd.from_pandas(_table(seed=7), npartitions=2)
    with pytest.raises(ValueError, match="no such column"):
        iometa.pool_many(ddf, by="nope")
    with pytest.raises(ValueError, match="unknown method"):
        iometa.pool_many(ddf, by="a", method="XX")
    with pytest.raises(ValueError, match="unknown test"):
        iometa.pool_many(ddf, by="a", test="t")
    with pytest.raises(ValueError, match="level"):
        iometa.pool_many(ddf, by="a", level=95)
    with pytest.raises(ValueError, match="pi_method"):
        iometa.pool_many(ddf, by="a", pi_method="nope")
    with pytest.raises(ValueError, match="clash"):
        iometa.pool_many(ddf.rename(columns={"a": "k"}), by="k")
    with pytest.raises(ValueError, match="reserved"):
        iometa.pool_many(ddf.assign(__iometa_row__=1), by="a")


def test_pandas_call_does_not_import_dask():
    code = ("import sys, pandas as pd, iometa\n"
            "df = pd.DataFrame({'g': [1, 1, 2], 'yi': [0.1, 0.2, 0.3], 'vi': [0.1, 0.1, 0.1]})\n"
            "iometa.pool_many(df, by='g', heterogeneity_ci=True)\n"
            "loaded = [m for m in sys.modules if m == 'dask' or m.startswith('dask.')]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True)
