"""The SQL of the raw record columns and of the documented views ``interactions``/``feedback``."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ANY_SUPERSEDES_SQL",
    "DUPLICATES_TABLE",
    "FEEDBACK_COLUMNS",
    "FEEDBACK_KEYS_TABLE",
    "FEEDBACK_ROWS_VIEW",
    "FEEDBACK_STORED_TABLE",
    "FEEDBACK_VERSIONS_VIEW",
    "FEEDBACK_VIEW",
    "INTERACTION_COLUMNS",
    "INTERACTIONS_VIEW",
    "RAW_FEEDBACK",
    "RAW_INTERACTIONS",
    "counted_view_sql",
    "flattened_sql",
    "uncounted_sql",
]

# The record schema's fields as DuckDB reads them from a JSONL line (a missing field is
# NULL). JSON-valued fields stay JSON text so nothing about them is lost.
RAW_INTERACTIONS: Final = {
    "id": "VARCHAR", "timestamp": "VARCHAR", "prompt": "VARCHAR", "response": "VARCHAR",
    "model": "VARCHAR", "provider": "VARCHAR", "model_params": "JSON", "latency_ms": "DOUBLE",
    "token_usage": "STRUCT(prompt BIGINT, completion BIGINT, total BIGINT)",
    "user_id": "VARCHAR", "session_id": "VARCHAR", "context": "JSON", "metadata": "JSON",
    "response_id": "VARCHAR", "finish_reasons": "VARCHAR[]", "error_type": "VARCHAR",
    "time_to_first_token_ms": "DOUBLE", "trace_id": "VARCHAR", "span_id": "VARCHAR",
}  # fmt: skip
RAW_FEEDBACK: Final = {
    "id": "VARCHAR", "interaction_id": "VARCHAR", "type": "VARCHAR", "data": "JSON",
    "timestamp": "VARCHAR", "user_id": "VARCHAR", "session_id": "VARCHAR", "source": "VARCHAR",
    "metadata": "JSON", "target_ids": "VARCHAR[]", "trace_id": "VARCHAR", "span_id": "VARCHAR",
    "supersedes": "VARCHAR",
}  # fmt: skip

INTERACTION_COLUMNS: Final = {
    "seq": "write order (1 = oldest record written)",
    "id": "interaction id",
    "timestamp": "start of the call (TIMESTAMPTZ, UTC)",
    "prompt": "prompt text",
    "response": "response text",
    "model": "model name",
    "provider": "provider name",
    "model_params": "request parameters (JSON)",
    "latency_ms": "latency in milliseconds",
    "input_tokens": "prompt tokens",
    "output_tokens": "completion tokens",
    "total_tokens": "total tokens",
    "user_id": "user of the interaction",
    "session_id": "session of the interaction",
    "context": "messages before the prompt (JSON list of {role, content})",
    "metadata": "metadata (JSON)",
    "response_id": "provider's response id",
    "finish_reasons": "finish reasons (list)",
    "error_type": "error type when the call failed",
    "time_to_first_token_ms": "time to the first streamed token",
    "trace_id": "OpenTelemetry trace id",
    "span_id": "OpenTelemetry span id",
}
FEEDBACK_COLUMNS: Final = {
    "seq": "write order (1 = oldest record written)",
    "id": "feedback id",
    "interaction_id": "main target interaction",
    "type": "binary, rating, text, multi_dimensional or comparative",
    "timestamp": "when the feedback was given (TIMESTAMPTZ, UTC)",
    "user_id": "who gave it",
    "session_id": "session it was given in",
    "source": "where it came from (web, review, ...)",
    "target_ids": "every interaction it is about (list; the main target when empty)",
    "supersedes": "id of the feedback version this one replaces (NULL when none)",
    "data": "the payload as stored (JSON)",
    "value": "binary: thumbs_up or thumbs_down",
    "rating": "rating: the rating",
    "min_rating": "rating: bottom of its scale (1 when not given)",
    "max_rating": "rating: top of its scale",
    "comment": "rating / text: the comment",
    "sentiment": "text: positive, negative, neutral or NULL",
    "correction": "text: the better answer a reviewer wrote (NULL when none)",
    "dimensions": "multi_dimensional: name -> score (JSON object)",
    "weights": "multi_dimensional: name -> weight (JSON object, NULL: all 1)",
    "overall_comment": "multi_dimensional: the comment",
    "preferred_response_id": "comparative: the preferred interaction",
    "compared_response_ids": "comparative: the interactions it was preferred to (list)",
    "reason": "comparative: why",
    "confidence_level": "comparative: confidence 0..1",
    "outcome": "comparative: preferred, tie or both_bad (preferred when not stored)",
    "metadata": "metadata (JSON)",
    "trace_id": "OpenTelemetry trace id",
    "span_id": "OpenTelemetry span id",
}

INTERACTIONS_VIEW: Final = """
CREATE OR REPLACE VIEW interactions AS
SELECT row_number() OVER () AS seq, id, CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp",
       coalesce(prompt, '') AS prompt, coalesce(response, '') AS response, model, provider,
       model_params, latency_ms, token_usage.prompt AS input_tokens,
       token_usage.completion AS output_tokens, token_usage.total AS total_tokens,
       user_id, session_id, context, metadata, response_id, finish_reasons, error_type,
       time_to_first_token_ms, trace_id, span_id
