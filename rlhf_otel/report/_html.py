"""A self-contained HTML report of analytics: inline SVG charts, inline CSS and JS, no network."""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from typing import IO, TYPE_CHECKING, Final

from rlhf_otel._outfile import open_output, text_errors
from rlhf_otel.analytics import AnalyticsResult, Percentiles
from rlhf_otel.records import format_timestamp
from rlhf_otel.report._svg import Bar, Point, bar_chart, hbar_chart, interval_chart, line_chart

if TYPE_CHECKING:  # the report only reads the figures; judges is not needed to render one
    from rlhf_otel.judges import JudgeAgreement

__all__ = ["CHARTS", "render_report", "write_report"]

CHARTS: Final = (
    "feedback-over-time",
    "rating-distribution",
    "thumbs-by-model",
    "dimension-averages",
    "model-ranking",
    "latency-vs-satisfaction",
)

_CSS: Final = """
:root{--fg:#1d2330;--muted:#667085;--line:#e4e7ec;--bg:#f7f8fa;--accent:#3b6fd8}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,
sans-serif;color:var(--fg);background:var(--bg)}header{padding:20px 28px;background:#fff;
border-bottom:1px solid var(--line)}h1{margin:0 0 4px;font-size:20px}.sub{color:var(--muted)}
main{padding:20px 28px;display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));
gap:18px}.cards{display:flex;gap:12px;flex-wrap:wrap;padding:16px 28px 0}.card{background:#fff;
border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:150px}.card b{
display:block;font-size:22px}figure.chart,section.table{margin:0;background:#fff;border:1px
solid var(--line);border-radius:8px;padding:14px}figcaption,h2{font-weight:600;margin:0 0 8px;
font-size:15px}.grid{stroke:var(--line)}.tick,.legend,.axis{fill:var(--muted);font-size:11px}
.empty{fill:var(--muted);font-size:14px}.line{stroke:var(--accent);stroke-width:2}.point{
fill:var(--accent)}.whisker{stroke:var(--fg);stroke-width:2}.bar:hover,.point:hover{opacity:.7}
table{border-collapse:collapse;width:100%;font-size:13px}td,th{border-bottom:1px solid
var(--line);padding:4px 6px;text-align:right}td:first-child,th:first-child{text-align:left}
#tip{position:fixed;pointer-events:none;background:#1d2330;color:#fff;padding:4px 8px;
border-radius:4px;font-size:12px;display:none;white-space:pre}
"""

_JS: Final = """
(function(){
  var tip=document.getElementById('tip');
  document.querySelectorAll('[data-tip]').forEach(function(el){
    el.addEventListener('mousemove',function(e){tip.textContent=el.getAttribute('data-tip');
      tip.style.display='block';tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});
    el.addEventListener('mouseleave',function(){tip.style.display='none';});
  });
  var n=document.querySelectorAll('figure.chart svg').length;
  document.documentElement.setAttribute('data-charts-rendered',String(n));
})();
"""

_GUARD: Final = """
window.__reportErrors=[];
function __reportError(m){window.__reportErrors.push(String(m));
  document.documentElement.setAttribute('data-report-errors',window.__reportErrors.join(' | '));}
window.addEventListener('error',function(e){__reportError(e.message);});
var __consoleError=console.error;
console.error=function(){__reportError(Array.prototype.join.call(arguments,' '));
  return __consoleError.apply(console,arguments);};
"""


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.1f}%"


