"""The SQL that turns feedback into training candidates (DPO/reward pairs, KTO/SFT rows).

Every candidate becomes one row of table ``events`` with a sort key ``ord`` (the order the
rows are written in) and an ``outcome``: ``row`` or the reason it was skipped. Texts are
joined only for the rows written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

__all__ = [
    "ORD", "comparative_events", "correction_events", "member_events", "prepare", "score_events",
]  # fmt: skip

# (phase, o1, o2, o3) as one sortable number
ORD: Final = (
    "((CAST({p} AS HUGEINT) << 100) + (CAST({a} AS HUGEINT) << 40) "
    "+ (CAST({b} AS HUGEINT) << 20) + CAST({c} AS HUGEINT))"
)

_MEAN: Final = {
    "rating": ("rn", "rs"),
    "binary": ("bn", "bs"),
    "multi_dimensional": ("mn", "ms"),
}


# The texts of the ``interactions`` view (its rows, in its order; ``ctx`` is the context
# as JSON text when it holds messages).
TEXTS_SQL: Final = """SELECT id, coalesce(prompt, '') AS prompt, coalesce(response, '') AS response,
       CASE WHEN json_type(context) = 'ARRAY' AND json_array_length(context) > 0
            THEN CAST(context AS VARCHAR) END AS ctx