FROM raw_interactions
WHERE id IS NOT NULL AND "timestamp" IS NOT NULL
"""


# The stored feedback rows in the order they were written (a retried write may have stored
# an id twice), before any rule; internal to the engine. Read from the store once into a
# table, in parallel: DuckDB keeps a scan's order when a query has no join (so its ``rowid``
# is the write order), where row_number() over the scan would parse the lines on one thread.
# The type test is a chain of ORs because DuckDB plans an IN list (or list_contains) as a join.
FEEDBACK_STORED_TABLE: Final = """
CREATE OR REPLACE TEMP TABLE feedback_stored AS
SELECT id, interaction_id, "type", CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp", user_id,
       session_id, source,
       CASE WHEN len(target_ids) > 0 THEN target_ids ELSE [interaction_id] END AS target_ids,
       supersedes, data, metadata, trace_id, span_id
FROM raw_feedback
WHERE id IS NOT NULL AND interaction_id IS NOT NULL AND "timestamp" IS NOT NULL
  AND ("type" = 'binary' OR "type" = 'rating' OR "type" = 'text'
       OR "type" = 'multi_dimensional' OR "type" = 'comparative')
"""
FEEDBACK_ROWS_VIEW: Final = """
CREATE OR REPLACE VIEW feedback_rows AS
SELECT rowid + 1 AS seq, id, interaction_id, "type", "timestamp", user_id, session_id, source,
       target_ids, supersedes, data, metadata, trace_id, span_id
FROM feedback_stored
"""

# What the counting rule (rlhf_otel.records.count_feedback) needs of each row, read from the
# store once, so the rule never re-reads it.
FEEDBACK_KEYS_TABLE: Final = """
CREATE OR REPLACE TEMP TABLE feedback_keys AS
SELECT seq, id, "type", user_id, supersedes, "timestamp",
       CASE WHEN "type" = 'text' OR user_id IS NULL THEN NULL
            WHEN len(target_ids) = 1 AND target_ids[1] = interaction_id THEN interaction_id
            ELSE array_to_string(list_sort(list_distinct(list_append(target_ids,
                                                                     interaction_id))),
                                 chr(31)) END AS targets
FROM feedback_rows
"""
# ``targets``: the interactions a vote is about, sorted, as one string (NULL: the record
# counts alone: text, or no user); plain strings hash faster than lists.


# Later copies of an id (rule 1: the first stored copy wins).
DUPLICATES_TABLE: Final = """
CREATE OR REPLACE TEMP TABLE feedback_duplicates AS
SELECT k.seq, k.id FROM feedback_keys AS k
JOIN (SELECT id, min(seq) AS first FROM feedback_keys GROUP BY id HAVING count(*) > 1) AS d
  ON d.id = k.id AND k.seq > d.first
"""

# Whether any stored record names another in ``supersedes`` (rule 2 has work to do).
ANY_SUPERSEDES_SQL: Final = """
SELECT EXISTS (SELECT 1 FROM feedback_keys WHERE supersedes IS NOT NULL AND supersedes <> id)
"""


def uncounted_sql(
    table: str, where: str = "", *, duplicates: bool = True, supersedes: bool = True
) -> str:
    """``CREATE TABLE {table}``: the ``seq`` of every stored row that does not count.

    Rules 2 and 3 of ``rlhf_otel.records.count_feedback`` apply among the rows that pass
    ``where`` (a condition on ``"timestamp"``), after rule 1 over the whole store.
    ``duplicates=False`` (``feedback_duplicates`` is empty) and ``supersedes=False`` (no
    stored record names another) leave out the parts of the rule that would find nothing.
    """
    conds = [c for c in (
        "seq NOT IN (SELECT seq FROM feedback_duplicates)" if duplicates else "", where
    ) if c]  # fmt: skip
    c_where = f"WHERE {' AND '.join(conds)}" if conds else ""
    gone = (
        """, gone AS (
  SELECT c.seq FROM c
  WHERE c.id IN (SELECT supersedes FROM c AS s
                 WHERE s.supersedes IS NOT NULL AND s.supersedes <> s.id)
)"""
        if supersedes
        else ""
    )
    not_gone = " AND seq NOT IN (SELECT seq FROM gone)" if supersedes else ""
    parts = ["SELECT seq FROM replaced"]
    if supersedes:
        parts.insert(0, "SELECT seq FROM gone")
    if duplicates:
        parts.insert(0, "SELECT seq FROM feedback_duplicates")
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
WITH c AS (
  SELECT * FROM feedback_keys {c_where}
){gone}, live AS (
  SELECT * FROM c WHERE targets IS NOT NULL{not_gone}
), shared AS (
  SELECT targets, "type", user_id FROM live GROUP BY ALL HAVING count(*) > 1
), replaced AS (
  SELECT seq FROM (
    SELECT live.seq, row_number() OVER (PARTITION BY live.targets, live."type", live.user_id
                                        ORDER BY live."timestamp" DESC, live.seq DESC) AS n
    FROM live SEMI JOIN shared
      ON shared.targets = live.targets AND shared."type" = live."type"
         AND shared.user_id = live.user_id
  ) WHERE n > 1
)
{" UNION ALL ".join(parts)}
"""


