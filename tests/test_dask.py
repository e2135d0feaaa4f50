"""metapool.dask on a real two-process LocalCluster, against metapool.pool in memory."""

# ruff: noqa: E402 (the imports after importorskip need the extra)
from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

# the dask extra (Dask, distributed, pandas)
dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
pytest.importorskip("distributed")
from distributed import Client, LocalCluster

import metapool
import metapool.dask as mdask
from metapool import InputError

ESTIMATORS = ("DL", "REML", "ML", "PM", "EB", "HE", "SJ", "HS")
CLOSED_FORM = {"DL", "HE", "SJ", "HS", "fixed"}
OPTIONS: tuple[dict[str, Any], ...] = (
    {"hksj": True, "prediction": True, "i2": "tau2"},
    {"tau2_ci": True, "ci_level": 0.9},
)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def studies(seed: int = 7, n_groups: int = 24, labels: str = "str") -> pd.DataFrame:
    """Ragged analyses (k = 1 to 12, a few k = 1 and 2), heterogeneity from none to large."""
    rng = np.random.default_rng(seed)
    ks = rng.integers(1, 13, n_groups)
    ks[:3] = (1, 2, 1)
    names: Any = (
        np.array([f"trial-{i:02d}" for i in range(n_groups)], dtype=object)
        if labels == "str"
        else 37 * np.arange(n_groups) - 400  # negative, not consecutive
    )
    group = np.repeat(rng.permutation(names), ks)
    tau = np.repeat(rng.choice([0.0, 0.1, 0.5], n_groups), ks)
    vi = rng.uniform(0.005, 0.2, group.size)
    yi = np.repeat(rng.normal(0.2, 0.4, n_groups), ks) + rng.normal(0, np.sqrt(vi + tau**2))
    return pd.DataFrame({"group": group, "yi": yi, "vi": vi, "other": "x"})


def partitioned(pieces: list[pd.DataFrame]) -> Any:
    """A Dask frame whose partitions are exactly ``pieces`` (empty ones included)."""
    return dd.concat([dd.from_pandas(p, npartitions=1, sort=False) for p in pieces])


def ragged_split(df: pd.DataFrame) -> Any:
    """Sorted by group, cut into 6 partitions mid-group."""
    return dd.from_pandas(df.sort_values("group", kind="stable"), npartitions=6, sort=False)


def shuffled(df: pd.DataFrame) -> Any:
    return dd.from_pandas(df.sample(frac=1.0, random_state=3), npartitions=5, sort=False)


def one_partition_group(df: pd.DataFrame) -> Any:
    """One group alone in the middle partition; the others in random order around it."""
    alone = df["group"] == df["group"].iloc[0]
    rest = df[~alone].sample(frac=1.0, random_state=4)
    half = len(rest) // 2
    return partitioned([rest.iloc[:half], df[alone], rest.iloc[half:]])


def empty_partitions(df: pd.DataFrame) -> Any:
    """Sorted data with empty partitions first, between and last."""
    df = df.sort_values("group", kind="stable")
    cut = len(df) // 3
    empty = df.iloc[:0]
    return partitioned(
        [empty, df.iloc[:cut], empty, empty, df.iloc[cut : 2 * cut], df.iloc[2 * cut :], empty]
    )


LAYOUTS: dict[str, Callable[[pd.DataFrame], Any]] = {
    "ragged split": ragged_split,
    "shuffled": shuffled,
    "one-partition group": one_partition_group,
    "empty partitions": empty_partitions,
}


def model_options(estimator: str) -> dict[str, Any]:
    return {"model": "fixed"} if estimator == "fixed" else {"tau2": estimator}


def assert_matches(got: pd.DataFrame, df: pd.DataFrame, options: dict[str, Any]) -> None:
    """``got`` equals metapool.pool on the same rows in memory, column by column."""
    want = metapool.pool(df["yi"], df["vi"], df["group"], **options)
    assert got.index.tolist() == want.groups.tolist()
    method = "fixed" if options.get("model") == "fixed" else options.get("tau2", "DL")
    closed = method in CLOSED_FORM and not options.get("tau2_ci")
    rtol, atol = (1e-12, 1e-14) if closed else (1e-9, 1e-11)
    for name in got.columns:
        expected = np.asarray(getattr(want, name))
        if name == "converged":
            assert got[name].tolist() == expected.tolist()
        else:
            np.testing.assert_allclose(
                got[name].to_numpy(), expected, rtol=rtol, atol=atol, err_msg=name
            )


