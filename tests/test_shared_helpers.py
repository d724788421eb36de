"""One home per shared helper: course_utils.numeric and course_utils.versions, and the modules using them."""
from __future__ import annotations

import pytest

from course_utils import concepts, numeric, versions
from course_utils.finnflow import folding_rules


def test_divisors_is_one_function_everywhere() -> None:
    assert concepts.divisors is numeric.divisors is folding_rules.divisors
    assert numeric.divisors(400) == [d for d in range(1, 401) if 400 % d == 0]
    assert numeric.divisors(64.0) == [1, 2, 4, 8, 16, 32, 64]
    for bad in (0, -4, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            numeric.divisors(bad)


def test_pct_formats_fractions_for_tables() -> None:
    assert numeric.pct(0.9789) == "97.89%"
    assert numeric.pct(1) == "100.00%"
    assert numeric.pct(0.5, digits=0) == "50%"
    assert numeric.pct(None) == "n/a"


def test_versions_table_keeps_order_and_says_what_is_missing() -> None:
    got = versions.dist_versions(["numpy", "no-such-dist-for-the-kit", "pytest"])
    assert list(got) == ["numpy", "no-such-dist-for-the-kit", "pytest"]
    assert got["no-such-dist-for-the-kit"] == "not installed"
    assert got["numpy"][0].isdigit()
    assert list(versions.dist_versions(["no-such-dist-for-the-kit", "numpy"], missing=None)) == ["numpy"]
    assert versions.dist_version("no-such-dist-for-the-kit") is None
