"""deploy/ and the Dockerfile: the image is `make setup` in a container, the manifests run it
(or stock TF Serving), are valid Kubernetes objects, and carry what TF_CONFIG and TF Serving need.
"""

import copy
import json
import pathlib
import re
import shlex

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from kerasnlp_lab.export.models_config import CONFIG_FILE, CONTAINER_BASE_PATH
from kerasnlp_lab.training import distribute

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MANIFESTS = ("serving.yaml", "training-job.yaml")
COMPOSE = ROOT / "serving" / "docker-compose.yml"
STOCK_TF_SERVING = "tensorflow/serving"
# The oldest and the newest Kubernetes whose schemas kubernetes-validate bundles (offline).
KUBERNETES_VERSIONS = (all_versions()[0], all_versions()[-1])


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


def logical_lines(path):
    """The lines of a Makefile or Dockerfile: continuations joined, comments and blanks dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    return [line.rstrip() for line in text.splitlines() if line.strip() and line.strip()[0] != "#"]


def makefile_variable(name):
    lines = logical_lines(ROOT / "Makefile")
    (value,) = [m.group(1) for line in lines if (m := re.fullmatch(rf"{name}\s*:?=\s*(.*)", line))]
    return value.split()


def makefile_recipe(target):
    """The commands of a Makefile rule, one a (joined) line."""
    lines = logical_lines(ROOT / "Makefile")
    (start,) = [i for i, line in enumerate(lines) if re.match(rf"{re.escape(target)}:(?!=)", line)]
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def image_tag():
    """The tag `make image` builds."""
    (command,) = makefile_recipe("image")
    match = re.fullmatch(r"docker build -t (\S+) \.", command)
    assert match, command
    return match.group(1)


def dockerfile():
    """[(INSTRUCTION, arguments)] of the Dockerfile."""
    return [tuple(line.split(None, 1)) for line in logical_lines(ROOT / "Dockerfile")]


def shell_commands(scripts):
    """Each simple command of some shell scripts as words, leading VAR=value assignments dropped."""
    commands = []
    for script in scripts:
        for command in re.split(r"&&|\|\||;", script):
            words = shlex.split(command)
            while words and re.fullmatch(r"\w+=\S*", words[0]):
                words.pop(0)
            if words:
                commands.append(words)
    return commands


def install_arguments(commands, tool):
    """The non-option arguments of each `[python -m] TOOL install ...` command."""
    found = []
    for words in commands:
        if len(words) > 2 and re.fullmatch(r"\S*python3?", words[0]) and words[1] == "-m":
            words = words[2:]
        if words[:2] == [tool, "install"]:
            found.append([word for word in words[2:] if not word.startswith("-")])
    return found


def dockerfile_user():
    """(uid, gid) of the Dockerfile's last USER, which the container runs as."""
    users = [arguments for instruction, arguments in dockerfile() if instruction == "USER"]
    assert users, "the Dockerfile sets no USER: the container would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and gid.isdigit(), "numeric, so Kubernetes' runAsNonRoot can check it"
    return int(uid), int(gid)


def test_dockerfile_installs_what_make_setup_installs():
    instructions = dockerfile()
    (base,) = [arguments for instruction, arguments in instructions if instruction == "FROM"]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim-bookworm", base)
    commands = shell_commands(
        arguments for instruction, arguments in instructions if instruction == "RUN"
    )
    # The Debian data packages: exactly the Makefile's DATA_PACKAGES, in one apt-get install.
    (packages,) = install_arguments(commands, "apt-get")
    assert packages == makefile_variable("DATA_PACKAGES")
    # The tests' browser: make setup installs BROWSER_PACKAGES with the data packages; the image,
    # which has no dev extra and runs no browser test, does not.
    browser = makefile_variable("BROWSER_PACKAGES")
    assert browser and not set(browser) & set(packages)
    (loop,) = [line for line in makefile_recipe("data-packages") if "for p in" in line]
    assert "for p in $(DATA_PACKAGES) $(BROWSER_PACKAGES); do" in loop
    (apt,) = [words for words in commands if words[:2] == ["apt-get", "install"]]
    assert {"-y", "--no-install-recommends"} <= set(apt)
    # pip: make setup's two installs (pip itself, then the project), without the dev extra.
    setup_pip = install_arguments(shell_commands(makefile_recipe("$(VENV)/.installed")), "pip")
    assert setup_pip == [["pip"], [".[dev]"]]
    image_pip = install_arguments(commands, "pip")
    assert image_pip == [["pip"], ["."]]
    assert [[re.sub(r"\[.*\]$", "", a) for a in arguments] for arguments in setup_pip] == image_pip
    # A non-root user that exists in the image, and the console script as the entry point.
    uid, gid = dockerfile_user()
    assert uid != 0 and gid != 0
    (useradd,) = [words for words in commands if words[0] == "useradd"]
    assert useradd[useradd.index("--uid") + 1] == str(uid)
    assert useradd[useradd.index("--gid") + 1] == str(gid)
    (entrypoint,) = [
        json.loads(a) for instruction, a in instructions if instruction == "ENTRYPOINT"
    ]
    assert entrypoint == ["kerasnlp-lab"]
    assert "kerasnlp-lab = kerasnlp_lab.cli:main" in (ROOT / "setup.cfg").read_text()