def counted_view_sql(name: str, versions: str, order: str) -> str:
    """``CREATE VIEW {name}``: the rows of ``versions`` (one per id, the views' columns)
    that count by rules 2 and 3 of ``rlhf_otel.records.count_feedback``; ``order`` breaks
    timestamp ties (the write order where there is one). For sources without the engine's
    tables, such as a Parquet lake."""
    return f"""
CREATE OR REPLACE VIEW {name} AS
WITH v AS (
  SELECT *, list_sort(list_distinct(list_append(target_ids, interaction_id))) AS _targets
  FROM {versions}
), live AS (
  SELECT * FROM v WHERE id NOT IN (
    SELECT supersedes FROM v WHERE supersedes IS NOT NULL AND supersedes <> id)
)
SELECT * EXCLUDE (_targets) FROM live
QUALIFY "type" = 'text' OR user_id IS NULL
     OR row_number() OVER (PARTITION BY _targets, "type", user_id
                           ORDER BY "timestamp" DESC, {order} DESC) = 1
"""


_PAYLOAD: Final = (
    '{"value": "VARCHAR", "rating": "VARCHAR", "min_rating": "VARCHAR", '
    '"max_rating": "VARCHAR", "comment": "VARCHAR", "sentiment": "VARCHAR", '
    '"dimensions": "JSON", "weights": "JSON", "overall_comment": "VARCHAR", '
    '"preferred_response_id": "VARCHAR", "compared_response_ids": "JSON", '
    '"reason": "VARCHAR", "confidence_level": "VARCHAR", "outcome": "VARCHAR", '
    '"correction": "VARCHAR"}'
)


def flattened_sql(rows: str) -> str:
    """The documented feedback columns of ``rows`` (a query over ``feedback_rows``).

    The payload is parsed once (json_transform); a value of the wrong type reads as NULL,
    never drops the row.
    """
    return f"""
SELECT seq, id, interaction_id, "type", "timestamp", user_id, session_id, source, target_ids,
       supersedes, data,
       d.value AS value,
       TRY_CAST(d.rating AS DOUBLE) AS rating,
       CASE WHEN d.min_rating IS NOT NULL THEN TRY_CAST(d.min_rating AS DOUBLE)
            WHEN "type" <> 'rating' THEN NULL
            WHEN (data->'$.min_rating') IS NULL THEN 1.0 END AS min_rating,
       TRY_CAST(d.max_rating AS DOUBLE) AS max_rating,
       d.comment AS comment, d.sentiment AS sentiment, d.correction AS correction,
       d.dimensions AS dimensions, d.weights AS weights,
       d.overall_comment AS overall_comment,
       d.preferred_response_id AS preferred_response_id,
       TRY_CAST(d.compared_response_ids AS VARCHAR[]) AS compared_response_ids,
       d.reason AS reason,
       TRY_CAST(d.confidence_level AS DOUBLE) AS confidence_level,
       CASE WHEN "type" = 'comparative' THEN coalesce(d.outcome, 'preferred') END AS outcome,
       metadata, trace_id, span_id
FROM (SELECT *, json_transform(data, '{_PAYLOAD}') AS d FROM ({rows}))
"""


# Every stored version, one row per id (its first stored copy).
FEEDBACK_VERSIONS_VIEW: Final = "CREATE OR REPLACE VIEW feedback_versions AS " + flattened_sql(
    "SELECT * FROM feedback_rows WHERE seq NOT IN (SELECT seq FROM feedback_duplicates)"
)

# The feedback that counts (rlhf_otel.records.count_feedback over the whole store).
FEEDBACK_VIEW: Final = "CREATE OR REPLACE VIEW feedback AS " + flattened_sql(
    "SELECT * FROM feedback_rows WHERE seq NOT IN (SELECT seq FROM feedback_uncounted)"
)
