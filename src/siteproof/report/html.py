"""One self-contained HTML page per run: verdict first, then the evidence.

The page is built from the JSON form of a report (``VerifyReport.to_dict()``
or ``InspectReport.to_dict()``), so an old ``report.json`` can be rendered
again. It uses inline CSS only and a Content-Security-Policy that forbids
loading anything, so it opens offline and shows the same everywhere.
Sections whose data is absent from the report are left out.

Optional keys beyond the reports' own: ``parity`` (rows from
:func:`siteproof.report.parity.parity_table`), ``log`` (the container log as
text), ``log_forbid`` (patterns whose lines are marked as failing, in
addition to the usual start-up errors) and ``cost`` (a number, text, or a
table of key/value pairs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from typing import Any

from siteproof.report.parity import STATUS_LABELS

# Lines of a container log that explain a failed start, whatever the site.
FAILURE_PATTERNS = (
    r"exec format error",
    r"exec .* failed",
    r"no such file or directory",
    r"permission denied",
    r"not found",
    r"Traceback \(most recent call last\)",
    r"\b(?:error|fatal|panic|segmentation fault|core dumped)\b",
)
LOG_LINES_SHOWN = 400

_VERDICT_TEXT = {"pass": "PASS", "fail": "FAIL", "error": "NOT JUDGED"}
_VERDICT_NOTE = {
    "pass": "the image loaded, ran and passed every check",
    "fail": "the image will fail at the site",
    "error": "the infrastructure failed; the image was not judged",
}

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;
color:#1d232a;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0;font-size:44px;letter-spacing:2px}
h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #d5d9de}
.verdict{padding:22px 26px;border-radius:8px;color:#fff}
.verdict p{margin:6px 0 0;font-size:17px}
.verdict.pass{background:#1e7d32}.verdict.fail{background:#c62828}
.verdict.error{background:#6d4c41}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px}
dl.facts dt{color:#5a6570}dl.facts dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d5d9de;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eceff2}
td.num{text-align:right;white-space:nowrap}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:13px}
.tag{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;
font-weight:600;color:#fff;background:#78909c;white-space:nowrap}
.tag.error,.tag.fail,.tag.differs{background:#c62828}
.tag.warning,.tag.static{background:#ef8f00}
.tag.pass,.tag.matched{background:#1e7d32}
.tag.info,.tag.skip,.tag.unknown{background:#78909c}
.hint{color:#37474f;font-size:13px;margin-top:3px}
.timeline{display:flex;height:30px;border-radius:5px;overflow:hidden;
background:#dfe3e7}
.timeline div{color:#fff;font-size:12px;padding:6px 5px;white-space:nowrap;
overflow:hidden;border-right:2px solid #fff}
.phase0{background:#3949ab}.phase1{background:#00897b}.phase2{background:#8e24aa}
.phase3{background:#f4511e}.phase4{background:#546e7a}.phase5{background:#6d8c00}
pre.log{background:#1d232a;color:#e0e3e6;padding:10px;overflow-x:auto;
border-radius:5px}
pre.log .bad{background:#7f1d1d;color:#fff;display:block}
.warn{background:#fff3cd;border:1px solid #ef8f00;padding:8px 12px}
footer{margin-top:32px;color:#78909c;font-size:12px}
"""

_PAGE_HEAD = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
)


def render_html(report: Mapping[str, Any]) -> str:
    """Return the whole page for a verify or inspect report.

    Args:
        report: the report's JSON data; absent keys skip their sections.
    """
    verdict = str(report.get("verdict", "error"))
    title = f"{_VERDICT_TEXT.get(verdict, verdict.upper())} {_tarball_name(report)}"
    sections: list[Callable[[Mapping[str, Any]], str]] = [
        _verdict_section,
        _findings_section,
        _checks_section,
        _timeline_section,
        _parity_section,
        _image_section,
        _host_section,
        _log_section,
        _cost_section,
        _leftovers_section,
    ]
    body = "\n".join(part for part in (s(report) for s in sections) if part)
    return (
        f"{_PAGE_HEAD}<title>siteproof: {escape(title)}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body><main>\n{body}\n"
        "<footer>written by siteproof</footer>\n</main></body>\n</html>\n"
    )


