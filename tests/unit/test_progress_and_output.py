"""Progress estimates and what a request says of its output: pure functions, checked over many inputs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kling_gateway.dialects.progress import progress_percent
from kling_gateway.kling.output import ExpectedOutput, expected_output
from kling_gateway.kling.schemas import ACTIONS, Family, parse_create_body
from kling_gateway.store.records import TaskStatus

UNFINISHED = [TaskStatus.QUEUED, TaskStatus.SUBMITTED, TaskStatus.PROCESSING]
ages = st.integers(min_value=0, max_value=10 * 24 * 3600 * 1000)
typical = st.one_of(st.none(), st.integers(min_value=1_000, max_value=3_600_000))


@given(
    first=ages,
    later_by=ages,
    typical_ms=typical,
    statuses=st.lists(st.sampled_from(UNFINISHED), min_size=2, max_size=2),
)
def test_progress_never_goes_back_and_stays_below_100_until_final(
    first: int, later_by: int, typical_ms: int | None, statuses: list[TaskStatus]
) -> None:
    early_status, late_status = sorted(statuses, key=UNFINISHED.index)  # a status only moves forward
    early = progress_percent(early_status, family="videos", created_at=0, expected_ms=typical_ms, now=first)
    late = progress_percent(late_status, family="videos", created_at=0, expected_ms=typical_ms, now=first + later_by)
    assert 0 <= early <= late <= 99
    final = progress_percent(TaskStatus.SUCCEED, family="videos", created_at=0, expected_ms=typical_ms, now=first)
    assert final == 100


def test_progress_follows_the_typical_run_time() -> None:
    def at(seconds: float) -> int:
        return progress_percent(
            TaskStatus.PROCESSING, family="videos", created_at=0, expected_ms=100_000, now=int(seconds * 1000)
        )

    assert at(0) == 10  # processing shows at least 10 %
    assert at(50) == 45
    assert at(100) == 90
    assert 90 < at(200) < 99
    assert at(100_000) == 99
    assert progress_percent(TaskStatus.SUBMITTED, family="images", created_at=0, expected_ms=None, now=4_000) == 45


def _expected(action: str, body: dict[str, object], family: Family = Family.VIDEOS) -> ExpectedOutput:
    spec = ACTIONS[(family, action)]
    return expected_output(spec, parse_create_body(family, action, body))


def _output(action: str, body: dict[str, object], family: Family = Family.VIDEOS) -> tuple[object, ...]:
    made = _expected(action, body, family)
    return made.model, made.seconds, made.width, made.height, made.fps


def test_the_frame_follows_the_model_mode_and_aspect_ratio() -> None:
    assert _output("text2video", {"prompt": "a"}) == ("kling-v1", 5, 1280, 720, 30)
    assert _output(
        "text2video", {"prompt": "a", "model_name": "kling-v2-6", "mode": "pro", "aspect_ratio": "9:16"}
    ) == (
        "kling-v2-6",
        5,
        1080,
        1920,
        24,
    )
    assert _output("text2video", {"prompt": "a", "model_name": "kling-v2-1-master", "aspect_ratio": "1:1"})[2:] == (
        1080,
        1080,
        24,
    )
    assert _output("text2video", {"prompt": "a", "model_name": "kling-v1-6", "duration": "10"})[1:] == (
        10,
        1280,
        720,
        24,
    )


def test_what_the_request_does_not_fix_is_not_said() -> None:
    # image2video takes its orientation from the picture; kling-v1-6 image2video is 30 fps.
    assert _output("image2video", {"image": "https://example.com/a.png", "model_name": "kling-v1-6"}) == (
        "kling-v1-6",
        5,
        None,
        None,
        30,
    )
    # A lip-sync keeps its source's frame and length.
    source = {"video_url": "https://example.com/a.mp4", "mode": "text2video", "text": "hi", "voice_id": "x"}
    lip_sync: dict[str, object] = {"input": source}
    assert _output("lip-sync", lip_sync)[1:] == (None, None, None, None)
    assert _output("generations", {"prompt": "a cat"}, Family.IMAGES)[2:] == (None, None, None)


def test_typical_time_grows_with_length() -> None:
    five = _expected("text2video", {"prompt": "a", "duration": "5"}).typical_ms
    ten = _expected("text2video", {"prompt": "a", "duration": "10"}).typical_ms
    assert 0 < five < ten
