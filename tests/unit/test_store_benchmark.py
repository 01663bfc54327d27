"""The rows the store benchmark loads look like tasks the gateway itself would have stored."""

from __future__ import annotations

import orjson
from benchmarks.store import COLUMNS, Owners, task_rows

from kling_gateway.tasks.ids import is_platform_id

OWNERS = Owners(big_user_id=1, big_key_id=7, other_user_ids=(2, 3, 4))


def test_rows_fill_every_column_with_well_formed_ids() -> None:
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in task_rows(2000, OWNERS, start_ms=1_700_000_000_000)]

    assert all(is_platform_id(row["platform_id"]) for row in rows)
    assert len({row["platform_id"] for row in rows}) == len(rows)
    assert all(len(row["upstream_task_id"]) == 18 and row["upstream_task_id"].isdigit() for row in rows)
    assert [row["external_task_id"] is not None for row in rows[:4]] == [True, False, True, False]
    assert all(row["status"] in ("succeed", "failed") for row in rows)
    assert all(isinstance(orjson.loads(row["result_json"]), dict) for row in rows)
    assert [row["created_at"] for row in rows] == sorted(row["created_at"] for row in rows)


def test_one_user_holds_about_sixty_percent_all_text2video_under_its_key() -> None:
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in task_rows(5000, OWNERS, start_ms=0)]
    big = [row for row in rows if row["user_id"] == OWNERS.big_user_id]

    assert 0.57 < len(big) / len(rows) < 0.63
    assert {(row["family"], row["action"], row["key_id"]) for row in big} == {("videos", "text2video", 7)}
    assert {row["user_id"] for row in rows} == {1, 2, 3, 4}
