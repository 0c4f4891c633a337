"""``make run``'s output: one line per stage from the summaries the stages return, the error last.

The summaries, database rows and log lines below are shapes taken from a real ``make run``
(Airflow 3.3.2's ``airflow dags test``), not invented ones.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from matinale.dev.progress import RunWatcher, StageEnd, failure_message, stage_line, table_header

RUN = "20261207T013745Z-ac91"
SUMMARIES: dict[str, list[object]] = {
    "prepare": [
        {
            "edition": "2026-12-07",
            "run": RUN,
            "supporters_file": "/x/inbox/supporters/sample-20000-42.csv",
            "brief_file": "/x/inbox/briefs/2026-12-07.yaml",
        }
    ],
    "ingest": [
        {
            "rows_read": 20000,
            "valid": 19950,
            "quarantined": 50,
            "duplicates_merged": 0,
            "suppressed": 0,
            "repaired": 0,
        }
    ],
    "privacy": [{"adults": 19612, "minors_excluded": 388}],
    "segment": [
        {
            "segments": 35,
            "main": 30,
            "territorial": 5,
            "adults": 19612,
            "minors_excluded": 388,
            "k": 6,
        }
    ],
    "plan": [[["18-24-p01", "18-24-p02"], ["25-34-p01"], ["t-75056"]]],
    "content": [
        {
            "segments": 9,
            "posts": 477,
            "shortened": 84,
            "variants_rejected_as_similar": 67,
            "fewer_variants_than_asked": 9,
            "max_similarity": 0.862,
        },
        {"segments": 8, "posts": 424, "shortened": 73, "max_similarity": 0.886},
    ],
    "visuals": [{"segments": 9, "cards": 81}, {"segments": 8, "cards": 72}],
    "contact_sheet": [{"segments": 35, "pages": 1, "files": ["contact-sheet.jpg"]}],
    "bundle": [{"files": 599, "bytes": 120326927, "segments": 35, "page_bytes_max": 210823}],
    "checks": [{"manifest": 0, "sizes": 0, "links": 2, "pii": 0}],
    "gate": [True],
    "publish": [
        {
            "bucket": "matinale-bundle",
            "prefix": f"editions/2026-12-07/{RUN}/",
            "files": 599,
            "bytes": 120805322,
            "page_bytes_max": 214623,
            "delivery": {"key": "delivery/x.csv", "rows": 22347, "by_channel": {"sms": 7961}},
            "latest_moved": True,
        }
    ],
    "record": [{"state": "published", "key": f"status/2026-12-07/{RUN}.json"}],
}


def _line(name: str, state: str = "success", seconds: float = 1.25, **kw: object) -> str:
    return stage_line(
        StageEnd(name, state, seconds, list(SUMMARIES.get(name, [])), **kw)  # type: ignore[arg-type]
    )


def test_each_stage_line_shows_its_name_seconds_and_counts() -> None:
    assert table_header().split() == ["stage", "seconds", "result"]
    assert _line("wait_for_brief").endswith("1.2  brief found")
    assert _line("prepare").endswith(f"run {RUN}")
    assert "20000 rows read, 19950 valid, 50 quarantined" in _line("ingest")
    assert "19612 adults, 388 minors excluded" in _line("privacy")
    assert "35 segments, 30 main, 5 territorial" in _line("segment")
    assert "3 batches of segments" in _line("plan")
    # A mapped stage: one line once every instance ended, counts summed over them.
    content = _line("content", instances=2)
    assert content.split()[:2] == ["content", "×2"] and "17 segments, 901 posts" in content
    assert "17 segments, 153 cards" in _line("visuals", instances=2)
    assert "35 segments, 1 page" in _line("contact_sheet")
    assert "599 files, 120.3 MB" in _line("bundle")
    assert "2 findings" in _line("checks")
    assert _line("gate").endswith("may publish")
    assert "599 files, latest.json moved" in _line("publish")
    assert _line("record").endswith("night published")


def test_failed_and_skipped_stages_say_so() -> None:
    assert _line("prepare", "failed").endswith("FAILED")
    assert _line("approval", "skipped").endswith("skipped")
    # A stage the table does not know shows its first integer counts.
    unknown = stage_line(StageEnd("retention", "success", 0.5, [{"deleted": 3, "kept": 10}]))
    assert unknown.endswith("3 deleted, 10 kept")


def test_lines_align_as_a_table() -> None:
    header = table_header()
    end = header.index("seconds") + len("seconds")
    for line in (_line(name) for name in SUMMARIES):
        assert line[end - 3 : end] == "1.2" and line[end : end + 2] == "  ", line
        assert len(line) < 100, line


FAILED_LOG = """\
2026-12-07T01:39:21.324514Z [info     ] Edition 2026-12-07 (Paris morning), run 20261207T013908Z-344a
2026-12-07T01:39:24.323457Z [error    ] Task failed with exception     [task] loc=task_runner.py:1639
Traceback (most recent call last):
  File "/w/plugins/matinale/airflow/glue.py", line 91, in task_errors
    yield
  File "/w/plugins/matinale/yamlfile.py", line 199, in validate
    raise self.fail(*located(exc, self, model)) from None
