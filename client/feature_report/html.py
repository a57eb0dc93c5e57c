"""The report as one HTML file: inline CSS, inline SVG, a few lines of inline script for
sorting tables; nothing is fetched when it opens (it must work offline and via a tunnel)."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

import numpy as np

from hemma_features.client.feature_report import svg
from hemma_features.client.feature_report.evaluation_html import section
from hemma_features.client.feature_report.model import Embedding, Feature, Provenance, ReportData
from hemma_features.client.feature_report.stats import Summary

HEAT_ROWS = 20
"""Features in the heat map: the strongest by their largest |rho| over the labels."""
NAMED = 10
SMALL_N = 30
"""Fewer labelled essays than this: the report says the correlations are too noisy."""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#1d2125;background:#fafbfc}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 4px}.card h3{margin-top:0}
table{border-collapse:collapse;font-size:12.5px}
td,th{padding:3px 8px;border-bottom:1px solid #e4e8ec;text-align:left;vertical-align:top}
th{background:#f0f3f6;position:sticky;top:0}
th.sort{cursor:pointer}th.sort:after{content:" \\2195";color:#999}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
 word-break:break-all}
.meta td:first-child{color:#57606a;white-space:nowrap}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 12px}
.card.flagged{border-color:#d4a72c;box-shadow:inset 3px 0 0 #d4a72c}
.def{color:#444;font-size:12px;margin:4px 0}
.tag{display:inline-block;background:#eef1f4;border-radius:3px;padding:0 5px;
 margin-right:4px;font-size:11.5px;color:#444}
.flag{display:inline-block;background:#fff8c5;border:1px solid #d4a72c;border-radius:3px;
 padding:0 5px;margin:2px 4px 0 0;font-size:11.5px}
.small{font-size:12px;color:#57606a}
.stats{width:100%;table-layout:fixed;margin-top:4px}.stats td{padding:1px 4px;border:0}
.stats td:nth-child(odd){color:#57606a;width:18%}
.neg{color:#2166ac}.pos{color:#b2182b}
nav a{margin-right:12px}
.card svg{max-width:100%;height:auto}.wide{grid-column:span 2}
.scroll{overflow-x:auto;max-width:100%}
"""

