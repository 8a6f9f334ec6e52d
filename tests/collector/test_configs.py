"""The collector configs in collector-config/: contrib YAML wired right, rotel profiles sane."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rlhf_otel import attributes as A
from rlhf_otel.recording import INTERACTION_OPERATIONS
from tests.servers.rotel import ROTEL_DIR, RUN_ROTEL

CONFIG_DIR = ROTEL_DIR.parent
CONTRIB = sorted(CONFIG_DIR.glob("otelcol-*.yaml"))
# Component types of the contrib distribution these configs may use, by section.
KNOWN = {
    "receivers": {"otlp"},
    "processors": {"batch", "memory_limiter", "filter"},
    "exporters": {"otlp", "otlphttp", "debug"},
    "connectors": {"routing"},
    "extensions": {"file_storage", "health_check"},
}
ENV_REF = re.compile(r"\$\{env:([A-Z0-9_]+)(?::-[^}]*)?\}")


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def _header(path: Path) -> str:
    lines = path.read_text().splitlines()
    return "\n".join(
        line for line in lines[: next(i for i, ln in enumerate(lines) if not ln.startswith("#"))]
    )


def test_there_are_three_contrib_configs() -> None:
    """Routing, persistent forwarding and fan-out ship as contrib configs."""
    assert [p.name for p in CONTRIB] == [
        "otelcol-feedback-fanout.yaml",
        "otelcol-feedback-routing.yaml",
        "otelcol-forward-persistent.yaml",
    ]


@pytest.mark.parametrize("path", CONTRIB, ids=lambda p: p.name)
def test_contrib_components_are_defined_and_wired(path: Path) -> None:
    """Every component a pipeline names is defined, of a known type, and every one is used."""
    doc = _load(path)
    assert set(doc) <= {*KNOWN, "service"}
    pipelines: dict[str, Any] = doc["service"]["pipelines"]
    defined = {section: set(doc.get(section) or {}) for section in KNOWN}
    for section, names in defined.items():
        for name in names:
            assert name.split("/", 1)[0] in KNOWN[section], f"{section}.{name}"
    used: dict[str, set[str]] = {s: set() for s in KNOWN}
    connector_in: set[str] = set()
    connector_out: set[str] = set()
    for name, pipe in pipelines.items():
        assert name.split("/", 1)[0] == "traces"
        for r in pipe["receivers"]:
            assert r in defined["receivers"] | defined["connectors"], f"{name}: {r}"
            (connector_out if r in defined["connectors"] else used["receivers"]).add(r)
        for p in pipe.get("processors", []):
            assert p in defined["processors"], f"{name}: {p}"
            used["processors"].add(p)
        for e in pipe["exporters"]:
            assert e in defined["exporters"] | defined["connectors"], f"{name}: {e}"
            (connector_in if e in defined["connectors"] else used["exporters"]).add(e)
    assert used["receivers"] == defined["receivers"]
    assert used["processors"] == defined["processors"]
    assert used["exporters"] == defined["exporters"]
    assert connector_in == connector_out == defined["connectors"]
    assert set(doc["service"].get("extensions", [])) == defined["extensions"]
    for exporter in (doc.get("exporters") or {}).values():
        storage = ((exporter or {}).get("sending_queue") or {}).get("storage")
        if storage is not None:
            assert storage in doc["service"]["extensions"]


@pytest.mark.parametrize("path", CONTRIB, ids=lambda p: p.name)
def test_routing_tables_name_pipelines_fed_by_the_connector(path: Path) -> None:
    """A routing connector only routes to pipelines that take it as their receiver."""
    doc = _load(path)
    pipelines = doc["service"]["pipelines"]
    for name, connector in (doc.get("connectors") or {}).items():
        fed = {p for p, pipe in pipelines.items() if name in pipe["receivers"]}
        targets = set(connector.get("default_pipelines", []))
        for row in connector["table"]:
            assert row["context"] == "span"
            targets |= set(row["pipelines"])
        assert targets == fed


def _conditions(doc: dict[str, Any]) -> list[str]:
    out = [row["condition"] for c in (doc.get("connectors") or {}).values() for row in c["table"]]
    for proc in (doc.get("processors") or {}).values():
        out += ((proc or {}).get("traces") or {}).get("span", [])
    return out


@pytest.mark.parametrize("path", CONTRIB, ids=lambda p: p.name)
def test_conditions_use_the_sdk_attribute_names(path: Path) -> None:
    """Routing and filter conditions test rlhf.record.kind and the SDK's interaction operations."""
    for condition in _conditions(_load(path)):
        names = set(re.findall(r'attributes\["([^"]+)"\]', condition))
        assert names == {A.RLHF_RECORD_KIND, A.GEN_AI_OPERATION_NAME}
        assert set(re.findall(r'== "([^"]+)"', condition)) == INTERACTION_OPERATIONS


@pytest.mark.parametrize("path", CONTRIB, ids=lambda p: p.name)
def test_contrib_header_documents_purpose_and_every_env_var(path: Path) -> None:
    """Each file starts with a comment saying what it is for and every variable it reads."""
    header = _header(path)
    assert "Purpose:" in header
    assert "Environment variables:" in header
    assert "Run:" in header
    for var in set(ENV_REF.findall(path.read_text())):
        assert var in header, var


@pytest.mark.parametrize("profile", ["forward", "rlhf-only", "ordinary-only"])
def test_rotel_profile_header_lists_its_variables(profile: str) -> None:
    """Each rotel profile documents the variables it lets the environment override."""
    text = (ROTEL_DIR / f"{profile}.env").read_text()
    header = _header(ROTEL_DIR / f"{profile}.env")
    assert f"run-rotel.sh {profile}" in header
    for var in set(re.findall(r"\$\{([A-Z0-9_]+):-", text)):
        assert var in header, var


def test_run_rotel_refuses_an_unknown_profile() -> None:
    """The launcher names the profile it could not find and exits 2."""
    result = subprocess.run(
        ["bash", str(RUN_ROTEL), "nope"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "no profile" in result.stderr
