"""deploy/k8s/ rendered by the real kustomize (``kubectl kustomize``), validated against the
Kubernetes schemas (kubernetes-validate, strict, offline) and KEDA's (cloudcoil's models
generated from KEDA's CRDs), and kept in step with the code: settings, ports, probes, drain
timeouts, partitions, consumer group and topic names.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import get_args

import kubernetes_validate
import pydantic
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject
from pydantic import SecretStr

from services.cli import build_parser
from services.sentiment.settings import SentimentSettings
from shared.config import WorkerSettings
from tests.deploy.workers import DEPLOYED, ROOT, SETTINGS, default, drain_bound_s, metrics_port, unknown_variables

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("cpu", "gpu", "dev")
#: the oldest Kubernetes the manifests support (policy/v1, autoscaling/v2, the restricted
#: Pod Security labels are all older) and the newest kubernetes-validate ships schemas for
K8S_VERSIONS = ("1.30.0", "1.37.0")


def _kubectl() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is needed to render the kustomizations (it is on the CI image at /usr/bin/kubectl)"
    return found


def render(path: Path) -> list[dict]:
    proc = subprocess.run([_kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture(scope="module")
def overlays() -> dict[str, list[dict]]:
    return {name: render(K8S / "overlays" / name) for name in OVERLAYS}


def _of(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def _by_name(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _of(docs, kind)}


def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _subcommand(deployment: dict) -> str:
    return _container(deployment)["args"][0]


def _env(docs: list[dict], deployment: dict, with_secrets: bool = True) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, env on top."""
    c = _container(deployment)
    configmaps, secrets = _by_name(docs, "ConfigMap"), _by_name(docs, "Secret")
    env: dict[str, str] = {}
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            env.update(configmaps[src["configMapRef"]["name"]]["data"])
        elif with_secrets and src["secretRef"]["name"] in secrets:
            env.update(dict.fromkeys(secrets[src["secretRef"]["name"]]["data"], "<secret>"))
    env.update({e["name"]: e.get("value", "") for e in c.get("env", [])})
    return env


def _partitions(docs: list[dict], deployment: dict) -> int:
    env = _env(docs, deployment)
    return int(env.get("REPWATCH_TOPIC_PARTITIONS", WorkerSettings.model_fields["topic_partitions"].default))


# --- the real tools ----------------------------------------------------------------------------------------------


def test_base_and_overlays_render():
    assert render(K8S / "base")
    for name in OVERLAYS:
        assert render(K8S / "overlays" / name)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_rendered_objects_pass_the_kubernetes_schemas(overlays, version):
    for name, docs in overlays.items():
        checked = 0
        for doc in docs:
            if doc["kind"] == "ScaledObject":
                continue  # not a Kubernetes kind: KEDA's schema below
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
            checked += 1
        assert checked == len(docs) - len(_of(docs, "ScaledObject"))


