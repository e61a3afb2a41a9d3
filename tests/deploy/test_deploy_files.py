"""Dockerfile, docker-compose, systemd and Kubernetes files, checked statically: they parse,
name the processes and ports the code uses, and set only environment variables that a
settings class reads."""

from __future__ import annotations

import configparser
import importlib
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from edge.config import load_site_config
from enforcement.flows.settings import FlowSettings
from enforcement.settings import Settings
from stream.settings import StreamSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def k8s() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def case_env_names() -> set[str]:
    """ZES_CASES_* names from CaseSettings, or the agreed three while it does not exist."""
    try:
        module = importlib.import_module("enforcement.casework.settings")
    except ModuleNotFoundError:
        return {"ZES_CASES_DATABASE_URL", "ZES_CASES_EVIDENCE_KEY", "ZES_CASES_SESSION_SECRET"}
    names = env_names(module.CaseSettings)
    assert {"ZES_CASES_DATABASE_URL", "ZES_CASES_EVIDENCE_KEY", "ZES_CASES_SESSION_SECRET"} <= names
    return names


def assert_known(names: set[str], where: str) -> None:
    known = (
        env_names(Settings) | env_names(StreamSettings) | case_env_names() | env_names(FlowSettings)
    )
    unknown = {n for n in names if n.startswith("ZES_")} - known
    assert not unknown, f"{where}: no settings class reads {sorted(unknown)}"


def test_dockerfile_builds_one_image_for_every_role() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 1
    for package in ("zes", "enforcement", "edge", "stream"):
        assert f"COPY {package} ./{package}" in text
    assert "\nUSER zes\n" in text and 'ENTRYPOINT ["zes"]' in text
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "var"} <= set(ignored)


def test_compose_runs_every_part() -> None:
    services = compose()["services"]
    assert {"kafka", "redis", "postgres", "prometheus", "grafana", "stream-worker", "intake",
            "review"} <= set(services)  # fmt: skip
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "KAFKA_ZOOKEEPER_CONNECT" not in kafka
    assert services["stream-worker"]["command"][:2] == ["stream", "worker"]
    assert services["intake"]["command"] == ["enforce", "intake"]
    assert services["review"]["command"] == ["enforce", "serve"]
    for name in ("stream-worker", "intake", "review", "migrate"):
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
        assert (DEPLOY / services[name]["build"]["context"] / "Dockerfile").is_file()


def test_compose_environment_is_read_by_the_settings() -> None:
    for name, service in compose()["services"].items():
        env = service.get("environment") or {}
        if any(str(k).startswith("ZES_") for k in env):
            assert_known(set(env), f"compose service {name}")
    worker = compose()["services"]["stream-worker"]["environment"]
    assert worker["ZES_STREAM_BROKER"] == "kafka://kafka:9092"
    assert worker["ZES_REDIS_URL"].startswith("redis://redis:")


def test_compose_workers_fit_the_partitions_and_prometheus_finds_them() -> None:
    services = compose()["services"]
    script = services["kafka-topics"]["command"][0]
    partitions = int(script.split("passages:", 1)[1].split()[0].split(":")[0])
    worker = services["stream-worker"]
    assert 1 <= worker["deploy"]["replicas"] <= partitions
    assert int(worker["environment"]["ZES_STREAM_PARTITIONS"]) == partitions
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-compose.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    stream_sd = jobs["zes-stream"]["dns_sd_configs"][0]
    assert stream_sd["names"] == ["stream-worker"]
    assert stream_sd["port"] == int(worker["environment"]["ZES_STREAM_METRICS_PORT"])
    intake_port = services["intake"]["environment"]["ZES_CASES_INTAKE_METRICS_PORT"]
    assert jobs["zes-intake"]["static_configs"][0]["targets"] == [f"intake:{intake_port}"]
    review_port = services["review"]["environment"]["ZES_CASES_REVIEW_METRICS_PORT"]
    assert jobs["zes-review"]["static_configs"][0]["targets"] == [f"review:{review_port}"]


