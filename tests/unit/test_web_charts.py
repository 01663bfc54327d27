"""The console's SVG charts: a title and a description for screen readers, every label escaped, and the largest
groups drawn on their own with the rest summed."""

from __future__ import annotations

import re

from kling_gateway.web import charts


def test_a_chart_says_what_it_shows_and_escapes_its_labels() -> None:
    drawn = str(charts.bars("Tasks <per> day", ["11-01", "11-02"], [3, 0]))
    assert drawn.startswith('<svg class="chart"')
    assert 'role="img"' in drawn
    assert "<title" in drawn
    assert "Tasks &lt;per&gt; day" in drawn
    assert "2 days, 3 in all, at most 3 on one day" in drawn
    lined = str(charts.lines("Money", ["a", "b"], [charts.Series("<script>", [1.5, 2])]))
    assert "<script>" not in lined
    assert "&lt;script&gt;, b: 2" in lined


def test_the_largest_groups_keep_their_own_lines() -> None:
    groups = {name: [float(rank), 1.0] for rank, name in enumerate("abcdefg")}
    drawn = charts.top_series(groups, most=2)
    assert [(line.name, list(line.values)) for line in drawn] == [
        ("g", [6.0, 1.0]),
        ("f", [5.0, 1.0]),
        ("others", [10.0, 5.0]),
    ]


def test_the_value_axis_of_counts_is_whole_numbers_and_of_money_round_steps() -> None:
    def axis(drawn: str) -> list[str]:
        return re.findall(r'text-anchor="end"[^>]*>([^<]+)</text>', drawn)

    assert axis(str(charts.bars("Tasks", ["a", "b"], [1, 0]))) == ["0", "1", "2", "3", "4"]
    assert axis(str(charts.bars("Tasks", ["a"], [37]))) == ["0", "10", "20", "30", "40"]
    assert axis(str(charts.bars("Yuan", ["a"], [0.35]))) == ["0", "0.10", "0.20", "0.30", "0.40"]
