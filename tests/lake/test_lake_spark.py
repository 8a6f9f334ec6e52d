"""Spark (local mode, a real JVM) reads the Parquet lake and gets get_feedback_stats' figures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from rlhf_otel import create_rlhf_logger
from rlhf_otel.records import FeedbackStats
from rlhf_otel.stores import JsonlStore
from tests.feedback_data import generate

pyspark = pytest.importorskip("pyspark")
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    # pyspark 4.x warns once, on import of its pandas bridge, that pandas 3 is newer than it
    # has certified; these tests use no pandas conversion.
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """One local-mode session for the module, bound to loopback, stopped (JVM too) at the end."""
    saved = {k: os.environ.get(k) for k in ("SPARK_LOCAL_IP", "PYSPARK_PYTHON")}
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("rlhf-otel-lake-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.memory", "512m")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        gateway: Any = session.sparkContext._gateway
        session.stop()
        proc = getattr(gateway, "proc", None)
        gateway.shutdown()
        if proc is not None:  # the JVM this fixture started
            proc.stdin.close()
            proc.wait(timeout=30)
        from pyspark import SparkContext

        SparkContext._gateway = None
        SparkContext._jvm = None
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FeedbackStats]:
    """A JSONL store of realistic feedback, its lake, and the logger's own statistics."""
    base = tmp_path_factory.mktemp("spark")
    data = generate(seed=11, n_prompts=60)
    provider = TracerProvider()
    store = JsonlStore(base / "store", fsync="none")
    store.write(data.interactions, data.feedback)
    with create_rlhf_logger(store=store, tracer_provider=provider) as logger:
        stats = logger.get_feedback_stats()
        report = logger.export_feedback("parquet-lake", out=str(base / "lake"))
    provider.shutdown()
    assert report.rows == len(data.interactions) + len(data.feedback)  # type: ignore[union-attr]
    return base / "lake", stats


def _feedback(spark: SparkSession, root: Path) -> DataFrame:
    """The lake's feedback with the documented rule: a superseded version does not count."""
    versions = spark.read.parquet(str(root / "kind=feedback"))
    superseded = versions.where(F.col("supersedes").isNotNull()).select(
        F.col("supersedes").alias("id")
    )
    return versions.join(superseded, "id", "left_anti")


def _spark_stats(spark: SparkSession, root: Path) -> dict[str, Any]:
    """The figures of FeedbackStats, computed by Spark from the Parquet files alone."""
    its = spark.read.parquet(str(root / "kind=interaction")).select("id").distinct()
    fb = _feedback(spark, root).withColumn(
        "norm",
        F.when(
            F.col("max_rating") > F.col("min_rating"),
            (F.col("rating") - F.col("min_rating")) / (F.col("max_rating") - F.col("min_rating")),
        ).otherwise(F.lit(1.0)),
    )
    fb.cache()
    targets = fb.select(
        F.explode(F.array_union(F.array("interaction_id"), F.col("target_ids"))).alias("id")
    ).distinct()
    counted = its.join(targets.withColumn("rated", F.lit(1)), "id", "left").agg(
        F.count("*").alias("total"), F.count("rated").alias("rated")
    )
    c = counted.first()
    assert c is not None

    def of(kind: str, col: str) -> Any:
        return F.when(F.col("type") == kind, F.col(col))

    a = fb.agg(
        F.count("*").alias("total_feedback"),
        F.count(F.when(F.col("value") == "thumbs_up", 1)).alias("up"),
        F.count(F.when(F.col("value") == "thumbs_down", 1)).alias("down"),
        F.count(of("rating", "rating")).alias("r_count"),
        F.avg(of("rating", "rating")).alias("r_avg"),
        F.percentile(of("rating", "rating"), 0.5).alias("r_median"),
        F.avg(of("rating", "norm")).alias("r_avg_norm"),
        F.percentile(of("rating", "norm"), 0.5).alias("r_median_norm"),
        F.count(of("text", "id")).alias("t_count"),
        F.avg(F.char_length(of("text", "comment"))).alias("t_len"),
        F.count(of("comparative", "id")).alias("c_count"),
        F.avg(of("comparative", "confidence_level")).alias("c_conf"),
    ).first()
    assert a is not None
    out: dict[str, Any] = {
        "total_interactions": c["total"],
        "interactions_with_feedback": c["rated"],
        "feedback_rate": c["rated"] / c["total"],
        **a.asDict(),
    }
    out["by_type"] = {r["type"]: r["count"] for r in fb.groupBy("type").count().collect()}
    ratings = fb.where("type = 'rating'").groupBy("rating").count().collect()
    out["distribution"] = {r["rating"]: r["count"] for r in ratings}
    sentiments = (
        fb.where("type = 'text'")
        .groupBy(F.coalesce("sentiment", F.lit("unspecified")).alias("s"))
        .count()
        .collect()
    )
    out["sentiments"] = {r["s"]: r["count"] for r in sentiments}
    dims = fb.where("type = 'multi_dimensional'").select(
        "id", "weights", F.explode("dimensions").alias("name", "value")
    )
    dims = dims.withColumn(
        "w",
        F.when(F.col("weights").isNull() | (F.size("weights") == 0), F.lit(1.0)).otherwise(
            F.coalesce(F.element_at("weights", F.col("name")), F.lit(1.0))
        ),
    )
    wavg = F.sum(F.col("w") * F.col("value")) / F.sum("w")
    per_dim = dims.groupBy("name").agg(F.avg("value").alias("avg"), wavg.alias("wavg")).collect()
    out["dimension_averages"] = {r["name"]: r["avg"] for r in per_dim}
    out["weighted_dimension_averages"] = {r["name"]: r["wavg"] for r in per_dim}
    score = dims.groupBy("id").agg(wavg.alias("s")).agg(F.avg("s")).first()
    assert score is not None
    out["average_weighted_score"] = score[0]
    fb.unpersist()
    return out