def shuffles(result: Any) -> bool:
    return any("shuffle" in str(key) for key in result.optimize().__dask_graph__())


# ----------------------------------------------------------------------------- agreement


def test_every_estimator_on_every_layout_matches_memory(client: Client) -> None:
    df, numbered = studies(), studies(seed=3, labels="int")
    cases = [(layout, est, df) for layout in LAYOUTS for est in (*ESTIMATORS, "fixed")]
    cases += [("ragged split", est, numbered) for est in ("DL", "REML", "fixed")]
    lazy = [mdask.pool(LAYOUTS[layout](data), **model_options(est)) for layout, est, data in cases]
    for (layout, est, data), got in zip(cases, dask.compute(*lazy), strict=True):
        try:
            assert_matches(got, data, model_options(est))
        except AssertionError as exc:
            raise AssertionError(f"{layout}, {est}, {data['group'].dtype}: {exc}") from None


def test_every_option_matches_memory(client: Client) -> None:
    df = studies(seed=11)
    cases = [
        (layout, est, opts)
        for layout in ("ragged split",)
        for est in (*ESTIMATORS, "fixed")
        for opts in OPTIONS
        # HKSJ and prediction intervals are random-effects options
        if est != "fixed" or not {"hksj", "prediction"} & opts.keys()
    ]
    lazy = [
        mdask.pool(LAYOUTS[layout](df), **model_options(est), **opts) for layout, est, opts in cases
    ]
    for (layout, est, opts), got in zip(cases, dask.compute(*lazy), strict=True):
        try:
            assert_matches(got, df, {**model_options(est), **opts})
        except AssertionError as exc:
            raise AssertionError(f"{layout}, {est}, {opts}: {exc}") from None


def test_columns_are_the_pool_result_fields(client: Client) -> None:
    df = studies()
    options = {"prediction": True, "tau2_ci": True, "ci_level": 0.9}
    got = mdask.pool(shuffled(df), **options).compute()
    want = metapool.pool(df["yi"], df["vi"], df["group"], **options)
    fields = [
        f.name
        for f in attrs.fields(type(want))
        if f.name not in ("weights", "groups") and getattr(want, f.name) is not None
    ]
    assert [c for c in got.columns if c != "p_q"] == fields
    assert {"p_q", "pi_lower", "tau2_ci_upper", "converged"} <= set(got.columns)
    assert got.index.name == "group" and got["converged"].dtype == bool
    assert_matches(got, df, options)


def test_other_column_names(client: Client) -> None:
    df = studies().rename(columns={"group": "analysis", "yi": "logor", "vi": "var"})
    got = mdask.pool(
        shuffled(df), yi="logor", vi="var", groups="analysis", tau2="HS", hksj=True
    ).compute()
    want = metapool.pool(df["logor"], df["var"], df["analysis"], tau2="HS", hksj=True)
    np.testing.assert_allclose(got["ci_upper"], want.ci_upper, rtol=1e-12)
    assert got.index.name == "analysis"


def test_hksj_adhoc_by_sums_and_by_shuffle(client: Client) -> None:
    """The ad hoc rule is the engine's: the same on summed and on shuffled groups."""
    df = studies(seed=11)
    plain = metapool.pool(df["yi"], df["vi"], df["group"], tau2="HE", hksj=True)
    adhoc = metapool.pool(df["yi"], df["vi"], df["group"], tau2="HE", hksj="adhoc")
    assert (adhoc.se > plain.se).any() and (adhoc.se >= plain.se).all()
    for options in ({"tau2": "HE", "hksj": "adhoc"}, {"tau2": "PM", "hksj": "adhoc"}):
        lazy = mdask.pool(shuffled(df), **options)
        assert shuffles(lazy) == (options["tau2"] == "PM")
        assert_matches(lazy.compute(), df, options)