def _num(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def _figure(name: str, caption: str, svg: str) -> str:
    return (
        f'<figure class="chart" id="{name}" data-chart="{name}">'
        f"<figcaption>{escape(caption)}</figcaption>{svg}</figure>"
    )


def _table(title: str, head: Sequence[str], rows: Sequence[Sequence[str]], name: str) -> str:
    if not rows:
        body = f'<tr><td colspan="{len(head)}">No data in this range</td></tr>'
    else:
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (
        f'<section class="table" data-table="{name}"><h2>{escape(title)}</h2>'
        f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></section>"
    )


def _charts(r: AnalyticsResult) -> list[str]:
    s = r.stats
    label = {"hour": "%m-%d %Hh", "day": "%b %d", "week": "wk %b %d", "month": "%Y-%m"}
    fmt = label[r.trends.interval]
    time_bars = [
        Bar(
            p.start.strftime(fmt) if p.start else p.key,
            (float(p.feedback),),
            f"{p.key}\nfeedback {p.feedback}\ninteractions {p.interactions}",
        )
        for p in r.trends.points
    ]
    out = [
        _figure(
            "feedback-over-time",
            f"Feedback over time (per {r.trends.interval})",
            bar_chart("feedback-over-time", "Feedback over time", time_bars, ["feedback"]),
        )
    ]
    rating_bars = []
    if s.rating is not None:
        for value, n in s.rating.distribution.items():
            rating_bars.append(Bar(f"{value:g}", (float(n),), f"rating {value:g}: {n}"))
    out.append(
        _figure(
            "rating-distribution",
            "Rating distribution",
            bar_chart("rating-distribution", "Rating distribution", rating_bars, ["ratings"]),
        )
    )
    thumbs = [
        Bar(
            g.key,
            (
                g.thumbs_up / (g.thumbs_up + g.thumbs_down),
                g.thumbs_down / (g.thumbs_up + g.thumbs_down),
            ),
            f"{g.key}\nup {g.thumbs_up} / down {g.thumbs_down} ({_pct(g.thumbs_ratio)} up)",
        )
        for g in r.breakdowns.get("model", ())
        if g.thumbs_up + g.thumbs_down
    ]
    out.append(
        _figure(
            "thumbs-by-model",
            "Thumbs-up ratio by model",
            hbar_chart("thumbs-by-model", "Thumbs by model", thumbs, ["up", "down"], top=1.0),
        )
    )
    dims = []
    if s.multi_dimensional is not None:
        for name, avg in sorted(s.multi_dimensional.dimension_averages.items()):
            dims.append(Bar(name, (avg,), f"{name}: {avg:.2f}"))
    out.append(
        _figure(
            "dimension-averages",
            "Dimension averages",
            hbar_chart("dimension-averages", "Dimension averages", dims, ["average"]),
        )
    )
    ranking = [
        (
            m.model,
            m.score,
            m.ci_low,
            m.ci_high,
            f"#{m.rank} {m.model}\nscore {m.score:.0f} [{m.ci_low:.0f}, {m.ci_high:.0f}]\n"
            f"win rate {_pct(m.win_rate)} of {m.comparisons}",
        )
        for m in r.rankings.models
    ]
    out.append(
        _figure(
            "model-ranking",
            "Model ranking (Bradley-Terry, 95% interval)",
            interval_chart("model-ranking", "Model ranking", ranking),
        )
    )
    lat = [
        Point(
            (b.low + b.high) / 2,
            b.satisfaction,
            f"{b.low:.0f}-{b.high:.0f} ms\nsatisfaction {_pct(b.satisfaction)}\n"
            f"{b.interactions} interactions",
            size=3 + min(6.0, b.interactions**0.25),
        )
        for b in r.latency_vs_satisfaction
    ]
    out.append(
        _figure(
            "latency-vs-satisfaction",
            "Latency vs satisfaction",
            line_chart("latency-vs-satisfaction", "Latency vs satisfaction", lat, "latency (ms)"),
        )
    )
    return out


def _p50(p: Percentiles | None) -> float | None:
    return None if p is None else p.p50


def _tables(r: AnalyticsResult) -> list[str]:
    perf = [
        [
            p.model,
            str(p.interactions),
            _num(p.latency_ms.p50 if p.latency_ms else None, 0),
            _num(p.latency_ms.p95 if p.latency_ms else None, 0),
            _num(_p50(p.total_tokens or p.output_tokens), 0),
            _pct(p.satisfaction),
        ]
        for p in r.performance
    ]
    issues = [[i.issue, str(i.count), i.sentiment] for i in r.top_issues]
    agree = [
        [
            a.kind,
            str(a.items),
            str(a.raters),
            _num(a.krippendorff_alpha, 3),
            _num(a.fleiss_kappa, 3),
            _num(a.cohen_kappa, 3),
        ]
        for a in r.agreement
    ]
    return [
        _table(
            "Performance by model",
            ["model", "interactions", "latency p50", "latency p95", "tokens p50", "satisfaction"],
            perf,
            "performance",
        ),
        _table("Top issues", ["issue", "comments", "sentiment"], issues, "issues"),
        _table(
            "Inter-annotator agreement",
            ["kind", "items", "raters", "Krippendorff alpha", "Fleiss kappa", "Cohen kappa"],
            agree,
            "agreement",
        ),
    ]


def _ci(ci: tuple[float, float] | None) -> str:
    return "n/a" if ci is None else f"{ci[0]:.2f} to {ci[1]:.2f}"


def _judges(judges: Sequence[JudgeAgreement]) -> str:
    rows = [
        [
            a.judge,
            a.kind,
            str(a.items),
            _pct(a.percent_agreement),
            f"{_num(a.cohen_kappa, 3)} ({_ci(a.cohen_kappa_ci)})",
            f"{_num(a.krippendorff_alpha, 3)} ({_ci(a.krippendorff_alpha_ci)})",
            _num(a.mean_difference, 3),
            _pct(a.position_bias_rate),
            _num(a.human.krippendorff_alpha if a.human else None, 3),
        ]
        for a in judges
    ]
    return _table(
        "LLM judges against people",
        ["judge", "kind", "items", "agreement", "Cohen kappa (95% CI)",
         "Krippendorff alpha (95% CI)", "bias", "position bias", "people alpha (ceiling)"],
        rows,
        "judges",
    )  # fmt: skip


def render_report(
    result: AnalyticsResult,
    *,
    title: str = "rlhf-otel feedback report",
    judges: Sequence[JudgeAgreement] = (),
) -> str:
    """The report as one HTML document that needs nothing else to display.

    ``judges`` (from ``rlhf_otel.judges.judge_agreement``) adds a table of each judge's
    agreement with people when not empty.
    """
    s = result.stats
    start, end = s.time_range
    span = f"{format_timestamp(start) if start else 'beginning'} to {format_timestamp(end)}"
    cards = [
        ("Interactions", f"{s.total_interactions:,}"),
        ("Feedback", f"{s.total_feedback:,}"),
        ("With feedback", _pct(s.feedback_rate)),
        ("Thumbs up", _pct(s.binary.ratio if s.binary else None)),
        ("Average rating", _num(s.rating.average if s.rating else None)),
        ("Best model", result.rankings.winner or "n/a"),
    ]
    card_html = "".join(
        f'<div class="card" data-card="{escape(k)}">{escape(k)}<b>{escape(v)}</b></div>'
        for k, v in cards
    )
    csp = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><script>{_GUARD}</script><style>{_CSS}</style></head>"
        f"<body><header><h1>{escape(title)}</h1>"
        f'<div class="sub">{escape(span)} · generated '
        f"{escape(format_timestamp(result.generated_at))}</div></header>"
        f'<div class="cards">{card_html}</div>'
        f"<main>{''.join(_charts(result))}{''.join(_tables(result))}"
        f"{_judges(judges) if judges else ''}</main>"
        f'<div id="tip"></div><script>{_JS}</script></body></html>\n'
    )


def write_report(
    result: AnalyticsResult,
    path: str | os.PathLike[str] | IO[str],
    *,
    title: str | None = None,
    judges: Sequence[JudgeAgreement] = (),
) -> None:
    """Write :func:`render_report` to ``path`` (UTF-8) or to a text stream.

    A regular file is replaced atomically (owner-only); a FIFO, a device or ``/dev/stdout``
    is written through; a symlink is followed.
    """
    html = render_report(result, title=title or "rlhf-otel feedback report", judges=judges)
    if not isinstance(path, (str, os.PathLike)):
        path.write(html)
        path.flush()
        return
    with open_output(path, "w", encoding="utf-8", errors=text_errors()) as fh:
        fh.write(html)