def test_kubernetes_validate_rejects_a_broken_deployment(overlays):
    """The validator really checks (strict: an unknown field fails, as the API server's would)."""
    dep = copy.deepcopy(_by_name(overlays["cpu"], "Deployment")["repwatch-sentiment"])
    _container(dep)["livenessProbe"]["httpGet"]["pathh"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[-1], strict=True)
    dep = copy.deepcopy(_by_name(overlays["cpu"], "Deployment")["repwatch-sentiment"])
    dep["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[-1], strict=True)


def keda_validate(doc: dict) -> ScaledObject:
    """Validate against KEDA's CRD schema (cloudcoil's generated models). The models ignore
    unknown fields, so a field the model does not carry back out is an unknown one: the
    round trip must give the document back unchanged (strict, like kubernetes-validate's)."""
    obj = ScaledObject.model_validate(doc)
    back = obj.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if back != doc:
        raise ValueError(f"fields KEDA's ScaledObject does not have: {_diff(doc, back)}")
    return obj


def _diff(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in a for d in (_diff(a[k], b[k], f"{path}.{k}") if k in b else [f"{path}.{k}"])]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def test_scaled_objects_pass_kedas_schema(overlays):
    for name, docs in overlays.items():
        (so,) = _of(docs, "ScaledObject")
        obj = keda_validate(so)
        assert obj.spec.triggers, name


@pytest.mark.parametrize(
    "breakage",
    [
        lambda s: s["spec"].update(maxReplicaCount="six"),  # wrong type
        lambda s: s["spec"].update(maxReplicas=6),  # the HPA's name, not KEDA's
        lambda s: s["spec"]["triggers"][0].update(metadata={"lagThreshold": 9420}),  # metadata values are strings
        lambda s: s["spec"]["triggers"][0].pop("type"),  # required
        lambda s: s["spec"].pop("scaleTargetRef"),  # required
        lambda s: s["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"].update(
            stabilizationWindow=300
        ),
    ],
)
def test_kedas_schema_rejects_a_broken_scaled_object(overlays, breakage):
    so = copy.deepcopy(_of(overlays["cpu"], "ScaledObject")[0])
    breakage(so)
    with pytest.raises((pydantic.ValidationError, ValueError)):
        keda_validate(so)


# --- in step with the code ---------------------------------------------------------------------------------------


def test_every_worker_runs_a_real_subcommand_once(overlays):
    subcommands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public API
    for name, docs in overlays.items():
        deployments = _of(docs, "Deployment")
        assert sorted(_subcommand(d) for d in deployments) == sorted(DEPLOYED), name
        for d in deployments:
            assert _subcommand(d) in subcommands
            assert _container(d).get("command") is None, "the image's entrypoint is repwatch"


def test_every_repwatch_variable_is_a_setting_of_the_worker_given_it(overlays):
    for name, docs in overlays.items():
        for d in _of(docs, "Deployment"):
            env = _env(docs, d)
            assert unknown_variables(_subcommand(d), set(env)) == set(), f"{name}: {d['metadata']['name']}"


def secret_settings() -> set[str]:
    """The variables of settings the code keeps as SecretStr (credentials), of every worker."""
    return {
        f"REPWATCH_{name.upper()}"
        for cls in SETTINGS.values()
        for name, field in cls.model_fields.items()
        if SecretStr in (field.annotation, *get_args(field.annotation))
    }


def test_config_and_secrets_are_separate(overlays):
    """No credential setting in a ConfigMap or a literal env value: they come from Secrets."""
    assert "REPWATCH_RECEIVER_GENERIC_SECRETS" in secret_settings()
    for name, docs in overlays.items():
        plain = {k for cm in _of(docs, "ConfigMap") for k in cm.get("data", {})}
        plain |= {e["name"] for d in _of(docs, "Deployment") for e in _container(d).get("env", [])}
        assert plain & secret_settings() == set(), name
    secrets = _of(overlays["dev"], "Secret")
    assert secrets, "the dev overlay shows where receiver credentials go"
    for s in secrets:
        assert unknown_variables("receive", set(s["data"])) == set()


def test_probes_and_ports_match_the_code(overlays):
    for name, docs in overlays.items():
        for d in _of(docs, "Deployment"):
            sub, c = _subcommand(d), _container(d)
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            assert ports["metrics"] == metrics_port(sub, _env(docs, d)), f"{name}: {sub}"
            assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
            assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
            # the liveness probe must not kill a worker the code still calls live: /healthz
            # fails after 120 s without a loop tick, the probe acts failureThreshold periods later
            assert c["livenessProbe"]["failureThreshold"] * c["livenessProbe"]["periodSeconds"] >= 30
            ann = d["spec"]["template"]["metadata"]["annotations"]
            assert int(ann["prometheus.io/port"]) == ports["metrics"] and ann["prometheus.io/path"] == "/metrics"
            if sub == "receive":
                port = int(_env(docs, d).get("REPWATCH_RECEIVER_PORT", default("receive", "receiver_port")))
                assert ports["http"] == port


def test_services_select_pods_and_target_named_ports(overlays):
    for name, docs in overlays.items():
        deployments = _of(docs, "Deployment")
        for svc in _of(docs, "Service"):
            sel = svc["spec"]["selector"]
            (target,) = [d for d in deployments if sel.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
            ports = {p["name"]: p["containerPort"] for p in _container(target)["ports"]}
            for p in svc["spec"]["ports"]:
                assert p["targetPort"] in ports, f"{name}: {svc['metadata']['name']}"
        receiver = _by_name(docs, "Service")["repwatch-receiver"]
        assert [p["targetPort"] for p in receiver["spec"]["ports"]] == ["http"]


def test_termination_grace_outlasts_the_drain(overlays):
    for name, docs in overlays.items():
        for d in _of(docs, "Deployment"):
            spec, c = d["spec"]["template"]["spec"], _container(d)
            pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            pre_stop_s = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0.0
            bound = drain_bound_s(_subcommand(d), _env(docs, d)) + pre_stop_s
            assert spec["terminationGracePeriodSeconds"] > bound, f"{name}: {d['metadata']['name']}"


def test_every_deployment_has_resources_a_pdb_and_runs_unprivileged(overlays):
    for docs in overlays.values():
        pdbs = _of(docs, "PodDisruptionBudget")
        for d in _of(docs, "Deployment"):
            labels = d["spec"]["template"]["metadata"]["labels"]
            assert [p for p in pdbs if p["spec"]["selector"]["matchLabels"].items() <= labels.items()], d
            spec, c = d["spec"]["template"]["spec"], _container(d)
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
            assert spec["securityContext"]["runAsNonRoot"] is True
            assert spec["securityContext"]["runAsUser"] == 10001  # the image's user
            sc = c["securityContext"]
            assert (
                sc["readOnlyRootFilesystem"]
                and not sc["allowPrivilegeEscalation"]
                and sc["capabilities"]["drop"] == ["ALL"]
            )
            # a read-only root needs a writable /tmp (HOME and HF_HOME point there in the image)
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/tmp" in mounts


def test_sentiment_scaling_follows_partitions_group_and_topic(overlays):
    for name, docs in overlays.items():
        (so,) = _of(docs, "ScaledObject")
        dep = _by_name(docs, "Deployment")[so["spec"]["scaleTargetRef"]["name"]]
        assert _subcommand(dep) == "sentiment"
        env = _env(docs, dep)
        settings = SentimentSettings(
            topic_prefix=env.get("REPWATCH_TOPIC_PREFIX", ""),
            sentiment_group_id=env.get("REPWATCH_SENTIMENT_GROUP_ID", default("sentiment", "sentiment_group_id")),
        )
        (trigger,) = so["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        meta = trigger["metadata"]
        # the group id gets the topic prefix too (run_consuming_worker)
        assert meta["consumerGroup"] == settings.topic_prefix + settings.sentiment_group_id
        assert meta["topic"] == settings.topics.raw
        assert meta["bootstrapServers"] == env["REPWATCH_KAFKA_BOOTSTRAP"]
        assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= _partitions(docs, dep), name
        assert int(meta["lagThreshold"]) > 0 and meta.get("allowIdleConsumers") == "false"


def test_fixed_replicas_stay_within_partitions(overlays):
    """The stateful alerting worker and the notifier are scaled by hand: never past the
    partitions of their input, and nothing autoscales them."""
    for name, docs in overlays.items():
        scaled = {so["spec"]["scaleTargetRef"]["name"] for so in _of(docs, "ScaledObject")}
        scaled |= {h["spec"]["scaleTargetRef"]["name"] for h in _of(docs, "HorizontalPodAutoscaler")}
        for d in _of(docs, "Deployment"):
            if _subcommand(d) in ("alerting", "notifier", "poll"):
                assert d["metadata"]["name"] not in scaled, name
                assert 1 <= d["spec"]["replicas"] <= _partitions(docs, d), name
        (poller,) = [d for d in _of(docs, "Deployment") if _subcommand(d) == "poll"]
        # one poller per sources file, never two at once
        assert poller["spec"]["replicas"] == 1 and poller["spec"]["strategy"]["type"] == "Recreate"


def test_gpu_overlay_puts_sentiment_on_a_gpu(overlays):
    docs = overlays["gpu"]
    dep = _by_name(docs, "Deployment")["repwatch-sentiment"]
    c, env = _container(dep), _env(docs, dep)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["image"].endswith(":cuda")
    assert env["REPWATCH_SENTIMENT_DEVICE"].startswith("cuda")
    assert dep["spec"]["template"]["spec"]["tolerations"]
    # the other workers keep the CPU image: one image, two builds
    others = {_container(d)["image"] for d in _of(docs, "Deployment") if d is not dep}
    assert others == {"repwatch:cpu"}
    cpu_threshold = int(_of(overlays["cpu"], "ScaledObject")[0]["spec"]["triggers"][0]["metadata"]["lagThreshold"])
    gpu_threshold = int(_of(docs, "ScaledObject")[0]["spec"]["triggers"][0]["metadata"]["lagThreshold"])
    assert gpu_threshold > cpu_threshold
    cpu_dep = _by_name(overlays["cpu"], "Deployment")["repwatch-sentiment"]
    # torch's threads match the CPU limit (it would start one per node core)
    cpu_limit = _container(cpu_dep)["resources"]["limits"]["cpu"]
    assert _env(overlays["cpu"], cpu_dep)["REPWATCH_SENTIMENT_CPU_THREADS"] == cpu_limit


def test_mounted_config_files_are_valid_for_the_code(overlays, tmp_path):
    from services.ingest.poll_main import bind, load_sources
    from services.notifier.routes import parse_routes
    from shared.brands import parse_brands

    for name, docs in overlays.items():
        (files,) = [cm for cm in _of(docs, "ConfigMap") if "brands.yaml" in cm.get("data", {})]
        brands = parse_brands(files["data"]["brands.yaml"])
        parse_routes(files["data"]["routes.yaml"])
        tmp = tmp_path / name
        tmp.mkdir()
        (tmp / "poll-sources.yaml").write_text(files["data"]["poll-sources.yaml"])
        assert all(bind(s, brands, {}) for s in load_sources(str(tmp / "poll-sources.yaml"))), name
        for d in _of(docs, "Deployment"):
            env = _env(docs, d)
            mount = next(m["mountPath"] for m in _container(d)["volumeMounts"] if m["name"] == "files")
            for var in ("REPWATCH_BRANDS_FILE", "REPWATCH_ROUTES_FILE", "REPWATCH_POLL_SOURCES_FILE"):
                if var in env:
                    assert Path(env[var]).parent == Path(mount) and Path(env[var]).name in files["data"], var