def test_q_stays_accurate_when_large_means_would_cancel(client: Client) -> None:
    """One-pass Σwy² - (Σwy)²/Σw loses every digit here; summing about θ keeps Q."""
    rng = np.random.default_rng(5)
    group = np.repeat(np.arange(6), 40)
    yi = 1e5 + rng.normal(0, 1e-3, group.size)
    vi = rng.uniform(1, 2, group.size) * 1e-6
    df = pd.DataFrame({"group": group, "yi": yi, "vi": vi})
    lazy = mdask.pool(shuffled(df), hksj=True)
    assert not shuffles(lazy)
    got = lazy.compute()
    want = metapool.pool(yi, vi, group, hksj=True)
    for name in ("q", "i2", "se", "ci_lower"):
        np.testing.assert_allclose(got[name], getattr(want, name), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("exponent", [-150, -100, 100, 150])
def test_results_scale_with_the_data_far_from_one(client: Client, exponent: int) -> None:
    """Weights of 1e±300 would overflow the sums: the summed groups are pooled in
    their own units, as in memory, and every result scales with the data."""
    df = studies(seed=5)
    c = 10.0**exponent
    scaled = df.assign(yi=df["yi"] * c, vi=df["vi"] * c * c)
    cases = [{"model": "fixed"}] + [{"tau2": t, "hksj": True} for t in ("DL", "HS", "HE", "SJ")]
    lazy = [mdask.pool(ragged_split(scaled), **options) for options in cases]
    for options, got in zip(cases, dask.compute(*lazy), strict=True):
        want = metapool.pool(df["yi"], df["vi"], df["group"], **options)
        for name, power in (("estimate", 1), ("se", 1), ("ci_upper", 1), ("tau2", 2)):
            np.testing.assert_allclose(
                got[name].to_numpy() / c**power, getattr(want, name), rtol=1e-12, atol=1e-14,
                err_msg=f"{options} {name}",
            )  # fmt: skip
        for name in ("z", "p_value", "q", "i2"):
            np.testing.assert_allclose(
                got[name].to_numpy(), getattr(want, name), rtol=1e-12, atol=1e-14,
                err_msg=f"{options} {name}",
            )  # fmt: skip


def test_identical_estimates_have_no_hksj_spread_by_sums(client: Client) -> None:
    """The engine's rule for identical estimates (HKSJ variance 0, then the ad hoc
    fallback) holds on summed groups too, whatever the rounding of θ."""
    group = np.repeat(np.arange(4), 5)
    yi = np.where(group == 1, 0.7, np.linspace(0.1, 0.9, group.size))  # θ rounds off 0.7
    vi = np.linspace(0.01, 0.05, group.size)
    df = pd.DataFrame({"group": group, "yi": yi, "vi": vi})
    with pytest.warns(metapool.MetapoolWarning, match="HKSJ variance is 0"):
        want = metapool.pool(yi, vi, group, tau2="DL", hksj=True)
    got = mdask.pool(ragged_split(df), tau2="DL", hksj=True)
    assert not shuffles(got)
    np.testing.assert_allclose(got.compute()["se"], want.se, rtol=1e-12)


# ----------------------------------------------------------------------------- plan


def test_sum_based_estimators_never_shuffle_rows(client: Client) -> None:
    frame = shuffled(studies())
    for options in ({"tau2_ci": False}, {"i2": "tau2", "ci_level": 0.99}):
        assert not shuffles(mdask.pool(frame, model="fixed", **options)), options
    for method in ("DL", "HS", "HE", "SJ"):
        options = {"tau2": method, "hksj": True, "prediction": True}
        assert not shuffles(mdask.pool(frame, **options)), options
    for options in ({"tau2": "REML"}, {"tau2": "PM"}, {"model": "fixed", "tau2_ci": True}):
        assert shuffles(mdask.pool(frame, **options)), options


def test_groups_inside_partitions_are_pooled_in_place(client: Client) -> None:
    """Whole groups per partition: no shuffle even for REML, one result partition each."""
    df = studies().sort_values("group", kind="stable")
    cuts = np.flatnonzero(df["group"].to_numpy()[1:] != df["group"].to_numpy()[:-1]) + 1
    pieces = np.split(np.arange(len(df)), cuts[[4, 11, 17]])
    frame = partitioned([df.iloc[rows] for rows in pieces])
    lazy = mdask.pool(frame, tau2="REML", tau2_ci=True)
    assert not shuffles(lazy) and lazy.npartitions == frame.npartitions
    assert_matches(lazy.compute(), df, {"tau2": "REML", "tau2_ci": True})


def test_parquet_files_that_dask_would_fuse(client: Client, tmp_path: Path) -> None:
    """Reading only the group column, Dask fuses small Parquet files into fewer partitions;
    pool() must still see the partitions it pools."""
    df = studies(seed=13, n_groups=60).sort_values("group", kind="stable")
    for i, rows in enumerate(np.array_split(np.arange(len(df)), 8)):
        df.iloc[rows].to_parquet(tmp_path / f"part-{i}.parquet")
    frame = dd.read_parquet(str(tmp_path))
    assert len(frame["group"].map_partitions(len).compute()) < frame.npartitions
    for options in ({"tau2": "DL", "hksj": True}, {"tau2": "PM"}):
        assert_matches(mdask.pool(frame, **options).compute(), df, options)


def test_import_metapool_does_not_import_dask() -> None:
    code = "import sys, metapool; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_without_dask_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['dask'] = None\n"
        "try:\n    import metapool.dask\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert "pip install 'metapool[dask]'" in out.stdout and "pip install '.[dask]'" in out.stdout


# ----------------------------------------------------------------------------- bad input


def bad(df: pd.DataFrame, row: int, **values: Any) -> pd.DataFrame:
    df = df.copy()
    for column, value in values.items():
        df.loc[df.index[row], column] = value
    return df


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"yi": np.nan}, "'yi', {group}: nan is not finite"),
        ({"vi": 0.0}, "'vi', {group}: 0.0 is not a positive variance"),
        ({"vi": -0.5}, "'vi', {group}: -0.5 is not a positive variance"),
        ({"vi": np.inf}, "'vi', {group}: inf is not finite"),
    ],
)
def test_bad_rows_fail_on_the_worker_with_a_clear_message(
    client: Client, values: dict[str, float], problem: str
) -> None:
    df = bad(studies(), 17, **values)
    where = f"group {df['group'].iloc[17]!r} (row index 17)"
    for layout, tau2 in ((shuffled, "DL"), (ragged_split, "REML")):
        lazy = mdask.pool(layout(df), tau2=tau2)
        with pytest.raises(InputError) as raised:
            lazy.compute()
        assert str(raised.value) == "column " + problem.format(group=where)