matinale.content.errors.BriefError: /v/inbox/briefs/2026-12-07.yaml:15: themes[0].facts[0].source: 'https://evil.example.com/x': domain evil.example.com is not in links.allowed_domains
Fix: use a domain of the list

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/w/plugins/matinale/airflow/glue.py", line 97, in task_errors
    raise AirflowFailException(str(error)) from error
airflow.sdk.exceptions.AirflowFailException: /v/inbox/briefs/2026-12-07.yaml:15: themes[0].facts[0].source: 'https://evil.example.com/x': domain evil.example.com is not in links.allowed_domains
Fix: use a domain of the list
2026-12-07T01:39:24.330650Z [info     ] ::group::Post Execute          [task] loc=task_runner.py:1640
2026-12-07T01:39:24.331399Z [warning  ] ❌ Matinale : la tâche prepare a échoué
"""


def test_the_failure_is_the_matinale_errors_message_without_traceback() -> None:
    message = failure_message(FAILED_LOG)
    assert message == (
        "/v/inbox/briefs/2026-12-07.yaml:15: themes[0].facts[0].source: "
        "'https://evil.example.com/x': domain evil.example.com is not in links.allowed_domains\n"
        "Fix: use a domain of the list"
    )
    assert "Traceback" not in message and "File " not in message


def test_another_error_keeps_its_type_and_a_clean_log_has_none() -> None:
    log = FAILED_LOG.split("\nThe above")[0] + "\n2026-12-07T01:39:25Z [info     ] next\n"
    assert failure_message(log) == (
        "matinale.content.errors.BriefError: /v/inbox/briefs/2026-12-07.yaml:15: "
        "themes[0].facts[0].source: 'https://evil.example.com/x': domain evil.example.com is "
        "not in links.allowed_domains\nFix: use a domain of the list"
    )
    assert failure_message("2026-12-07T01:39:25Z [info     ] all good\n") is None


def _database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE dag_run (id INTEGER PRIMARY KEY, dag_id TEXT, run_id TEXT);
        CREATE TABLE task_instance (dag_id TEXT, run_id TEXT, task_id TEXT, map_index INTEGER,
            state TEXT, start_date TEXT, end_date TEXT);
        CREATE TABLE xcom (dag_id TEXT, run_id TEXT, task_id TEXT, map_index INTEGER, key TEXT,
            value TEXT);
        INSERT INTO dag_run (dag_id, run_id) VALUES ('matinale_nightly', 'manual__old');
        """
    )
    return conn


def test_the_watcher_yields_each_stage_once_when_all_its_instances_ended(tmp_path: Path) -> None:
    db = tmp_path / "airflow.db"
    conn = _database(db)
    conn.commit()
    watcher = RunWatcher(db, "matinale_nightly")
    assert list(watcher.ended()) == []  # the old run is not this one
    run = "manual__2026-12-07T01:37:45"
    rows = [
        ("ingest", -1, "success", "2026-12-07 01:37:55.655502", "2026-12-07 01:37:56.351910"),
        ("content", 0, "success", "2026-12-07 01:37:57.000000", "2026-12-07 01:37:58.000000"),
        ("content", 1, "running", "2026-12-07 01:37:57.500000", None),
        ("publish", -1, "upstream_failed", None, "2026-12-07 01:38:00.000000"),
    ]
    conn.execute("INSERT INTO dag_run (dag_id, run_id) VALUES ('matinale_nightly', ?)", (run,))
    for task_id, index, state, start, end in rows:
        conn.execute(
            "INSERT INTO task_instance VALUES ('matinale_nightly', ?, ?, ?, ?, ?, ?)",
            (run, task_id, index, state, start, end),
        )
    for task_id, index, value in (
        ("ingest", -1, SUMMARIES["ingest"][0]),
        ("content", 0, SUMMARIES["content"][0]),
        ("content", 1, SUMMARIES["content"][1]),
    ):
        conn.execute(
            "INSERT INTO xcom VALUES ('matinale_nightly', ?, ?, ?, 'return_value', ?)",
            (run, task_id, index, json.dumps(value)),
        )
    conn.commit()
    first = list(watcher.ended())
    assert [(s.name, s.state) for s in first] == [("ingest", "success")]  # publish never ran
    assert first[0].summaries == SUMMARIES["ingest"]
    assert round(first[0].seconds, 2) == 0.70
    conn.execute(
        "UPDATE task_instance SET state = 'failed', end_date = '2026-12-07 01:37:59.000000' "
        "WHERE task_id = 'content' AND map_index = 1"
    )
    conn.commit()
    (content,) = watcher.ended()
    assert (content.name, content.state, content.instances, content.seconds) == (
        "content",
        "failed",
        2,
        2.0,
    )
    assert list(watcher.ended()) == []
    assert watcher.failed_tasks() == ["content"]
    conn.close()
