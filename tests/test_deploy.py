"""deploy/: the Kubernetes manifests parse, and carry what TF_CONFIG and TF Serving need."""

import pathlib
import re

import yaml

from kerasnlp_lab.export.models_config import CONFIG_FILE, CONTAINER_BASE_PATH
from kerasnlp_lab.training import distribute

DEPLOY = pathlib.Path(__file__).resolve().parent.parent / "deploy"


def manifests(name):
    """{kind: document} of a multi-document YAML file in deploy/."""
    with open(DEPLOY / name) as file:
        documents = [document for document in yaml.safe_load_all(file) if document]
    kinds = {document["kind"]: document for document in documents}
    assert len(kinds) == len(documents), "one document per kind"
    return kinds


def test_training_job_gives_each_worker_its_tf_config():
    kinds = manifests("training-job.yaml")
    service, job = kinds["Service"], kinds["Job"]
    assert service["spec"]["clusterIP"] == "None"  # headless: one DNS name per pod
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    workers = spec["completions"]
    assert spec["parallelism"] == workers == 2
    pod = spec["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["subdomain"] == service["metadata"]["name"]
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    (container,) = pod["spec"]["containers"]
    script = container["args"][0]
    assert re.search(
        r"exec kerasnlp-lab train \w+ .*--strategy multi_worker --workdir /runs/", script
    )
    exported = re.search(r'export TF_CONFIG="(.*?)";', script).group(1).replace('\\"', '"')
    port = service["spec"]["ports"][0]["port"]
    assert container["ports"][0]["containerPort"] == port
    for index in range(workers):
        text = exported.replace("${JOB_COMPLETION_INDEX}", str(index))
        config = distribute.read_tf_config({"TF_CONFIG": text})
        assert config["task"] == {"type": "worker", "index": index}
        assert config["cluster"]["worker"] == [
            f"{job['metadata']['name']}-{i}.{service['metadata']['name']}:{port}"
            for i in range(workers)
        ]
        assert distribute.resolve("auto", {"TF_CONFIG": text}) == "multi_worker"
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/runs"
    (volume,) = pod["spec"]["volumes"]
    claim = kinds["PersistentVolumeClaim"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every worker reads the chief's


def test_serving_runs_stock_tf_serving_over_saved_models_with_an_autoscaler():
    kinds = manifests("serving.yaml")
    deployment, service, autoscaler = (
        kinds["Deployment"],
        kinds["Service"],
        kinds["HorizontalPodAutoscaler"],
    )
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    (container,) = pod["spec"]["containers"]
    assert container["image"].startswith("tensorflow/serving:")
    assert f"--model_config_file={CONTAINER_BASE_PATH}/{CONFIG_FILE}" in container["args"]
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == CONTAINER_BASE_PATH
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"grpc": 8500, "rest": 8501}
    assert f"--port={ports['grpc']}" in container["args"]
    assert f"--rest_api_port={ports['rest']}" in container["args"]
    probe = container["readinessProbe"]["httpGet"]
    assert (probe["port"], probe["path"]) == (8501, "/v1/models/transformer_translator")
    assert service["spec"]["selector"] == labels
    assert sorted(port["targetPort"] for port in service["spec"]["ports"]) == [8500, 8501]
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert "cpu" in container["resources"]["requests"]  # utilization is relative to it
