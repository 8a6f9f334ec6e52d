"""A self-contained HTML report of analytics: inline SVG charts, inline CSS and JS, no network."""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from typing import IO, TYPE_CHECKING, Final

from rlhf_otel._outfile import open_output, text_errors
from rlhf_otel.analytics import AnalyticsResult, Percentiles
from rlhf_otel.records import format_timestamp
from rlhf_otel.report._scales import RatingScale, clear_winner, combined_normalized
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
:root{color-scheme:light dark;--fg:#1d2330;--muted:#596273;--line:#e4e7ec;--bg:#f7f8fa;
--card:#fff;--accent:#3b6fd8}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaee;--muted:#aab2bf;--line:#3a4150;
--bg:#14171c;--card:#1c2129;--accent:#7aa2f7}}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,
sans-serif;color:var(--fg);background:var(--bg)}header{padding:20px 28px;background:var(--card);
border-bottom:1px solid var(--line)}h1{margin:0 0 4px;font-size:20px}.sub{color:var(--muted)}
.figures{padding:20px 28px;display:grid;grid-template-columns:repeat(auto-fill,
minmax(min(520px,100%),1fr));gap:18px}.cards{display:flex;gap:12px;flex-wrap:wrap;
padding:16px 28px 0}.card{background:var(--card);border:1px solid var(--line);border-radius:8px;
padding:10px 16px;min-width:150px}.card b{display:block;font-size:22px}.card small{
display:block;color:var(--muted)}figure.chart,section.table{margin:0;background:var(--card);
border:1px solid var(--line);border-radius:8px;padding:14px;overflow-x:auto}
figcaption,h2{font-weight:600;margin:0 0 8px;font-size:15px}.grid{stroke:var(--line)}
.tick,.legend,.axis{fill:var(--muted);font-size:11px}
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
        # tabindex: a table wider than a phone scrolls, and the keyboard must reach it
        f'<section class="table" data-table="{name}" tabindex="0" '
        f'aria-labelledby="t-{name}"><h2 id="t-{name}">{escape(title)}</h2>'
        f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></section>"
    )


def _rating_figure(r: AnalyticsResult, scales: Sequence[RatingScale] | None) -> str:
    s = r.stats
    if scales is not None and len(scales) == 1:
        one = scales[0]
        bars = [
            Bar(f"{v:g}", (float(n),), f"rating {v:g}: {n}") for v, n in one.distribution.items()
        ]
        caption = f"Rating distribution ({one.label} scale)"
        return _figure(
            "rating-distribution",
            caption,
            bar_chart("rating-distribution", caption, bars, ["ratings"]),
        )
    caption = "Average rating per scale (normalised 0-1 by each scale)"
    if scales:
        rows = [
            Bar(
                f"{sc.label} scale",
                (sc.average_normalized,),
                f"{sc.label} scale: {sc.count} ratings, average {sc.average:.2f} "
                f"({sc.average_normalized:.2f} normalised)",
            )
            for sc in scales
        ]
    elif s.rating is not None:
        rows = [
            Bar(
                "all scales",
                (s.rating.average_normalized,),
                f"{s.rating.count} ratings, normalised average {s.rating.average_normalized:.2f}",
            )
        ]
    else:
        rows = []
    return _figure(
        "rating-distribution",
        caption,
        hbar_chart("rating-distribution", caption, rows, ["normalised average"], top=1.0),
    )


def _charts(r: AnalyticsResult, scales: Sequence[RatingScale] | None = None) -> list[str]:
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
    out.append(_rating_figure(r, scales))
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


def _rating_card(result: AnalyticsResult, scales: Sequence[RatingScale] | None) -> tuple[str, str]:
    s = result.stats
    if scales is not None and len(scales) == 1:
        return (f"Average rating ({scales[0].label} scale)", _num(scales[0].average))
    combined = combined_normalized(scales) if scales else None
    if combined is None and s.rating is not None:
        combined = s.rating.average_normalized
    return ("Average rating (normalised 0-1)", _num(combined))


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
    rating_scales: Sequence[RatingScale] | None = None,
    judges: Sequence[JudgeAgreement] = (),
) -> str:
    """The report as one HTML document that needs nothing else to display.

    Ratings are summarised per scale (``rating_scales``, from
    :func:`rlhf_otel.report.rating_scales`); ratings on different scales are only combined
    normalised to 0..1, and labelled so. "Best model" names a model only when its interval
    lies above every other model's. ``judges`` (from ``rlhf_otel.judges.judge_agreement``)
    adds a table of each judge's agreement with people when not empty.
    """
    s = result.stats
    start, end = s.time_range
    span = f"{format_timestamp(start) if start else 'beginning'} to {format_timestamp(end)}"
    cards = [
        ("Interactions", f"{s.total_interactions:,}"),
        ("Feedback", f"{s.total_feedback:,}"),
        ("With feedback", _pct(s.feedback_rate)),
        ("Thumbs up", _pct(s.binary.ratio if s.binary else None)),
        _rating_card(result, rating_scales),
        (
            "Best model",
            clear_winner(result.rankings.models)
            or ("no clear winner" if result.rankings.models else "n/a"),
        ),
    ]
    card_html = "".join(
        f'<div class="card" data-card="{escape(k)}">{escape(k)}<b>{escape(v)}</b></div>'
        for k, v in cards
    )
    if rating_scales is not None and len(rating_scales) > 1:
        card_html += "".join(
            f'<div class="card" data-card="rating {escape(sc.label)}">Average rating '
            f"({escape(sc.label)} scale)<b>{_num(sc.average)}</b>"
            f"<small>{sc.count} ratings</small></div>"
            for sc in rating_scales
        )
    csp = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="color-scheme" content="light dark">'
        f"<title>{escape(title)}</title><script>{_GUARD}</script><style>{_CSS}</style></head>"
        f"<body><header><h1>{escape(title)}</h1>"
        f'<div class="sub">{escape(span)} · generated '
        f"{escape(format_timestamp(result.generated_at))}</div></header>"
        f'<main><section class="cards" aria-label="Summary">{card_html}</section>'
        f'<div class="figures">{"".join(_charts(result, rating_scales))}'
        f"{''.join(_tables(result))}{_judges(judges) if judges else ''}</div></main>"
        f'<div id="tip"></div><script>{_JS}</script></body></html>\n'
    )


def write_report(
    result: AnalyticsResult,
    path: str | os.PathLike[str] | IO[str],
    *,
    title: str | None = None,
    rating_scales: Sequence[RatingScale] | None = None,
    judges: Sequence[JudgeAgreement] = (),
) -> None:
    """Write :func:`render_report` to ``path`` (UTF-8) or to a text stream.

    A regular file is replaced atomically (owner-only); a FIFO, a device or ``/dev/stdout``
    is written through; a symlink is followed.
    """
    html = render_report(
        result,
        title=title or "rlhf-otel feedback report",
        rating_scales=rating_scales,
        judges=judges,
    )
    if not isinstance(path, (str, os.PathLike)):
        path.write(html)
        path.flush()
        return
    with open_output(path, "w", encoding="utf-8", errors=text_errors()) as fh:
        fh.write(html)
