"""Dask arrays through qf.round / qf.encode / qf.fake_quantize: lazy results,
bit-identical to the in-memory functions, on a dask.distributed LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest
import qformat as qf

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.fixture(scope="module")
def x():
    rng = np.random.default_rng(11)
    a = (rng.standard_normal((96, 160)) * np.exp(rng.uniform(-3, 3, (96, 1)))).astype(np.float32)
    a[5, :] = 0.0  # an all-zero channel
    a[7, 3] = 1e30  # a value far outside fp8's range
    return a


def _same(lazy, eager, client):
    assert isinstance(lazy, da.Array)
    got = client.compute(lazy).result()
    assert got.dtype == eager.dtype
    np.testing.assert_array_equal(got.view(np.uint8), eager.view(np.uint8))  # bit for bit


@pytest.mark.parametrize("fmt,opts", [("bf16", {}), ("fp8_e4m3fn", {}),
                                      ("fp8_e4m3fn", {"overflow": "saturate"}),
                                      ("fp4_e2m1fn", {"rounding": "toward_zero"}), ("int8", {})])
def test_round_and_encode(client, x, fmt, opts):
    d = da.from_array(x, chunks=(40, 64))
    _same(qf.round(d, fmt, **opts), qf.round(x, fmt, **opts), client)
    _same(qf.encode(d, fmt, **opts), qf.encode(x, fmt, **opts), client)


@pytest.mark.parametrize("chunks", [(40, 64), (96, 50), (17, 160)])
@pytest.mark.parametrize("fmt,opts", [
    ("int8", {}),
    ("int8", {"axis": 0}),
    ("int8", {"axis": 1}),
    ("int8", {"axis": 0, "scheme": "asymmetric"}),
    ("uint8", {"scheme": "asymmetric"}),
    ("int4", {"axis": 1, "group_size": 32}),
    ("int4", {"axis": 0, "group_size": 8}),
    ("int8", {"axis": 0, "clip": 0.5}),
    ("fp8_e4m3fn", {"axis": 1, "group_size": 32, "scale_format": "fp8_e8m0fnu"}),
    ("fp4_e2m1fn", {"axis": 0}),
])
def test_fake_quantize(client, chunks, fmt, opts):
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((96, 160)) * np.exp(rng.uniform(-3, 3, (96, 1)))).astype(np.float32)
    a[5, :] = 0.0
    d = da.from_array(a, chunks=chunks)
    lazy = qf.fake_quantize(d, fmt, **opts)
    _same(lazy, qf.fake_quantize(a, fmt, **opts), client)


def test_three_dimensions_and_float64(client):
    a = np.random.default_rng(5).standard_normal((6, 10, 32))
    d = da.from_array(a, chunks=(4, 3, 16))
    for opts in ({}, {"axis": 1}, {"axis": 2, "group_size": 16}, {"axis": 0}):
        _same(qf.fake_quantize(d, "int8", **opts), qf.fake_quantize(a, "int8", **opts), client)


def test_nan_is_an_error_as_in_memory(client, x):
    a = x.copy()
    a[50, 50] = np.nan
    with pytest.raises(ValueError):
        qf.fake_quantize(a, "int8", axis=1)
    with pytest.raises(ValueError):
        client.compute(qf.fake_quantize(da.from_array(a, chunks=32), "int8", axis=1)).result()


def test_what_cannot_be_blockwise_says_so(x):
    d = da.from_array(x, chunks=32)
    with pytest.raises(ValueError, match="stochastic"):
        qf.round(d, "bf16", rounding="stochastic", seed=1)
    with pytest.raises(ValueError, match="percentile"):
        qf.fake_quantize(d, "int8", percentile=99.0)
    with pytest.raises(ValueError, match="out="):
        qf.round(d, "bf16", out=np.empty_like(x))
    one = da.from_array(x, chunks=-1)  # a single block: position-dependent rounding is fine
    np.testing.assert_array_equal(qf.round(one, "bf16", rounding="stochastic", seed=1).compute(),
                                  qf.round(x, "bf16", rounding="stochastic", seed=1))


def test_lazy_until_computed(x):
    d = da.from_array(x, chunks=32)
    calls = []
    lazy = qf.fake_quantize(d.map_blocks(lambda b: calls.append(1) or b), "int8", axis=0)
    n = len(calls)  # dask may probe empty meta arrays, never the data blocks
    assert n < d.npartitions
    lazy.compute(scheduler="sync")  # in this process, so the calls are counted here
    assert len(calls) > n
