"""Writes a history as a self-contained HTML page: one lane per client, operations as bars.

In the spirit of Porcupine's visualisation: time runs left to right, each client has a
lane, each operation is a bar from its invoke to its completion (to the right edge when
its outcome is unknown), coloured by outcome, with its description on hover. The
operations of each anomaly are outlined in red and listed above the lanes; clicking an
anomaly keeps only its operations highlighted. No script or style is loaded from anywhere.
"""

from __future__ import annotations

import html
from pathlib import Path

from pytest_sanctum.kit.history.record import History, Operation
from pytest_sanctum.kit.history.verdict import ANOMALIES, Verdict

LANE_HEIGHT = 22
WIDTH = 1400
LEFT = 90
COLOURS = {"ok": "#7cb342", "fail": "#90a4ae", "info": "#ffb300"}

_STYLE = """
body{font:13px sans-serif;margin:16px}svg text{font:11px monospace}
.op{stroke:#455a64;stroke-width:.5}.bad{stroke:#d50000;stroke-width:2.5}
.dim .op:not(.sel){opacity:.15}li{cursor:pointer;margin:4px 0}
"""

_SCRIPT = """
function pick(ids){var svg=document.getElementById('lanes');
 svg.classList.add('dim');document.querySelectorAll('.op').forEach(function(e){
 e.classList.toggle('sel',ids.indexOf(+e.dataset.i)>=0)})}
"""


def _bar(op: Operation, x0: int, scale: float, end: int, lane: int, flagged: set[int]) -> str:
    finish = op.complete_ns if op.outcome == "ok" else end
    x = LEFT + (op.invoke_ns - x0) * scale
    width = max((finish - op.invoke_ns) * scale, 2.0)
    cls = "op bad" if op.index in flagged else "op"
    title = html.escape(f"[{op.index}] {op.describe()}")
    return (
        f'<rect class="{cls}" data-i="{op.index}" x="{x:.1f}" y="{lane * LANE_HEIGHT + 4}" '
        f'width="{width:.1f}" height="{LANE_HEIGHT - 8}" fill="{COLOURS[op.outcome]}">'
        f"<title>{title}</title></rect>"
    )


def render_html(history: History, verdict: Verdict, title: str) -> str:
    """The page as a string."""
    ops = history.operations
    clients = sorted({op.client for op in ops})
    lanes = {client: i for i, client in enumerate(clients)}
    x0 = min((op.invoke_ns for op in ops), default=0)
    end = max((max(op.invoke_ns, op.complete_ns) for op in ops), default=1)
    scale = (WIDTH - LEFT - 10) / max(end - x0, 1)
    flagged = {index for anomaly in verdict.anomalies for index in anomaly.operations}
    bars = [_bar(op, x0, scale, end, lanes[op.client], flagged) for op in ops]
    labels = [
        f'<text x="4" y="{i * LANE_HEIGHT + 15}">{html.escape(client)}</text>'
        for client, i in lanes.items()
    ]
    items = [
        f"<li onclick='pick({list(anomaly.operations)})'><b>{html.escape(anomaly.kind)}</b> "
        f"on {html.escape(anomaly.key)}: {html.escape(anomaly.message)} "
        f"<i>({html.escape(ANOMALIES[anomaly.kind])})</i></li>"
        for anomaly in verdict.anomalies
    ]
    height = len(clients) * LANE_HEIGHT + 8
    legend = ", ".join(f'<span style="color:{c}">&#9632;</span> {o}' for o, c in COLOURS.items())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        f"<h2>{html.escape(title)}</h2><p>{len(ops)} operations, {len(clients)} clients; "
        f"{legend}; red outline: part of an anomaly; time runs left to right over "
        f"{(end - x0) / 1e6:.1f} ms.</p><ol>{''.join(items)}</ol>"
        f'<svg id="lanes" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"{''.join(labels)}{''.join(bars)}</svg></body></html>"
    )


def write_timeline(history: History, verdict: Verdict, path: Path, title: str) -> Path:
    """Write the page to ``path`` (parents created) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(history, verdict, title), encoding="utf-8")
    return path
