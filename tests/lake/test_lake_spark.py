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
from rlhf_otel.records._stats import FeedbackStats
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
    fb = _feedback(spark, root).cache()
    out: dict[str, Any] = {"total_interactions": its.count(), "total_feedback": fb.count()}
    out["by_type"] = {r["type"]: r["count"] for r in fb.groupBy("type").count().collect()}
    targets = fb.select(
        F.explode(F.array_union(F.array("interaction_id"), F.col("target_ids"))).alias("id")
    ).distinct()
    rated = its.join(targets, "id").count()
    out["interactions_with_feedback"] = rated
    out["feedback_rate"] = rated / out["total_interactions"]
    thumbs = fb.where("type = 'binary'").groupBy("value").count().collect()
    out["thumbs"] = {r["value"]: r["count"] for r in thumbs}
    ratings = fb.where("type = 'rating'").withColumn(
        "norm",
        F.when(
            F.col("max_rating") > F.coalesce("min_rating", F.lit(1.0)),
            (F.col("rating") - F.coalesce("min_rating", F.lit(1.0)))
            / (F.col("max_rating") - F.coalesce("min_rating", F.lit(1.0))),
        ).otherwise(F.lit(1.0)),
    )
    r = ratings.agg(
        F.count("*").alias("count"),
        F.avg("rating").alias("average"),
        F.percentile("rating", 0.5).alias("median"),
        F.avg("norm").alias("average_normalized"),
        F.percentile("norm", 0.5).alias("median_normalized"),
    ).first()
    assert r is not None
    out["rating"] = r.asDict()
    out["distribution"] = {
        row["rating"]: row["count"] for row in ratings.groupBy("rating").count().collect()
    }
    texts = fb.where("type = 'text'")
    t = texts.agg(F.count("*").alias("n"), F.avg(F.char_length("comment")).alias("len")).first()
    assert t is not None
    out["text"] = (t["n"], t["len"])
    sentiments = texts.groupBy(F.coalesce("sentiment", F.lit("unspecified")).alias("s")).count()
    out["sentiments"] = {row["s"]: row["count"] for row in sentiments.collect()}
    dims = fb.where("type = 'multi_dimensional'").select(
        "id", "weights", F.explode("dimensions").alias("name", "value")
    )
    dims = dims.withColumn(
        "w",
        F.when(F.col("weights").isNull() | (F.size("weights") == 0), F.lit(1.0)).otherwise(
            F.coalesce(F.element_at("weights", F.col("name")), F.lit(1.0))
        ),
    )
    per_dim = dims.groupBy("name").agg(
        F.avg("value").alias("avg"), (F.sum(F.col("w") * F.col("value")) / F.sum("w")).alias("wavg")
    )
    out["dimension_averages"] = {row["name"]: row["avg"] for row in per_dim.collect()}
    out["weighted_dimension_averages"] = {row["name"]: row["wavg"] for row in per_dim.collect()}
    scores = dims.groupBy("id").agg((F.sum(F.col("w") * F.col("value")) / F.sum("w")).alias("s"))
    out["average_weighted_score"] = scores.agg(F.avg("s")).first()[0]  # type: ignore[index]
    comp = fb.where("type = 'comparative'").agg(F.count("*"), F.avg("confidence_level")).first()
    assert comp is not None
    out["comparative"] = (comp[0], comp[1])
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
    assert got["thumbs"] == {"thumbs_up": s.binary.thumbs_up, "thumbs_down": s.binary.thumbs_down}
    rating = got["rating"]
    assert rating["count"] == s.rating.count
    assert rating["average"] == pytest.approx(s.rating.average, rel=1e-12)
    assert rating["median"] == s.rating.median
    assert rating["average_normalized"] == pytest.approx(s.rating.average_normalized, rel=1e-12)
    assert rating["median_normalized"] == s.rating.median_normalized
    assert got["distribution"] == {k: v for k, v in s.rating.distribution.items() if v}
    assert got["text"] == (s.text.count, pytest.approx(s.text.average_length, rel=1e-12))
    assert got["sentiments"] == {k: v for k, v in s.text.sentiment_distribution.items() if v}
    md = s.multi_dimensional
    assert md is not None
    assert got["dimension_averages"] == pytest.approx(dict(md.dimension_averages), rel=1e-12)
    assert got["weighted_dimension_averages"] == pytest.approx(
        dict(md.weighted_dimension_averages), rel=1e-12
    )
    assert got["average_weighted_score"] == pytest.approx(md.average_weighted_score, rel=1e-12)
    assert s.comparative is not None
    assert got["comparative"] == (
        s.comparative.count, pytest.approx(s.comparative.average_confidence, rel=1e-12),
    )  # fmt: skip


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