def test_compose_mounts_the_generated_grafana_files() -> None:
    services = compose()["services"]
    mounts = services["grafana"]["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert "./grafana/dashboards:/var/lib/grafana/dashboards/zes:ro" in mounts
    for mount in services["prometheus"]["volumes"]:
        source = mount.split(":", 1)[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), mount
    for service in services.values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{port} would listen on every address"


def test_edge_unit_is_hardened_and_writes_only_the_spool() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read(DEPLOY / "systemd" / "zes-edge.service", encoding="utf-8")
    service = unit["Service"]
    assert service["User"] == "zes-edge" and service["User"] != "root"
    assert service["ProtectSystem"] == "strict"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectHome"] == "yes"
    assert service["CapabilityBoundingSet"] == ""
    writable = service["ReadWritePaths"].split()
    assert writable == ["/var/lib/zes-edge"]
    assert "edge run --config /etc/zes/site.yaml" in service["ExecStart"]
    sysusers = (DEPLOY / "systemd" / "zes-edge.sysusers.conf").read_text(encoding="utf-8")
    assert "u zes-edge " in sysusers

    site = load_site_config(DEPLOY / "systemd" / "site.example.yaml")
    assert site.spool.path.parent == Path(writable[0])
    assert site.metrics.host == "127.0.0.1"


def deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s() if d["kind"] == "Deployment"}


def test_k8s_workers_fit_the_partitions() -> None:
    (config,) = [d for d in k8s() if d["kind"] == "ConfigMap"]
    partitions = int(config["data"]["ZES_STREAM_PARTITIONS"])
    assert 1 <= deployments()["stream-worker"]["spec"]["replicas"] <= partitions
    assert_known(set(config["data"]), "k8s ConfigMap")


