"""The order of version labels (``natural_key``): natural, total and deterministic.

Bisect and version matrices walk labels in this order when no order file gives one.  Two
distinct labels must never tie (``v1``/``v01``, ``V1``/``v1``): a sort would then keep them in
the order the files happened to be listed, which differs between machines.  Labels can come
from untrusted trace files, so any text must sort without an error.
"""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace.versions import natural_key

#: Labels made of the pieces that make natural order hard: digit runs with leading zeros, other
#: scripts' digits, digit-like characters that are not decimal, case, separators.
_PIECES = st.sampled_from(["v", "V", "rc", "-", ".", "0", "00", "1", "01", "9", "10", "٣", "²", "½", "β", "Ⅻ"])
_LABELS = st.one_of(st.lists(_PIECES, max_size=6).map("".join), st.text(max_size=8))


@given(st.lists(_LABELS, max_size=12), st.randoms(use_true_random=False))
def test_property_sorting_labels_gives_one_result_whatever_their_input_order(
    labels: list[str], rnd: random.Random
) -> None:
    shuffled = list(labels)
    rnd.shuffle(shuffled)
    assert sorted(labels, key=natural_key) == sorted(shuffled, key=natural_key)
    assert sorted(reversed(labels), key=natural_key) == sorted(labels, key=natural_key)


@given(_LABELS, _LABELS)
def test_property_distinct_labels_never_tie(a: str, b: str) -> None:
    if a != b:
        assert natural_key(a) != natural_key(b)
        assert (natural_key(a) < natural_key(b)) != (natural_key(b) < natural_key(a))


@given(_LABELS, _LABELS, _LABELS)
def test_property_the_order_is_transitive(a: str, b: str, c: str) -> None:
    x, y, z = sorted([a, b, c], key=natural_key)
    assert natural_key(x) <= natural_key(y) <= natural_key(z) and natural_key(x) <= natural_key(z)


def test_labels_equal_but_for_leading_zeros_or_case_have_a_fixed_order() -> None:
    assert sorted(["v1", "v01", "V1"], key=natural_key) == sorted(["V1", "v01", "v1"], key=natural_key)
    assert sorted(["v1", "v01"], key=natural_key) == ["v01", "v1"]  # numerically equal: the raw text decides
    assert sorted(["v01", "v2", "v1", "v10"], key=natural_key) == ["v01", "v1", "v2", "v10"]


def test_digit_runs_compare_as_numbers_at_any_length() -> None:
    # Past Python's int-from-text limit (4300 digits): no ValueError, still numeric order.
    long_run = "v" + "9" * 5000
    assert sorted([long_run, "v" + "1" + "0" * 5000, "v10"], key=natural_key) == ["v10", long_run, "v1" + "0" * 5000]


def test_characters_that_look_like_digits_but_are_not_decimal_are_text() -> None:
    # '²' and '½' are isdigit()/numeric but not decimal: int() refuses them.
    assert sorted(["²", "v²", "½", "1"], key=natural_key) == ["1", "v²", "²", "½"]
    assert sorted(["v٣", "v2", "v10"], key=natural_key) == ["v2", "v٣", "v10"]  # another script's 3 is a 3