# Sorts a table by the clicked column: numbers by data-v (NaN last), text otherwise.
SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (t) {
  t.querySelectorAll('th.sort').forEach(function (th) {
    th.addEventListener('click', function () {
      var body = t.tBodies[0], rows = Array.from(body.rows), k = th.cellIndex;
      var dir = th.dataset.dir === 'a' ? 'd' : 'a';
      th.dataset.dir = dir;
      function key(row) {
        var cell = row.cells[k], v = cell.dataset.v;
        if (v === undefined) return cell.textContent;
        v = parseFloat(v);
        return isNaN(v) ? -Infinity : v;
      }
      rows.sort(function (x, y) {
        var u = key(x), v = key(y);
        return (u < v ? -1 : u > v ? 1 : 0) * (dir === 'a' ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def render(data: ReportData) -> str:
    """The whole report."""
    p = data.provenance
    flagged = sum(1 for f in data.features if f.summary.flags)
    body = [
        f"<h1>Feature report: {escape(p.feature_set)}, {p.rows} essays</h1>",
        '<p class="small">Made by hemma-features from the local cache; every number below '
        "is computed from the cached rows themselves.</p>",
        "<nav>"
        + "".join(
            f'<a href="#{a}">{t}</a>'
            for a, t in (
                ("provenance", "Provenance"),
                ("overview", "Overview"),
                ("labels", "Labels"),
                *([("evaluation", "Evaluation")] if data.evaluation is not None else []),
                ("embedding", "Embedding"),
                ("features", "Features"),
            )
        )
        + "</nav>",
        _provenance(data),
        '<h2 id="overview">Overview</h2>',
        f"<p>{len(data.features)} feature columns; {flagged} flagged (constant, one dominant "
        "value, heavy outliers, values outside the unit's range, missing values). "
        "<b>undefined</b> counts the rows where a feature could not be measured (its "
        "catalogue's undefined case, such as a share of words in a text without words, told "
        'by another column such as <span class="mono">n_words</span>); their value is not a '
        "measurement, so every other figure leaves them out. <b>zeros</b> counts measured rows "
        "at 0; a &dagger; marks a feature whose undefined case no column records, so some of "
        "its zeros may be undefined.</p>",
        _flag_list(data.features),
        _overview_table(data),
        _redundant(data),
        _labels(data),
        section(data.evaluation) if data.evaluation is not None else "",
        _embedding(data.embedding),
        '<h2 id="features">Features</h2>',
        _feature_cards(data.features),
        f'<p class="small">Command: <span class="mono">{escape(data.command or "(Python API)")}'
        f"</span>; generated {escape(p.generated)} by hemma-features {escape(p.tool_version)}.</p>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>hemma-features report {escape(p.feature_set)} {escape(p.fingerprint[:12])}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body><main>{''.join(body)}</main>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def _provenance(data: ReportData) -> str:
    p = data.provenance
    rows: list[tuple[str, str]] = [
        ("fingerprint", f'<span class="mono">{escape(p.fingerprint)}</span>'),
        ("feature set", escape(p.feature_set)),
        ("schema version", escape(p.schema_version)),
        ("essays", str(p.rows)),
        ("essays from", _essays_from(p)),
        ("cache written", f"{escape(p.written_first)} to {escape(p.written_last)} "
                          f"({p.files} file(s), {p.bytes / 1e6:.1f} MB)"),
        ("cache", f'<span class="mono">{escape(p.cache)}</span>'),
    ]  # fmt: skip
    if p.embedding_model and p.feature_set != "handcrafted":
        rows.append(("embedding model", escape(p.embedding_model)))
    for name, fp in sorted(p.components.items()):
        rows.append((f"{name} rows from", f'<span class="mono">{escape(fp)}</span>'))
    record = p.record
    if record is None:
        rows.append(
            (
                "components",
                "not recorded in this cache (written before extract kept "
                '<span class="mono">_fingerprint.json</span>): run '
                '<span class="mono">hemma-features fingerprint --json</span> against the '
                "server that produced it",
            )
        )
    else:
        parts = record.components
        embedding = parts.get("embedding")
        if isinstance(embedding, dict) and p.feature_set != "handcrafted":
            rows.append(("embedding", _kv(embedding)))
        for key, label in (("spacy_model", "spaCy model"), ("languagetool", "LanguageTool"),
                           ("text_normalization", "text normalisation"),
                           ("libraries", "libraries")):  # fmt: skip
            value = parts.get(key)
            if value is not None and (p.feature_set != "embeddings" or key == "libraries"):
                rows.append((label, _kv(value)))
        if record.unavailable:
            rows.append(("unavailable then", _kv(record.unavailable)))
    table = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<h2 id="provenance">Provenance</h2><table class="meta">{table}</table>'


def _essays_from(p: Provenance) -> str:
    """Which rows the report covers: one input's (``--ids-from``), or the whole partition,
    with the inputs extract recorded for it."""
    if p.scope is not None:
        text = f"{escape(p.scope.summary())}; the partition holds {p.partition_rows}"
    else:
        text = (
            'every cached row of this fingerprint and feature set (<span class="mono">'
            "--ids-from FILE</span> limits the report to one input's essays)"
        )
    if p.inputs:
        listed = "; ".join(
            f'<span class="mono">{escape(r.source or "a DataFrame or Table")}</span> '
            f"({r.rows} rows, {escape(r.feature_set)}, ids from {escape(r.id_column)}, "
            f"{dt.datetime.fromtimestamp(r.written, dt.UTC):%Y-%m-%d %H:%M} UTC)"
            for r in p.inputs
        )
        text += f"; inputs extracted into it: {listed}"
    return text


def _kv(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(
            f'{escape(str(k))}: <span class="mono">{escape(_short(v))}</span>'
            for k, v in sorted(value.items())
        )
    return f'<span class="mono">{escape(_short(value))}</span>'


def _short(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


def _cell(value: float, digits: str = ".4g") -> str:
    if value is None or not np.isfinite(value):
        return '<td class="num" data-v="NaN">n/a</td>'
    return f'<td class="num" data-v="{value!r}">{format(value, digits)}</td>'


def _zeros_cell(s: Summary) -> str:
    if not s.undecided:
        return _cell(float(s.zeros), "g")
    return (
        f'<td class="num" data-v="{float(s.zeros)!r}" title="{escape(s.undefined_rule)}">'
        f"{s.zeros}&dagger;</td>"
    )


def _overview_table(data: ReportData) -> str:
    labels = list(data.labels.join.values) if data.labels is not None else []
    head = ["feature", "group", "version", "rows", "missing", "min", "median", "max",
            "undefined", "zeros", "flags",
            *(f"&rho; {escape(label)}" for label in labels)]  # fmt: skip
    numeric = {2, 3, 4, 5, 6, 7, 8, 9} | set(range(11, 11 + len(labels)))
    ths = "".join(
        f'<th class="sort{" num" if i in numeric else ""}">{h}</th>' for i, h in enumerate(head)
    )
    rows = []
    for f in data.features:
        s = f.summary
        group = f.spec.group if f.spec else "?"
        cells = [
            f'<td><a href="#f-{escape(f.name)}">{escape(f.name)}</a></td>',
            f"<td>{escape(group)}</td>",
            _cell(float(f.version) if f.version is not None else float("nan"), "g"),
            _cell(float(s.rows), "g"),
            _cell(float(s.missing), "g"),
            _cell(s.minimum),
            _cell(s.median),
            _cell(s.maximum),
            _cell(float(s.undefined) if s.undefined is not None else float("nan"), "g"),
            _zeros_cell(s),
            f'<td data-v="{len(s.flags)}" title="{escape("; ".join(s.flags))}">'
            f"{len(s.flags) or ''}</td>",
        ]
        for label in labels:
            c = f.correlations[label]
            cells.append(_rho_cell(c.rho, c.low, c.high, c.n))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    hint = (
        " Click a heading to sort; &rho; is Spearman's rank correlation with the label "
        "(hover for the 95% interval and n)."
        if labels
        else " Click a heading to sort."
    )
    return (
        f'<p class="small">One row per feature.{hint}</p>'
        f'<div class="scroll"><table class="sortable" id="features-table"><thead><tr>{ths}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _flag_list(features: list[Feature]) -> str:
    flagged = [f for f in features if f.summary.flags]
    if not flagged:
        return "<p>No feature is flagged.</p>"
    items = "".join(
        f'<li><a href="#f-{escape(f.name)}" class="mono">{escape(f.name)}</a>: '
        f"{escape('; '.join(f.summary.flags))}</li>"
        for f in flagged
    )
    return f'<p class="small">Flagged:</p><ul class="small">{items}</ul>'


def _rho_cell(rho: float, low: float, high: float, n: int) -> str:
    if not np.isfinite(rho):
        return '<td class="num" data-v="NaN">n/a</td>'
    css = "pos" if rho > 0 else "neg"
    return (
        f'<td class="num {css}" data-v="{abs(rho)!r}" title="95% CI [{low:+.3f}, {high:+.3f}], '
        f'n={n}">{rho:+.3f}</td>'
    )


def _redundant(data: ReportData) -> str:
    if not data.redundant:
        return ""
    rows = "".join(
        f'<tr><td>{escape(a)}</td><td>{escape(b)}</td><td class="num">{r:+.3f}</td></tr>'
        for a, b, r in data.redundant
    )
    return (
        f"<h3>Near-duplicate features (|&rho;| &ge; 0.95 between features, on up to "
        f"5000 evenly spaced rows)</h3><table><thead><tr><th>feature</th><th>feature</th>"
        f'<th class="num">&rho;</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _labels(data: ReportData) -> str:
    if data.labels is None:
        return (
            '<h2 id="labels">Labels</h2><p>No labels given (<span class="mono">--labels '
            "scores.csv</span> with essay_id and numeric score columns adds correlations).</p>"
        )
    join = data.labels.join
    names = list(join.values)
    out = [
        '<h2 id="labels">Labels</h2>',
        f'<p>From <span class="mono">{escape(data.labels.source)}</span>: {len(names)} score '
        f"column(s) ({escape(', '.join(names))}). <b>{join.matched}</b> of "
        f"{data.provenance.rows} cached essays have a labels row; "
        f"<b>{len(join.missing_ids)}</b> cached essay(s) have none; <b>{len(join.extra_ids)}"
        "</b> labelled essay(s) are not in the cache.</p>",
    ]
    if join.matched < SMALL_N:
        out.append(
            f'<p class="flag">Only {join.matched} labelled essays: the correlations below are '
            "too noisy to rank features by (see each interval).</p>"
        )
    out.append(
        '<p class="small">Every interval is for one feature and one label on its own; with '
        f"{len(data.features)} features and {len(names)} label(s), some intervals will miss "
        "zero by chance.</p>"
    )
    for what, ids in (("cached, without labels", join.missing_ids),
                      ("labelled, not in the cache", join.extra_ids)):  # fmt: skip
        if ids:
            more = f" and {len(ids) - NAMED} more" if len(ids) > NAMED else ""
            shown = ", ".join(escape(i) for i in ids[:NAMED])
            out.append(f'<p class="small">{what}: <span class="mono">{shown}</span>{more}</p>')
    cards = []
    for name, s in data.labels.summaries.items():
        plot = svg.histogram(
            s.counts, s.edges, title=f"{name} distribution", css_class="label-hist"
        )
        cards.append(f'<div class="card"><h3>{escape(name)}</h3>{plot}{_stats(s)}</div>')
    out.append(f'<div class="grid">{"".join(cards)}</div>')
    out.append(_heat_map(data.features, names))
    return "".join(out)


def _heat_map(features: list[Feature], labels: list[str]) -> str:
    def strongest(f: Feature) -> float:
        found = [abs(f.correlations[label].rho) for label in labels]
        return max((r for r in found if np.isfinite(r)), default=-1.0)

    scored = [(strongest(f), f) for f in features]
    top = [f for score, f in sorted(scored, key=lambda s: -s[0]) if score >= 0][:HEAT_ROWS]
    if not top:
        return "<p>No feature correlates with a label (too few labelled rows).</p>"
    matrix = np.array([[f.correlations[label].rho for label in labels] for f in top])
    plot = svg.heat_map(
        matrix, [f.name for f in top], labels, title="Spearman rho, strongest features"
    )
    return (
        f"<h3>Strongest {len(top)} features against the labels (Spearman &rho;)</h3>"
        f'<p class="small">Rows ordered by the largest |&rho;| over the labels.</p>{plot}'
    )


def _embedding(embedding: Embedding | None) -> str:
    if embedding is None:
        return ""
    pr = embedding.projection
    scatter = svg.scatter(
        pr.points,
        embedding.colour,
        title="embedding PCA",
        x_label=f"PC1 ({pr.explained[0]:.1%} of variance)",
        y_label=f"PC2 ({pr.explained[1]:.1%})",
        colour_label=embedding.colour_label,
    )
    norms = svg.histogram(
        embedding.norms.counts,
        embedding.norms.edges,
        title="embedding L2 norms",
        css_class="emb-hist",
    )
    coloured = f", coloured by {escape(embedding.colour_label)}" if embedding.colour_label else ""
    return (
        '<h2 id="embedding">Embedding</h2>'
        f"<p>{embedding.dim}-d vectors. PCA over all {pr.rows_total} rows (covariance streamed "
        f"in batches); {len(pr.points)} evenly spaced rows drawn{coloured}.</p>"
        f'<div class="grid"><div class="card wide">{scatter}</div>'
        '<div class="card"><h3>L2 norm</h3>'
        f"{norms}{_stats(embedding.norms)}{_flags(embedding.norms.flags)}</div></div>"
    )


def _feature_cards(features: list[Feature]) -> str:
    groups: dict[str, list[Feature]] = {}
    for f in features:
        groups.setdefault(f.spec.group if f.spec else "not in the catalogue", []).append(f)
    out = []
    for group, members in groups.items():
        cards = "".join(_card(f) for f in members)
        out.append(
            f'<h3 style="margin-top:18px">{escape(group)}</h3><div class="grid">{cards}</div>'
        )
    return "".join(out)


def _card(f: Feature) -> str:
    s = f.summary
    spec = f.spec
    tags = ""
    if spec is not None:
        version = f"v{f.version}" if f.version is not None else "version not recorded"
        tags = "".join(
            f'<span class="tag">{escape(t)}</span>'
            for t in (version, f"tier {spec.tier}", spec.unit, spec.source)
        )
    definition = escape(spec.definition) if spec else "No catalogue entry for this column."
    plot = (
        svg.histogram(
            s.counts,
            s.edges,
            title=f"{f.name} histogram",
            marks=[(s.median, f"median {svg.number(s.median)}")],
        )
        if s.counts.size
        else '<svg class="hist" width="320" height="20"><title>no values</title></svg>'
    )
    clipped = ""
    if s.clipped != (0, 0):
        clipped = (
            f'<div class="small">Range clipped to the 1st-99th percentiles: {s.clipped[0]} '
            f"row(s) below and {s.clipped[1]} above sit in the edge bins.</div>"
        )
    css = "card flagged" if s.flags else "card"
    return (
        f'<div class="{css}" id="f-{escape(f.name)}" data-feature="{escape(f.name)}">'
        f'<h3 class="mono">{escape(f.name)}</h3>{tags}<div class="def">{definition}</div>'
        f"{plot}{clipped}{_stats(s)}{_flags(s.flags)}</div>"
    )


def _stats(s: Summary) -> str:
    def n(v: float) -> str:
        return svg.number(v)

    undefined = ""
    if s.undefined is not None:
        undefined = (
            f'<tr><td>undefined</td><td colspan="3">{s.undefined} '
            f'<span class="small">({escape(s.undefined_rule)})</span></td></tr>'
        )
    elif s.undefined_rule:
        undefined = (
            f'<tr><td>undefined</td><td colspan="3">not counted '
            f'<span class="small">({escape(s.undefined_rule)})</span></td></tr>'
        )
    zeros = f"{s.zeros}"
    if s.undecided:
        zeros += ' <span class="small">(real zeros, or undefined where no column tells)</span>'
    return (
        '<table class="stats">'
        f"<tr><td>measured</td><td>{s.measured} of {s.rows}</td><td>mean</td>"
        f"<td>{n(s.mean)} &plusmn; {n(s.std)}</td></tr>"
        f"<tr><td>min</td><td>{n(s.minimum)}</td><td>median</td><td>{n(s.median)}</td></tr>"
        f"<tr><td>p1/p99</td><td>{n(s.p01)} / {n(s.p99)}</td><td>max</td>"
        f"<td>{n(s.maximum)}</td></tr>"
        f'<tr><td>zeros</td><td colspan="3">{zeros}</td></tr>{undefined}</table>'
    )


def _flags(flags: list[str]) -> str:
    return "".join(f'<span class="flag">{escape(x)}</span>' for x in flags)
