"""docker-compose.yml checked statically (no Docker engine here): Redis persists, API and
worker are built from the repo's Dockerfile and share the Redis, Flower is optional."""

from __future__ import annotations

import yaml

from tests.support import ROOT


def test_compose_runs_redis_with_appendonly_api_and_worker():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"redis", "api", "worker"} <= set(services)
    redis = services["redis"]
    assert (
        "--appendonly" in redis["command"]
        and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    )
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "redis-data" in compose["volumes"]
    for name in ("api", "worker"):
        svc = services[name]
        assert svc["build"] == "."
        # .env's own SYNDICATE_REDIS_URL wins (compose interpolates from .env), else the bundled one
        assert (
            svc["environment"]["SYNDICATE_REDIS_URL"]
            == "${SYNDICATE_REDIS_URL:-redis://redis:6379/0}"
        )
        assert "redis" in svc["depends_on"]
    assert services["api"]["command"][:2] == ["syndicate", "api"]
    assert services["worker"]["command"][:2] == ["syndicate", "worker"]
    assert "ports" not in services["worker"]  # scalable with --scale worker=N
    assert services["flower"]["profiles"] == ["flower"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "syndicate" in dockerfile


def _filled(value, env: dict[str, str]):
    """The file with `${VAR...}` interpolations filled in, as `docker compose config` would."""
    import re

    if isinstance(value, dict):
        return {k: _filled(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, env) for v in value]
    if isinstance(value, str):
        return re.sub(
            r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}", lambda m: env.get(m.group(1), "x"), value
        )
    return value


def test_compose_validates_against_the_compose_specification():
    import json

    from jsonschema import Draft7Validator

    schema = json.loads((ROOT / "tests" / "schemas" / "compose-spec.json").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for doc in (compose, _filled(compose, {"SYNDICATE_MAX_HEADER_BYTES": "16384"})):
        errors = sorted(Draft7Validator(schema).iter_errors(doc), key=str)
        assert not errors, [e.message for e in errors]


def test_compose_keeps_flower_and_the_operator_surface_behind_credentials():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    flower = compose["services"]["flower"]
    assert any("--basic-auth=${FLOWER_BASIC_AUTH:?" in part for part in flower["command"])
    assert all(port.startswith("127.0.0.1:") for port in flower["ports"])
    env = compose["services"]["api"]["environment"]
    assert env["SYNDICATE_ADMIN_TOKEN"].startswith("${SYNDICATE_ADMIN_TOKEN:?")
    for limit in (
        "SYNDICATE_MAX_HEADER_BYTES",
        "SYNDICATE_HEADER_TIMEOUT",
        "SYNDICATE_IDLE_TIMEOUT",
        "SYNDICATE_MAX_CONNECTIONS",
    ):
        assert limit in env


def test_the_deploy_kit_reads_env_binds_loopback_checks_workers_and_pins_dependencies():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("api", "worker"):
        # the short form every Compose accepts (the long form needs Compose 2.24+)
        assert services[name]["env_file"] == ".env"
        assert "healthcheck" in services[name]
    assert services["worker"]["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "worker.healthcheck",
    ]
    assert services["api"]["ports"] == ["127.0.0.1:8000:8000"]
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    steps = [line.split()[0] for line in dockerfile if line and not line.startswith((" ", "#"))]
    lock = next(
        i for i, line in enumerate(dockerfile) if "requirements.lock" in line and "RUN" in line
    )
    first_source = next(i for i, line in enumerate(dockerfile) if line.startswith("COPY feeds"))
    assert lock < first_source  # dependencies are a layer of their own, before the source
    assert "USER" in steps and "HEALTHCHECK" in steps
    pins = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith(("#", " "))
    ]
    assert pins and all("==" in line for line in pins)
    assert any(line.startswith("celery==") for line in pins)
    assert (ROOT / "deploy" / "Caddyfile").exists()


def test_compose_scales_workers_and_serves_the_static_export_through_nginx():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    worker = services["worker"]
    # --scale worker=N: nothing in a worker is per-container (no name, port or own volume).
    assert not {"container_name", "ports", "hostname"} & set(worker)
    nginx = services["nginx"]
    assert nginx["profiles"] == ["static"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]
    assert "feeds-export:/srv/syndicate-export:ro" in nginx["volumes"]
    assert "feeds-export:/export" in worker["volumes"] and "feeds-export" in compose["volumes"]
    # on by default, so --profile static needs nothing else (empty in .env turns it off)
    assert worker["environment"]["SYNDICATE_EXPORT_DIR"] == "${SYNDICATE_EXPORT_DIR-/export}"
    assert all(port.startswith("127.0.0.1:") for port in nginx["ports"])
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for directive in (
        "gzip_static on;",
        "etag on;",
        "root /srv/syndicate-export;",
        "proxy_pass http://api:8000;",
        "listen 8080;",
    ):
        assert directive in conf, directive
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "chown syndicate /app/var /export" in dockerfile


def test_compose_uses_no_syntax_newer_than_every_compose_v2_reads():
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    for name, svc in compose["services"].items():
        env_file = svc.get("env_file")
        # `path:`/`required:` entries need Compose 2.24+; a string or a list of strings does not
        assert (
            env_file is None
            or isinstance(env_file, str)
            or all(isinstance(item, str) for item in env_file)
        ), name
        assert "develop" not in svc and "include" not in compose, name


def test_compose_serves_tls_through_caddy_with_the_repositorys_caddyfile():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    caddy = compose["services"]["caddy"]
    assert caddy["image"].startswith("caddy:2")
    assert caddy["profiles"] == ["tls"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in caddy["volumes"]
    assert "caddy-data:/data" in caddy["volumes"] and "caddy-data" in compose["volumes"]
    assert {"80:80", "443:443"} <= set(caddy["ports"])  # the public door; the API stays loopback
    assert caddy["environment"]["SYNDICATE_DOMAIN"].startswith("${SYNDICATE_DOMAIN:?")
    assert caddy["environment"]["SYNDICATE_UPSTREAM"] == "${SYNDICATE_UPSTREAM:-api:8000}"
    assert "api" in caddy["depends_on"]
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "{$SYNDICATE_DOMAIN:feeds.example.org} {" in caddyfile
    assert caddyfile.count("reverse_proxy {$SYNDICATE_UPSTREAM:127.0.0.1:8000}") == 2
    public = next(line for line in caddyfile.splitlines() if "@public path" in line).split()[2:]
    assert "/events" in public and "/events/*" not in public and "/metrics" not in public
    assert not any(path in ("/", "/*", "/status/*", "/articles/*") for path in public)


def test_init_redirected_to_a_file_makes_it_owner_only_before_writing_secrets(tmp_path):
    import os
    import stat
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        ["bash", "-c", f"umask 022; {sys.executable} -m cli init > .env"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    text = env_file.read_text()
    assert "SYNDICATE_WEBHOOK_SECRET=whsec_" in text and "SYNDICATE_ADMIN_TOKEN=" in text
    piped = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m cli init | grep -c ADMIN_TOKEN="],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.stdout.strip() == "1" and not (tmp_path / "-").exists()
