"""Forbidden and required log patterns, in old and new engine wording."""

from __future__ import annotations

import pytest

from siteproof.checks.logs import DEFAULT_FORBIDDEN, find_forbidden

# What engines and apps really print (engine 18.09/20.10 vs 23+; runc; apps).
LINES = {
    "exec format error": [
        "standard_init_linux.go:228: exec user process caused: exec format error",
        "exec /bin/httpd: exec format error",
    ],
    "no such file or directory": [
        'standard_init_linux.go:211: exec user process caused "no such file or '
        'directory"',
        "exec /app/start.sh: no such file or directory",
    ],
    "permission denied": [
        "exec /app/run: permission denied",
    ],
    "executable not found": [
        "OCI runtime create failed: container_linux.go:380: starting container "
        'process caused: exec: "gunicorn": executable file not found in $PATH',
    ],
    "Python traceback": ["Traceback (most recent call last):"],
    "illegal instruction": ["Illegal instruction (core dumped)"],
    "unsupported page size": ["<jemalloc>: Unsupported system page size"],
    "failed thread creation": [
        "RuntimeError: can't start new thread",
        "pthread_create failed: Resource temporarily unavailable",
        "java.lang.OutOfMemoryError: unable to create native thread",
    ],
}


@pytest.mark.parametrize(
    ("label", "line"),
    [(label, line) for label, lines in LINES.items() for line in lines],
)
def test_find_forbidden_names_default_pattern_for_real_engine_wording(
    label: str, line: str
) -> None:
    text = f"starting app\n{line}\nbye\n"

    hits = find_forbidden(text, list(DEFAULT_FORBIDDEN))

    assert label in [hit_label for hit_label, _ in hits]
    assert dict(hits)[label] == line.strip()


def test_find_forbidden_is_quiet_for_a_clean_log() -> None:
    text = "listening on 0.0.0.0:8080\nGET / 200\n"

    assert find_forbidden(text, list(DEFAULT_FORBIDDEN)) == []


def test_find_forbidden_reports_each_pattern_once_with_first_line() -> None:
    text = "Traceback (most recent call last):\nTraceback (most recent call last): 2\n"

    hits = find_forbidden(text, [("tb", r"traceback \(most")])

    assert hits == [("tb", "Traceback (most recent call last):")]