def test_missing_and_misnamed_columns(client: Client) -> None:
    frame = shuffled(studies())
    with pytest.raises(InputError, match=r"column 'v' \(vi=\) is not in the frame.*'vi'"):
        mdask.pool(frame, vi="v")
    with pytest.raises(InputError, match=r"column 'groups' \(groups=\) is not in the frame"):
        mdask.pool(frame, groups="groups")
    with pytest.raises(InputError, match="different columns"):
        mdask.pool(frame, vi="yi")


def test_non_numeric_columns(client: Client) -> None:
    frame = shuffled(studies())
    with pytest.raises(InputError, match=r"column 'other' \(yi=\) must hold numbers"):
        mdask.pool(frame, yi="other")
    frame = frame.assign(flag=True)
    with pytest.raises(InputError, match=r"column 'flag' \(vi=\) must hold numbers"):
        mdask.pool(frame, vi="flag")
    with pytest.raises(InputError, match=r"column 'other' \(estimable=\) must be boolean"):
        mdask.pool(frame, estimable="other")


def test_missing_and_unsortable_group_labels(client: Client) -> None:
    df = studies(labels="int").astype({"group": float})
    df.loc[df.index[5], "group"] = np.nan
    with pytest.raises(InputError, match=r"column 'group' \(groups=\) has no label at index 5"):
        mdask.pool(shuffled(df))
    mixed = studies().astype({"group": object})
    mixed.loc[mixed.index[3], "group"] = 3
    with (
        dask.config.set({"dataframe.convert-string": False}),  # would make 3 a string
        pytest.raises(InputError, match="group labels in column 'group' must be sortable"),
    ):
        mdask.pool(partitioned([mixed]))


def test_options_and_frame_type_are_checked_at_once(client: Client) -> None:
    frame = shuffled(studies())
    with pytest.raises(InputError, match="unknown tau2 estimator 'XX'"):
        mdask.pool(frame, tau2="XX")
    with pytest.raises(InputError, match=r"must be a dask\.dataframe\.DataFrame"):
        mdask.pool(studies())
    for name in ("hksj", "prediction", "tau2_ci"):
        choices = "True, False or 'adhoc'" if name == "hksj" else "True or False"
        with pytest.raises(InputError, match=f"{name} must be {choices}, got 'no'"):
            mdask.pool(frame, **{name: "no"})
    with pytest.raises(InputError, match='hksj=True needs model="random"'):
        mdask.pool(frame, model="fixed", hksj=True)
    with pytest.raises(InputError, match=r"ci_level must lie between 0 and 1.*write 0\.95"):
        mdask.pool(frame, ci_level=95)
    counts = dd.from_pandas(pd.DataFrame({"e1": [1], "n1": [9], "e2": [2], "n2": [9]}), 1)
    columns = {"events_exp": "e1", "total_exp": "n1", "events_ctrl": "e2", "total_ctrl": "n2"}
    with pytest.raises(InputError, match="swap_events must be True or False"):
        mdask.effect_sizes(counts, "OR", swap_events="no", **columns)