def test_spark_reads_the_lake_and_gets_the_same_feedback_stats(
    spark: SparkSession, lake: tuple[Path, FeedbackStats]
) -> None:
    """Every figure of get_feedback_stats, recomputed by Spark from the lake, is equal."""
    root, s = lake
    got = _spark_stats(spark, root)
    assert s.total_feedback > 500
    assert set(s.by_type) == {
        "binary", "rating", "text", "multi_dimensional", "comparative",
    }  # fmt: skip
    assert got["total_interactions"] == s.total_interactions == 180
    assert got["total_feedback"] == s.total_feedback
    assert got["by_type"] == dict(s.by_type)
    assert got["interactions_with_feedback"] == s.interactions_with_feedback
    assert got["feedback_rate"] == pytest.approx(s.feedback_rate, rel=1e-12)
    assert s.binary is not None
    assert s.rating is not None
    assert s.text is not None
    assert (got["up"], got["down"]) == (s.binary.thumbs_up, s.binary.thumbs_down)
    assert got["r_count"] == s.rating.count
    assert got["r_avg"] == pytest.approx(s.rating.average, rel=1e-12)
    assert got["r_median"] == s.rating.median
    assert got["r_avg_norm"] == pytest.approx(s.rating.average_normalized, rel=1e-12)
    assert got["r_median_norm"] == s.rating.median_normalized
    assert got["distribution"] == {k: v for k, v in s.rating.distribution.items() if v}
    assert got["t_count"] == s.text.count
    assert got["t_len"] == pytest.approx(s.text.average_length, rel=1e-12)
    assert got["sentiments"] == {k: v for k, v in s.text.sentiment_distribution.items() if v}
    md = s.multi_dimensional
    assert md is not None
    assert got["dimension_averages"] == pytest.approx(dict(md.dimension_averages), rel=1e-12)
    assert got["weighted_dimension_averages"] == pytest.approx(
        dict(md.weighted_dimension_averages), rel=1e-12
    )
    assert got["average_weighted_score"] == pytest.approx(md.average_weighted_score, rel=1e-12)
    assert s.comparative is not None
    assert got["c_count"] == s.comparative.count
    assert got["c_conf"] == pytest.approx(s.comparative.average_confidence, rel=1e-12)


def test_spark_sees_the_hive_partitions(
    spark: SparkSession, lake: tuple[Path, FeedbackStats]
) -> None:
    """Spark discovers kind= and date= from the paths, with date typed as a date."""
    root, s = lake
    whole = spark.read.options(basePath=str(root), mergeSchema="true").parquet(
        str(root / "kind=interaction"), str(root / "kind=feedback")
    )
    kinds = {r["kind"]: r["count"] for r in whole.groupBy("kind").count().collect()}
    assert kinds == {"interaction": s.total_interactions, "feedback": s.total_feedback}
    assert dict(whole.dtypes)["date"] == "date"
    days = whole.where("kind = 'interaction'").select("date").distinct().count()
    assert days == 18