FROM raw_interactions WHERE id IS NOT NULL AND "timestamp" IS NOT NULL"""


def prepare(comparative: bool) -> list[str]:
    """Statements creating ``sig`` (per-interaction sums), ``cmp``, ``fix``, ``needed``,
    ``allr`` (every interaction's digests) and ``resp`` (the needed ones, with ``fseq``)."""
    cmp = (
        """CREATE OR REPLACE TEMP TABLE cmp AS
        SELECT seq, pos, pref, other, conf, res FROM (
          SELECT seq, CAST(preferred_response_id AS VARCHAR) AS pref,
                 unnest(compared_response_ids) AS other,
                 generate_subscripts(compared_response_ids, 1) AS pos,
                 confidence_level AS conf, coalesce(outcome, 'preferred') AS res
          FROM fbs WHERE "type" = 'comparative')"""
        if comparative
        else """CREATE OR REPLACE TEMP TABLE cmp
        (seq BIGINT, pos BIGINT, pref VARCHAR, other VARCHAR, conf DOUBLE, res VARCHAR)"""
    )
    return [
        """CREATE OR REPLACE TEMP TABLE sig AS
        SELECT interaction_id AS id,
          count(*) FILTER (WHERE "type" = 'binary') AS bn,
          coalesce(sum(CASE WHEN value = 'thumbs_up' THEN 1.0 ELSE 0.0 END)
                   FILTER (WHERE "type" = 'binary'), 0.0) AS bs,
          count(norm) FILTER (WHERE "type" = 'rating') AS rn,
          coalesce(sum(norm ORDER BY seq) FILTER (WHERE "type" = 'rating'), 0.0) AS rs,
          count(wscore) FILTER (WHERE "type" = 'multi_dimensional') AS mn,
          coalesce(sum(wscore ORDER BY seq) FILTER (WHERE "type" = 'multi_dimensional'), 0.0)
            AS ms
        FROM fbs WHERE "type" NOT IN ('comparative', 'text') GROUP BY interaction_id""",
        cmp,
        # a reviewer's latest correction per interaction (superseded ones are not in fbs)
        """CREATE OR REPLACE TEMP TABLE fix AS
        SELECT interaction_id AS id, arg_max(correction, seq) AS correction
        FROM fbs WHERE "type" = 'text' AND correction IS NOT NULL GROUP BY interaction_id""",
        """CREATE OR REPLACE TEMP TABLE needed AS
        SELECT id FROM sig UNION SELECT id FROM fix
        UNION SELECT pref FROM cmp WHERE pref <> other
        UNION SELECT other FROM cmp WHERE pref <> other""",
        # one scan of the interactions, no join and no window, so the table keeps the
        # write order (its rowid + 1 is the ``interactions`` view's seq): every id with the
        # digests of its prompt and response (of every row: picking the needed ones here
        # would take a join, which need not keep that order). Texts are read again for the
        # rows written only: carrying them through here (or through the view's row_number)
        # costs more than the second read, and grows faster than the data once it spills.
        f"""CREATE OR REPLACE TEMP TABLE allr AS
        SELECT id, ctx IS NOT NULL AS has_ctx,
               md5_number(prompt || chr(0) || coalesce(ctx, '')) AS pkey,
               md5_number(response) AS rhash
        FROM ({TEXTS_SQL})""",
        """CREATE OR REPLACE TEMP TABLE resp AS
        SELECT rowid + 1 AS fseq, id, has_ctx, pkey, rhash FROM allr
        WHERE id IN (SELECT id FROM needed)""",
    ]


DEDUPE_RESP: Final = """CREATE OR REPLACE TEMP TABLE resp AS SELECT * FROM resp
QUALIFY row_number() OVER (PARTITION BY id ORDER BY fseq) = 1"""


def comparative_events() -> str:
    """Phase 1 of DPO/reward: explicit preferences, in the order they were given."""
    return f"""
    INSERT INTO events
    SELECT {ORD.format(p=1, a="seq", b="pos", c=0)}, pref, other, margin, NULL,
      CASE WHEN outcome IS NOT NULL THEN outcome
           WHEN row_number() OVER (PARTITION BY least(pref, other), greatest(pref, other),
                                   outcome IS NULL ORDER BY seq, pos) > 1
           THEN 'duplicate_pair' ELSE 'row' END,
      'comparative', 1
    FROM (
      SELECT c.seq, c.pos, c.pref, c.other, coalesce(c.conf, 1.0) AS margin,
        CASE WHEN c.res <> 'preferred' THEN 'comparison_' || c.res
             WHEN a.id IS NULL OR b.id IS NULL THEN 'interaction_not_found'
             WHEN a.pkey <> b.pkey THEN 'different_prompts'
             WHEN a.rhash = b.rhash THEN 'identical_responses' END AS outcome
      FROM cmp AS c LEFT JOIN resp AS a ON a.id = c.pref LEFT JOIN resp AS b ON b.id = c.other
      WHERE c.pref <> c.other)
    """


def correction_events() -> list[str]:
    """Phase 0 of DPO/reward: (prompt, chosen = the correction, rejected = the answer)."""
    return [
        f"""INSERT INTO events SELECT {ORD.format(p=0, a=0, b=0, c=0)}, NULL, NULL, NULL, NULL,
               'interaction_not_found', NULL, count(*)
            FROM fix ANTI JOIN resp USING (id) ANTI JOIN sig USING (id) HAVING count(*) > 0""",
        f"""INSERT INTO events
        SELECT {ORD.format(p=0, a="r.fseq", b=1, c=0)}, r.id, r.id, 1.0, NULL,
               CASE WHEN md5_number(f.correction) = r.rhash THEN 'correction_same_as_response'
                    ELSE 'row' END, 'correction', 1
        FROM fix AS f JOIN resp AS r USING (id)""",
    ]


def _kind_and_diff(kinds: Sequence[str]) -> tuple[str, str]:
    kind = "CASE " + " ".join(
        f"WHEN a.{_MEAN[k][0]} > 0 AND b.{_MEAN[k][0]} > 0 THEN '{k}'" for k in kinds
    ) + " END"  # fmt: skip
    diff = "CASE " + " ".join(
        f"WHEN a.{n} > 0 AND b.{n} > 0 THEN a.{s} / a.{n} - b.{s} / b.{n}"
        for n, s in (_MEAN[k] for k in kinds)
    ) + " END"  # fmt: skip
    return kind, diff


def score_events(kinds: Sequence[str], cap: int | None) -> list[str]:
    """Phases 2-3 of DPO/reward: pairs of responses to one prompt whose scores differ."""
    kind, diff = _kind_and_diff(kinds)
    capped = (
        f"""WHEN row_number() OVER (PARTITION BY gseq, outcome IS NULL ORDER BY pa, pb)
                 > {int(cap)} THEN 'max_pairs_per_prompt'"""
        if cap is not None
        else ""
    )
    return [
        f"""INSERT INTO events SELECT {ORD.format(p=2, a=0, b=0, c=0)}, NULL, NULL, NULL, NULL,
               'interaction_not_found', NULL, count(*)
            FROM sig ANTI JOIN resp USING (id) HAVING count(*) > 0""",
        """CREATE OR REPLACE TEMP TABLE mem AS
        SELECT r.id, r.pkey, r.rhash, r.fseq, s.bn, s.bs, s.rn, s.rs, s.mn, s.ms,
               row_number() OVER (PARTITION BY r.pkey ORDER BY r.fseq) AS pos,
               min(r.fseq) OVER (PARTITION BY r.pkey) AS gseq,
               count(*) OVER (PARTITION BY r.pkey) AS gn
        FROM resp AS r JOIN sig AS s USING (id)""",
        f"""INSERT INTO events SELECT {ORD.format(p=3, a="gseq", b=0, c=0)}, NULL, NULL, NULL,
               NULL, 'no_other_response_for_prompt', NULL, 1
            FROM mem WHERE gn < 2""",
        f"""CREATE OR REPLACE TEMP TABLE pev AS
        SELECT a.gseq, a.pos AS pa, b.pos AS pb, a.id AS ida, b.id AS idb,
               a.rhash = b.rhash AS same_text, {kind} AS kind, {diff} AS diff
        FROM mem AS a JOIN mem AS b ON a.pkey = b.pkey AND a.pos < b.pos""",
        """CREATE OR REPLACE TEMP TABLE pev AS
        SELECT *, CASE WHEN kind IS NULL THEN 'no_common_signal'
                       WHEN diff = 0 THEN 'tie'
                       WHEN EXISTS (SELECT 1 FROM events AS e
                                    WHERE e.outcome = 'row' AND e.kind = 'comparative'
                                      AND least(e.win, e.lose) = least(ida, idb)
                                      AND greatest(e.win, e.lose) = greatest(ida, idb))
                       THEN 'duplicate_pair'
                       WHEN same_text THEN 'identical_responses' END AS outcome
        FROM pev""",
        f"""INSERT INTO events
        SELECT {ORD.format(p=3, a="gseq", b="pa", c="pb")},
               CASE WHEN diff > 0 THEN ida ELSE idb END,
               CASE WHEN diff > 0 THEN idb ELSE ida END, abs(diff), NULL,
               CASE WHEN outcome IS NOT NULL THEN outcome
                    {capped}
                    ELSE 'row' END,
               kind, 1
        FROM pev""",
    ]


def member_events(kto: bool, positive: float, negative: float) -> list[str]:
    """KTO / SFT: one candidate per interaction with feedback, in the order it was logged."""
    sat = "CASE WHEN s.rn + s.bn > 0 THEN (s.rs + s.bs) / (s.rn + s.bn) END"
    sources = (
        "CASE WHEN s.bn > 0 AND s.rn > 0 THEN 'binary+rating' "
        "WHEN s.bn > 0 THEN 'binary' ELSE 'rating' END"
    )
    if kto:
        outcome = f"""CASE WHEN sat IS NULL THEN 'no_usable_feedback'
                           WHEN sat >= CAST({positive!r} AS DOUBLE)
                             OR sat <= CAST({negative!r} AS DOUBLE) THEN 'row'
                           ELSE 'ambiguous_score' END"""
    else:
        outcome = f"""CASE WHEN sat IS NULL THEN 'no_usable_feedback'
                           WHEN sat < CAST({positive!r} AS DOUBLE) THEN 'not_well_rated'
                           ELSE 'row' END"""
    # SFT: a corrected interaction is learnt with its correction, whatever its scores
    # (KTO reads no text feedback, so ``fix`` is empty there).
    return [
        f"""INSERT INTO events SELECT {ORD.format(p=1, a=0, b=0, c=0)}, NULL, NULL, NULL, NULL,
               'interaction_not_found', NULL, count(*)
            FROM (SELECT id FROM sig UNION SELECT id FROM fix) ANTI JOIN resp USING (id)
            HAVING count(*) > 0""",
        f"""INSERT INTO events
        SELECT {ORD.format(p=2, a="fseq", b=0, c=0)}, id, NULL, NULL,
               sat >= CAST({positive!r} AS DOUBLE),
               CASE WHEN fixed THEN 'row' ELSE {outcome} END,
               CASE WHEN fixed THEN 'correction' ELSE src END, 1
        FROM (SELECT r.fseq, r.id, {sat} AS sat, {sources} AS src, f.id IS NOT NULL AS fixed
              FROM resp AS r LEFT JOIN sig AS s USING (id) LEFT JOIN fix AS f USING (id)
              WHERE s.id IS NOT NULL OR f.id IS NOT NULL)""",
    ]


def texts(pairs: bool, limit: int | None, evaluator: str = "NULL", *, unique: bool = True) -> str:
    """The rows written, in order, with their texts.

    The texts are read again from the interactions, for the ids written only. ``unique``:
    no id among them is stored twice; otherwise, of an id stored twice, the copy whose
    digests are those in ``resp`` is read (its first copy's: equal digests, equal texts).
    ``evaluator`` is the SQL of the last column (over the events row ``e``).
    """
    window = "" if limit is None else f" LIMIT {int(limit)}"
    lose = "r.lose" if pairs else "NULL"
    if unique:
        # a mark join inside coalesce stays one: as a semi join the optimizer would build
        # its hash table from the interactions (it cannot tell how many rows JSON holds)
        t = f"""SELECT id, prompt, ctx, response FROM ({TEXTS_SQL})
          WHERE coalesce(id IN (SELECT id FROM w), false)"""
    else:
        # the same mark join first (for the same reason), then the digests pick the copy
        t = f"""SELECT s.id, any_value(s.prompt) AS prompt, any_value(s.ctx) AS ctx,
                 any_value(s.response) AS response
          FROM (SELECT * FROM ({TEXTS_SQL}) WHERE coalesce(id IN (SELECT id FROM w), false))
            AS s JOIN w ON s.id = w.id
          WHERE md5_number(s.prompt || chr(0) || coalesce(s.ctx, '')) = w.pkey
            AND md5_number(s.response) = w.rhash
          GROUP BY s.id"""
    wanted = f"""
    WITH r AS (SELECT * FROM events WHERE outcome = 'row' ORDER BY ord{window}),
    w AS (SELECT id, pkey, rhash FROM resp
          WHERE id IN (SELECT win FROM r UNION ALL SELECT {lose} FROM r)),
    t AS MATERIALIZED ({t})"""
    if pairs:
        return f"""{wanted}
        SELECT a.prompt, a.ctx,
               CASE WHEN e.kind = 'correction' THEN f.correction ELSE a.response END,
               b.response, e.margin, {evaluator}
        FROM r AS e JOIN t AS a ON a.id = e.win JOIN t AS b ON b.id = e.lose
               LEFT JOIN fix AS f ON e.kind = 'correction' AND f.id = e.win
        ORDER BY e.ord"""
    return f"""{wanted}
    SELECT a.prompt, a.ctx,
           CASE WHEN e.kind = 'correction' THEN f.correction ELSE a.response END, NULL, e.label,
           {evaluator}
    FROM r AS e JOIN t AS a ON a.id = e.win
           LEFT JOIN fix AS f ON e.kind = 'correction' AND f.id = e.win
    ORDER BY e.ord"""