# ----------------------------------------------------------------------------- effect sizes


def counts(seed: int = 2) -> pd.DataFrame:
    """Two-arm trials with rare events: some studies have no events at all."""
    rng = np.random.default_rng(seed)
    n = 60
    n1, n2 = rng.integers(10, 80, n), rng.integers(10, 80, n)
    return pd.DataFrame(
        {
            "trial": np.repeat(np.array(list("abcdefghij"), dtype=object), 6),
            "e1": rng.binomial(n1, 0.03),
            "n1": n1,
            "e2": rng.binomial(n2, 0.05),
            "n2": n2,
        }
    ).assign(e1=lambda d: d["e1"].where(d["trial"] != "j", 0),
             e2=lambda d: d["e2"].where(d["trial"] != "j", 0))  # fmt: skip


@pytest.mark.parametrize("method", ["fixed", "DL", "REML"])
def test_counts_to_results_in_two_calls(client: Client, method: str) -> None:
    df = counts()
    columns = {"events_exp": "e1", "total_exp": "n1", "events_ctrl": "e2", "total_ctrl": "n2"}
    frame = dd.from_pandas(df.sample(frac=1.0, random_state=1), npartitions=4, sort=False)
    es_frame = mdask.effect_sizes(frame, "OR", **columns)
    options = model_options(method)
    got = mdask.pool(es_frame, groups="trial", estimable="estimable", **options).compute()
    es = metapool.effect_sizes("OR", **{arg: df[col] for arg, col in columns.items()})
    want = metapool.pool(es, groups=df["trial"], **options)
    assert not es.estimable.all() and got.loc["j", "k"] == 0  # no trial in j has an event
    assert got.index.tolist() == want.groups.tolist()
    for name in ("estimate", "se", "q", "tau2", "k", "i2"):
        np.testing.assert_allclose(got[name], getattr(want, name), rtol=1e-9, err_msg=name)


def test_effect_sizes_columns_match_memory(client: Client) -> None:
    df = counts()
    frame = dd.from_pandas(df, npartitions=3)
    got = mdask.effect_sizes(
        frame, "RR", events_exp="e1", total_exp="n1", events_ctrl="e2", total_ctrl="n2"
    ).compute()
    want = metapool.effect_sizes(
        "RR", events_exp=df["e1"], total_exp=df["n1"], events_ctrl=df["e2"], total_ctrl=df["n2"]
    )
    np.testing.assert_array_equal(got["yi"], want.yi)
    np.testing.assert_array_equal(got["vi"], want.vi)
    np.testing.assert_array_equal(got["estimable"], want.estimable)
    assert got.columns.tolist() == [*df.columns, "yi", "vi", "estimable"]


def test_effect_sizes_errors(client: Client) -> None:
    df = counts()
    df.loc[df.index[9], "e1"] = -1
    frame = dd.from_pandas(df, npartitions=3)
    columns = {"events_exp": "e1", "total_exp": "n1", "events_ctrl": "e2", "total_ctrl": "n2"}
    lazy = mdask.effect_sizes(frame, "OR", **columns)
    with pytest.raises(InputError, match=r"study 9: events_exp = -1 is negative.*events_exp='e1'"):
        lazy.compute()
    with pytest.raises(InputError, match="unknown measure"):
        mdask.effect_sizes(frame, "XYZ", **columns)
    with pytest.raises(InputError, match="needs total_ctrl"):
        mdask.effect_sizes(frame, "OR", events_exp="e1", total_exp="n1", events_ctrl="e2")
    with pytest.raises(InputError, match=r"column 'trial' \(events_exp=\) must hold numbers"):
        mdask.effect_sizes(frame, "OR", **{**columns, "events_exp": "trial"})
