"""docker-compose.yml checked statically (no Docker engine here): Redis persists, API and
worker are built from the repo's Dockerfile and share the Redis, Flower is optional."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT


def test_compose_runs_redis_with_appendonly_api_and_worker():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "api", "worker"} <= set(services)
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "redis-data" in compose["volumes"]
    for name in ("api", "worker"):
        svc = services[name]
        assert svc["build"] == "."
        assert svc["environment"]["SYNDICATE_REDIS_URL"] == "redis://redis:6379/0"
        assert "redis" in svc["depends_on"]
    assert services["api"]["command"][:2] == ["syndicate", "api"]
    assert services["worker"]["command"][:2] == ["syndicate", "worker"]
    assert "ports" not in services["worker"]  # scalable with --scale worker=N
    assert services["flower"]["profiles"] == ["flower"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "syndicate" in dockerfile