def _tarball_name(report: Mapping[str, Any]) -> str:
    tarball = report.get("tarball") or {}
    return str(tarball.get("path", "")) if isinstance(tarball, Mapping) else ""


def _tag(status: str, text: str | None = None) -> str:
    kind = re.sub(r"[^a-z]", "", status.lower())
    return f'<span class="tag {kind}">{escape(text or status)}</span>'


def _facts(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(
        f"<dt>{escape(key)}</dt><dd>{escape(_text(value))}</dd>"
        for key, value in pairs
        if value not in (None, "", [], {})
    )
    return f'<dl class="facts">{rows}</dl>' if rows else ""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Return a table; cells are HTML already (escape them before)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _seconds(value: Any) -> str:
    return f"{float(value):.2f} s" if isinstance(value, int | float) else ""


def _verdict_section(report: Mapping[str, Any]) -> str:
    verdict = str(report.get("verdict", "error"))
    reason = str(report.get("reason") or _VERDICT_NOTE.get(verdict, ""))
    tarball = report.get("tarball") or {}
    image = report.get("image") or {}
    site = report.get("site") or {}
    facts = _facts(
        [
            ("tarball", tarball.get("path")),
            ("sha256", tarball.get("sha256")),
            ("size", _size(tarball.get("size_bytes"))),
            ("format", tarball.get("format")),
            ("image", image.get("name") or ", ".join(image.get("tags") or ())),
            ("platform", image.get("platform")),
            ("emulated", "yes (QEMU)" if report.get("emulated") else None),
            ("site", site.get("name") if isinstance(site, Mapping) else site),
            ("target", report.get("target")),
            ("run id", report.get("run_id")),
            ("time", _seconds(report.get("total_s", report.get("duration_s")))),
        ]
    )
    return (
        f'<section class="verdict {escape(verdict)}" id="verdict">'
        f"<h1>{escape(_VERDICT_TEXT.get(verdict, verdict.upper()))}</h1>"
        f"<p>{escape(reason)}</p></section>\n{facts}"
    )


def _size(size: Any) -> str:
    if not isinstance(size, int) or isinstance(size, bool):
        return ""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GiB"


def _findings_section(report: Mapping[str, Any]) -> str:
    if "findings" not in report:
        return ""
    findings = report["findings"] or []
    if not findings:
        return '<h2 id="findings">Findings</h2><p>No findings.</p>'
    rows = []
    for finding in findings:
        hint = finding.get("hint")
        message = escape(str(finding.get("message", "")))
        if hint:
            message += f'<div class="hint">fix: {escape(str(hint))}</div>'
        rows.append(
            [
                _tag(str(finding.get("severity", "info"))),
                f"<code>{escape(str(finding.get('code', '')))}</code>",
                f"<code>{escape(str(finding.get('path') or ''))}</code>",
                message,
            ]
        )
    table = _table(["severity", "code", "path", "what happens at the site"], rows)
    return f'<h2 id="findings">Findings ({len(findings)})</h2>{table}'


def _checks_section(report: Mapping[str, Any]) -> str:
    checks = report.get("checks")
    if not checks:
        return ""
    rows = [
        [
            _tag(str(check.get("status", ""))),
            escape(str(check.get("name", ""))),
            escape(str(check.get("detail", ""))),
            f'<span class="num">{_seconds(check.get("duration_s"))}</span>',
        ]
        for check in checks
    ]
    table = _table(["status", "check", "detail", "time"], rows)
    return f'<h2 id="checks">Checks</h2>{table}'


def _timeline_section(report: Mapping[str, Any]) -> str:
    timings = report.get("timings_s")
    if not timings:
        return ""
    total = sum(float(v) for v in timings.values()) or 1.0
    bars = "".join(
        f'<div class="phase{i % 6}" style="width:{max(float(s) / total, 0.02):.1%}" '
        f'title="{escape(name)} {float(s):.2f} s">{escape(name)} {float(s):.1f} s</div>'
        for i, (name, s) in enumerate(timings.items())
    )
    rows = [[escape(name), _seconds(s)] for name, s in timings.items()]
    table = _table(["phase", "time"], rows)
    return f'<h2 id="timeline">Timeline</h2><div class="timeline">{bars}</div>{table}'


def _parity_section(report: Mapping[str, Any]) -> str:
    parity = report.get("parity")
    if not parity:
        return ""
    rows = [
        [
            escape(row.get("axis", "")),
            escape(row.get("site", "")),
            escape(row.get("host", "")),
            _tag(row.get("status", ""), STATUS_LABELS.get(row.get("status", ""))),
            escape(row.get("note", "")),
        ]
        for row in parity
    ]
    table = _table(["axis", "site", "verification host", "parity", "note"], rows)
    return f'<h2 id="parity">Site parity</h2>{table}'


def _image_section(report: Mapping[str, Any]) -> str:
    image = report.get("image") or {}
    layers = image.get("layers")
    if not layers:
        return ""
    facts = _facts(
        [
            ("id", image.get("id")),
            ("tags", image.get("tags")),
            ("entrypoint", " ".join(image.get("entrypoint") or ())),
            ("cmd", " ".join(image.get("cmd") or ())),
            ("user", image.get("user")),
            ("files", report.get("files")),
        ]
    )
    rows = [
        [
            f"<code>{escape(str(layer.get('digest', ''))[:19])}</code>",
            escape(str(layer.get("compression", ""))),
            f'<span class="num">{_size(layer.get("size_bytes"))}</span>',
        ]
        for layer in layers
    ]
    table = _table(["layer", "compression", "size"], rows)
    return f'<h2 id="image">Image</h2>{facts}{table}'


def _host_section(report: Mapping[str, Any]) -> str:
    host = report.get("host")
    if not host:
        return ""
    pairs = [
        (key.replace("_", " "), _size(value) if key.endswith("_bytes") else value)
        for key, value in host.items()
    ]
    return f'<h2 id="host">Verification host</h2>{_facts(pairs)}'


def _log_section(report: Mapping[str, Any]) -> str:
    log_text = report.get("log")
    if not log_text:
        return ""
    patterns = [*FAILURE_PATTERNS, *map(re.escape, report.get("log_forbid") or ())]
    failing = re.compile("|".join(patterns), re.IGNORECASE)
    lines = str(log_text).splitlines()
    skipped = max(len(lines) - LOG_LINES_SHOWN, 0)
    shown = []
    for line in lines[skipped:]:
        if failing.search(line):
            shown.append(f'<span class="bad">\u2717 {escape(line)}</span>')
        else:
            shown.append(f"  {escape(line)}")
    marked = sum(line.startswith("<span") for line in shown)
    note = f"<p>{marked} failing line(s) marked"
    note += f"; the first {skipped} lines are left out.</p>" if skipped else ".</p>"
    body = "\n".join(shown)
    return f'<h2 id="log">Container log</h2>{note}<pre class="log">{body}</pre>'


def _cost_section(report: Mapping[str, Any]) -> str:
    cost = report.get("cost")
    if cost in (None, "", {}):
        return ""
    if isinstance(cost, Mapping):
        return f'<h2 id="cost">Cost</h2>{_facts(cost.items())}'
    return f'<h2 id="cost">Cost</h2><p>{escape(_text(cost))}</p>'


def _leftovers_section(report: Mapping[str, Any]) -> str:
    parts = []
    leftovers = report.get("leftovers") or ()
    if leftovers:
        items = "".join(f"<li>{escape(str(item))}</li>" for item in leftovers)
        parts.append(
            '<h2 id="leftovers">Left behind</h2><div class="warn">These could not '
            f"be removed and may still cost money:<ul>{items}</ul></div>"
        )
    for key, title in (("keep_hints", "Kept for inspection"), ("evidence", "Evidence")):
        values = report.get(key) or ()
        if values:
            items = "".join(f"<li><code>{escape(str(v))}</code></li>" for v in values)
            parts.append(f"<h2>{title}</h2><ul>{items}</ul>")
    return "\n".join(parts)
