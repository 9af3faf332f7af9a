"""The monitor's cheap `nan_to_num` and `select` give numpy's results, extremes included."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from services.monitor.small_arrays import nan_to_num, select

FLOATS = arrays(np.float64, st.integers(0, 12),
                elements=st.floats(allow_nan=True, allow_infinity=True))


@given(FLOATS, st.sampled_from([0.0, 1.0, -np.inf]))
def test_nan_to_num_is_numpys(x: np.ndarray, nan: float) -> None:
    np.testing.assert_array_equal(nan_to_num(x, nan=nan), np.nan_to_num(x, nan=nan))


@given(st.integers(0, 12).flatmap(lambda n: st.tuples(
    arrays(np.bool_, n), arrays(np.bool_, n), arrays(np.float64, n),
    st.floats(allow_nan=True), st.sampled_from([0, 3]))))
def test_select_is_numpys(case: tuple[np.ndarray, np.ndarray, np.ndarray, float, int]) -> None:
    a, b, values, scalar, default = case
    options: list[list[Any]] = [[values, scalar], [1, 2]]
    for choices in options:
        expected = np.select([a, b], choices, default)
        got = select([a, b], choices, default)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