def test_k8s_deployments_probe_their_health_endpoints() -> None:
    found = deployments()
    assert set(found) == {"stream-worker", "intake", "review", "flows-sink"}
    commands = {"stream-worker": ["stream", "worker"], "intake": ["enforce", "intake"],
                "review": ["enforce", "serve"], "flows-sink": ["flows", "sink"]}  # fmt: skip
    for name, deployment in found.items():
        assert deployment["metadata"]["namespace"] == "zes"
        template = deployment["spec"]["template"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= (
            template["metadata"]["labels"].items()
        )
        (container,) = template["spec"]["containers"]
        assert container["args"][:2] == commands[name]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert_known(set(env), f"k8s {name}")
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert int(template["metadata"]["annotations"]["prometheus.io/port"]) == ports["metrics"]
        for probe in ("readinessProbe", "livenessProbe"):
            spec = container[probe]
            if "httpGet" in spec:
                # A probe comes from the node: the endpoint must listen beyond loopback.
                assert spec["httpGet"]["port"] in ports
                assert "0.0.0.0" in env.values()
            else:
                assert str(ports["metrics"]) in " ".join(spec["exec"]["command"])
    (worker,) = found["stream-worker"]["spec"]["template"]["spec"]["containers"]
    worker_env = {e["name"]: e.get("value") for e in worker["env"]}
    assert worker_env["ZES_STREAM_METRICS_PORT"] == "9102"


# -- metrics: every scrape target is an address its process listens on -----------------------
#: Per compose service: the settings naming its metrics address and port.
METRICS_SETTINGS = {
    "stream-worker": ("ZES_STREAM_METRICS_HOST", "ZES_STREAM_METRICS_PORT"),
    "intake": ("ZES_CASES_METRICS_HOST", "ZES_CASES_INTAKE_METRICS_PORT"),
    "review": ("ZES_CASES_METRICS_HOST", "ZES_CASES_REVIEW_METRICS_PORT"),
    "flows-sink": ("ZES_FLOWS_METRICS_HOST", "ZES_FLOWS_METRICS_PORT"),
}


def _defaults() -> dict[str, str]:
    """Every ZES_* setting's default, as the process would read it with nothing set."""
    from enforcement.casework.settings import CaseSettings

    values: dict[str, str] = {}
    for settings in (Settings, StreamSettings, CaseSettings, FlowSettings):
        prefix = settings.model_config.get("env_prefix", "")
        for name, field in settings.model_fields.items():
            values[f"{prefix}{name}".upper()] = str(field.default)
    return values


def listens_on(env: dict[str, Any], host_setting: str, port_setting: str) -> tuple[str, int]:
    values = {**_defaults(), **{k: str(v) for k, v in env.items()}}
    return values[host_setting], int(values[port_setting])


def test_every_compose_scrape_target_is_an_address_its_service_listens_on() -> None:
    """Prometheus scrapes from its own container: a process whose metrics listen on
    127.0.0.1 inside its container (the default) is never reached, and its Down alert
    fires for ever (intake and review before ZES_CASES_METRICS_HOST was set)."""
    services = compose()["services"]
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-compose.yml").read_text())
    targets: list[tuple[str, int]] = []
    for job in scrape["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                name, port = target.rsplit(":", 1)
                targets.append((name, int(port)))
        for sd in job.get("dns_sd_configs", []):
            targets.extend((name, int(sd["port"])) for name in sd["names"])
    assert {name for name, _ in targets} == set(METRICS_SETTINGS)
    for name, port in targets:
        env = services[name].get("environment") or {}
        host, listening = listens_on(env, *METRICS_SETTINGS[name])
        assert listening == port, f"{name} listens on {listening}, scraped on {port}"
        assert host == "0.0.0.0", f"{name} metrics listen on {host}: unreachable from Prometheus"


def test_every_k8s_scrape_annotation_is_an_address_its_pod_listens_on() -> None:
    for name, deployment in deployments().items():
        template = deployment["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") != "true":
            continue
        (container,) = template["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container.get("env", []) if "value" in e}
        host, port = listens_on(env, *METRICS_SETTINGS[name])
        assert port == int(annotations["prometheus.io/port"]), name
        assert host == "0.0.0.0", f"k8s {name}: metrics on {host}, scraped on the pod IP"


# -- retention runs by itself -------------------------------------------------------------------
def test_the_purge_runs_hourly_in_kubernetes_systemd_and_compose() -> None:
    (cron,) = [d for d in k8s() if d["kind"] == "CronJob"]
    assert cron["metadata"]["namespace"] == "zes"
    minute, *rest = cron["spec"]["schedule"].split()
    assert minute.isdigit() and rest == ["*", "*", "*", "*"]  # hourly
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:2] == ["enforce", "purge"] and "--actor" in container["args"]
    assert {"configMapRef": {"name": "zes-config"}} in container["envFrom"]
    assert {"secretRef": {"name": "zes-secrets"}} in container["envFrom"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    def unit(name: str) -> configparser.ConfigParser:
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(DEPLOY / "systemd" / name, encoding="utf-8")
        return parser

    timer = unit("zes-purge.timer")
    assert timer["Timer"]["OnCalendar"] == "hourly" and timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == "zes-purge.service"
    assert timer["Install"]["WantedBy"] == "timers.target"
    service = unit("zes-purge.service")["Service"]
    assert service["Type"] == "oneshot" and service["User"] == "zes"
    assert "zes enforce purge --actor " in service["ExecStart"]
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    sysusers = (DEPLOY / "systemd" / "zes.sysusers.conf").read_text(encoding="utf-8")
    assert "u zes " in sysusers

    purge = compose()["services"]["purge"]
    script = purge["command"][0]
    assert "zes enforce purge" in script and "sleep 3600" in script
    assert "ZES_CASES_DATABASE_URL" in purge["environment"]


def test_compose_and_k8s_carry_every_key_the_roles_check() -> None:
    cases_env = compose()["services"]["review"]["environment"]
    for key in ("ZES_HASH_SECRET", "ZES_CASES_EVIDENCE_KEY", "ZES_CASES_SESSION_SECRET",
                "ZES_CASES_AUDIT_KEY"):  # fmt: skip
        assert str(cases_env[key]).startswith("${" + key + ":?"), key  # no default in compose
    config = (DEPLOY / "k8s" / "config.yaml").read_text(encoding="utf-8")
    assert "ZES_CASES_AUDIT_KEY" in config
