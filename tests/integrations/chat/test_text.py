"""Cuts fall between extended grapheme clusters: what a reader sees as one character."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.chat.text import ELLIPSIS, clip, json_size, units

# Each is one cluster of several code points, which the old hand-made splitter cut apart.
CLUSTERS = {
    "devanagari": "क्षि",  # KA, VIRAMA, SSA, VOWEL SIGN I
    "hangul jamo": "\u1112\u1161\u11ab",  # HIEUH, A, NIEUN: 한 written in jamo
    "zwj family": "👩\u200d👩\u200d👧\u200d👦",
    "zwj profession": "🧑🏽\u200d💻",
    "flag": "🇺🇦",
    "subdivision flag": "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "crlf": "\r\n",
    "keycap": "1\ufe0f\u20e3",
}


@pytest.mark.parametrize("cluster", CLUSTERS.values(), ids=CLUSTERS.keys())
def test_each_is_one_unit(cluster: str) -> None:
    assert units(cluster) == [cluster]
    assert units("a" + cluster + "b") == ["a", cluster, "b"]


@pytest.mark.parametrize("cluster", CLUSTERS.values(), ids=CLUSTERS.keys())
@pytest.mark.parametrize("measure", [len, json_size], ids=["characters", "json bytes"])
def test_a_cut_never_splits_one(cluster: str, measure) -> None:
    text = ("x" + cluster) * 30
    for limit in range(1, 80):
        cut = clip(text, limit, measure=measure)
        assert measure(cut) <= limit
        body = cut.removesuffix(ELLIPSIS)
        assert cut in (text, "") or cut.endswith(ELLIPSIS)
        assert text.startswith(body)
        whole = units(text[: len(body)])
        assert "".join(whole) == body
        # the next piece of the original starts a cluster: nothing was split
        assert units(text)[: len(whole)] == whole


def test_a_cut_of_a_long_text_still_keeps_clusters() -> None:
    """Past its bound, clip reads only the start of a text; the cluster at the edge goes."""
    text = CLUSTERS["devanagari"] * 5000
    cut = clip(text, 100)
    body = cut.removesuffix(ELLIPSIS)
    assert body and body == CLUSTERS["devanagari"] * (len(body) // 4)


def test_escaped_clusters_stay_whole() -> None:
    cut = clip("&" + CLUSTERS["hangul jamo"] * 20, 20, html.escape)
    body = cut.removesuffix(ELLIPSIS)
    assert body.startswith("&amp;")
    assert body[5:] == CLUSTERS["hangul jamo"] * ((len(body) - 5) // 3)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from([*CLUSTERS.values(), "a", " ", "é", "<"]), max_size=60),
    st.integers(min_value=1, max_value=120),
)
def test_any_mix_is_cut_between_clusters(pieces: list[str], limit: int) -> None:
    text = "".join(pieces)
    cut = clip(text, limit, html.escape)
    body = cut.removesuffix(ELLIPSIS)
    assert len(cut) <= limit
    escaped = units(text, html.escape)
    kept = 0
    while kept < len(escaped) and body.startswith("".join(escaped[: kept + 1])):
        kept += 1
    assert "".join(escaped[:kept]).rstrip() == body.rstrip()