def test_dockerignore_leaves_out_the_venv_runs_git_exports_and_caches():
    lines = {line for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {".git", ".venv", "runs", "saved_models/*", "**/__pycache__", ".pytest_cache"} <= lines
    assert "!saved_models/README.md" in lines


def test_make_image_builds_the_tag_the_training_job_runs():
    lines = logical_lines(ROOT / "Makefile")
    (phony,) = [line for line in lines if line.startswith(".PHONY:")]
    assert "image" in phony.split()
    assert image_tag() == "kerasnlp-lab:latest"


def images(node):
    """Every `image:` value in a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                yield value
            else:
                yield from images(value)
    elif isinstance(node, list):
        for item in node:
            yield from images(item)


def test_every_image_is_ours_or_stock_tf_serving():
    assert sorted(path.name for path in DEPLOY.glob("*.y*ml")) == sorted(MANIFESTS)
    ours = image_tag()
    found = {}
    for path in [*(DEPLOY / name for name in MANIFESTS), COMPOSE]:
        with open(path) as file:
            found[path.name] = {image for doc in yaml.safe_load_all(file) for image in images(doc)}
        assert found[path.name], f"{path.name} names no image"
    for name, names in found.items():
        for image in names:
            stock = re.fullmatch(rf"{re.escape(STOCK_TF_SERVING)}([:@]\S+)?", image)
            assert image == ours or stock, f"{name}: {image} is neither {ours} nor stock TF Serving"
    assert found["training-job.yaml"] == {ours}


def test_training_job_pulls_the_local_image_and_runs_as_its_user():
    pod = manifests("training-job.yaml")["Job"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == image_tag()
    # With a :latest tag Kubernetes defaults to Always, which fails for an image never pushed.
    assert container["imagePullPolicy"] == "IfNotPresent"
    _, gid = dockerfile_user()
    assert pod["securityContext"] == {"runAsNonRoot": True, "fsGroup": gid}


def validation_errors(documents, version):
    """One line per document the strict Kubernetes schema of `version` rejects."""
    errors = []
    for document in documents:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            name = f"{document['kind']}/{document['metadata']['name']}"
            errors.append(f"{name} {where}: {error.message}")
    return errors


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", MANIFESTS)
def test_manifests_are_valid_under_the_strict_kubernetes_schemas(name, version):
    documents = list(manifests(name).values())
    assert validation_errors(documents, version) == []


def test_strict_validation_rejects_an_unknown_field_and_a_wrong_type():
    job = manifests("training-job.yaml")["Job"]
    version = KUBERNETES_VERSIONS[-1]
    misspelt = copy.deepcopy(job)
    container = misspelt["spec"]["template"]["spec"]["containers"][0]
    container["imagePulPolicy"] = container.pop("imagePullPolicy")
    kubernetes_validate.validate(misspelt, version)  # the lax schemas let the typo through
    with pytest.raises(
        kubernetes_validate.ValidationError, match="'imagePulPolicy' was unexpected"
    ):
        kubernetes_validate.validate(misspelt, version, strict=True)
    (error,) = validation_errors([misspelt], version)
    assert error.startswith("Job/kerasnlp-lab-train spec.template.spec.containers.0: ")
    wrong_type = copy.deepcopy(job)
    wrong_type["spec"]["completions"] = "2"
    (error,) = validation_errors([wrong_type], version)
    assert error.startswith("Job/kerasnlp-lab-train spec.completions: '2' is not of type 'integer'")
