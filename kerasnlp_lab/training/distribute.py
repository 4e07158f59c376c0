"""Where training runs: the tf.distribute strategy of `--strategy`, and which process writes.

- `default`: one process, one device (TensorFlow's default strategy);
- `mirrored`: `tf.distribute.MirroredStrategy` over this machine's devices (GPUs when
  present, else the CPU);
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy` over the cluster named by the
  standard `TF_CONFIG` environment variable, so the same command runs on plain machines,
  Kubernetes (one pod per worker) or Vertex AI;
- `auto`: `multi_worker` when `TF_CONFIG` names more than one task, else `default`.

The preset's `batch_size` is the global batch: each of the N replicas computes the
gradient of batch_size / N examples, and the all-reduced sum is that of one process on the
whole batch, so a run's result does not depend on how many workers computed it. Datasets
are sharded by data (`AutoShardPolicy.DATA`): every worker builds the same seeded stream
of global batches, and replica i keeps the i-th slice of each.

Only the chief (task `chief`, else worker 0) writes into the run folder; the other workers
run the same code (Keras may need every worker in a save) but write into a temporary
folder removed when the process ends. The run folder must be readable by every worker
(a shared volume): a resumed or restarted worker reads the chief's checkpoint there.
"""

import atexit
import dataclasses
import json
import os
import shutil
import socket
import tempfile

import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.training import checkpoints
from kerasnlp_lab.training import workdir as workdir_lib

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
TF_CONFIG = "TF_CONFIG"
# Task types MultiWorkerMirroredStrategy trains with (no parameter servers, no evaluator).
TASK_TYPES = ("chief", "worker")
TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)


def read_tf_config(environ=None):
    """The validated `TF_CONFIG` of the environment as a dict, or None when it is unset.

    Raises UserError for anything MultiWorkerMirroredStrategy cannot run: bad JSON, no
    cluster or task, a task type other than chief/worker, an index outside the cluster, an
    address that is not HOST:PORT.
    """
    text = (os.environ if environ is None else environ).get(TF_CONFIG, "").strip()
    if not text:
        return None

    def bad(problem):
        return UserError(f"{TF_CONFIG} {problem}. Expected e.g. {TF_CONFIG}='{TF_CONFIG_EXAMPLE}'.")

    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise bad(f"is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise bad(f"must be a JSON object, got {type(config).__name__}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise bad('has no "cluster" object naming the workers')
    for task_type, addresses in cluster.items():
        if task_type not in TASK_TYPES:
            raise bad(f"names a {task_type!r} task: multi_worker trains with chief and worker only")
        if not isinstance(addresses, list) or not addresses:
            raise bad(f'lists no addresses for "{task_type}"')
        for address in addresses:
            host, _, port = str(address).rpartition(":")
            if not host or not port.isdigit():
                raise bad(f"has the address {address!r} for {task_type}: expected HOST:PORT")
    if len(cluster.get("chief", [])) > 1:
        raise bad(f"names {len(cluster['chief'])} chiefs: expected at most one")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise bad('has no "task" object with "type" and "index" (which task this process is)')
    task_type, index = task["type"], task["index"]
    if task_type not in cluster:
        raise bad(f"says this task is a {task_type!r}, but its cluster has no {task_type!r}")
    if not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise bad(
            f"says this task is {task_type} {index!r}, but the cluster has "
            f"{len(cluster[task_type])} {task_type} address(es)"
        )
    return config


def loopback_tf_configs(workers):
    """One TF_CONFIG value per worker of a cluster on this machine (loopback ports free now,
    bound together so they differ): to try `--strategy multi_worker` in `workers` processes."""
    sockets = [socket.socket() for _ in range(workers)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        addresses = [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    return [
        json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
        for index in range(workers)
    ]


def task_count(tf_config):
    """How many training tasks (chief and workers) a TF_CONFIG's cluster has."""
    return sum(len(addresses) for addresses in tf_config["cluster"].values())


def resolve(name, environ=None):
    """The strategy `name` stands for: `auto` becomes `multi_worker` or `default`."""
    if name not in STRATEGIES:
        raise UserError(f"Unknown strategy {name!r}: expected one of {', '.join(STRATEGIES)}.")
    tf_config = read_tf_config(environ) if name in ("auto", "multi_worker") else None
    if name == "multi_worker" and tf_config is None:
        raise UserError(
            f"--strategy multi_worker reads the cluster from the {TF_CONFIG} environment "
            f"variable, which is not set. Set it on every worker, e.g. "
            f"{TF_CONFIG}='{TF_CONFIG_EXAMPLE}' (index 1 on the second)."
        )
    if name == "auto":
        return "multi_worker" if tf_config and task_count(tf_config) > 1 else "default"
    return name


class _KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy whose `reduce` accepts what Keras 3.15's trainer passes.

    Keras' TensorFlow trainer reduces a whole (inputs, targets) batch in one call (its
    symbolic build) and reduces each step's scalar logs with axis=0; TensorFlow's
    multi-worker `reduce` takes neither a nest nor an axis on a scalar. This reduces each
    leaf of a nest, a scalar without an axis; the values are unchanged.
    """

    def reduce(self, reduce_op, value, axis):
        def reduce_one(leaf):
            rank = self.experimental_local_results(leaf)[0].shape.rank
            return super(_KerasMultiWorkerMirroredStrategy, self).reduce(
                reduce_op, leaf, None if rank == 0 else axis
            )

        return tf.nest.map_structure(reduce_one, value)


def _make_strategy(name):
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return _KerasMultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


@dataclasses.dataclass
class Cluster:
    """This process's place in a training run.

    Attributes:
        name: the resolved strategy name (default, mirrored, multi_worker).
        strategy: the tf.distribute.Strategy models and datasets go through.
        task: (type, index) of this process in TF_CONFIG; ("worker", 0) outside a cluster.
        is_chief: whether this process writes the run folder.
    """

    name: str
    strategy: tf.distribute.Strategy
    task: tuple = ("worker", 0)
    is_chief: bool = True
    _scratch: str | None = None

    @property
    def replicas(self):
        """Replicas computing one global batch together (all workers' devices)."""
        return self.strategy.num_replicas_in_sync

    @property
    def is_multi_worker(self):
        return self.name == "multi_worker"

    def scope(self):
        """The scope to build or load models in (variables mirrored on every replica)."""
        return self.strategy.scope()

    def output_dir(self, workdir):
        """Where this process writes: `workdir` on the chief, else its temporary folder."""
        if self.is_chief:
            return workdir
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix=f"kerasnlp-lab-{self.task[0]}{self.task[1]}-")
            atexit.register(shutil.rmtree, self._scratch, ignore_errors=True)
        return self._scratch

    def resumes(self, workdir, resume):
        """Whether the run in `workdir` continues: `resume` asked, or this is a restart.

        A multi-worker run that stopped before its final model (a worker was killed, a
        pod evicted) left a mark beside its epoch checkpoints; the same command started
        again continues it from the last epoch, as Keras' BackupAndRestore would.
        """
        if resume or not (self.is_multi_worker and checkpoints.is_unfinished(workdir)):
            return resume
        print(f"Continuing the unfinished multi-worker run in {workdir} (a restart).")
        return True

    def check_batch_size(self, batch_size):
        """UserError unless the global batch splits evenly over the replicas."""
        if batch_size % self.replicas:
            raise UserError(
                f"The global batch of {batch_size} does not split evenly over "
                f"{self.replicas} replicas: use a number of workers that divides it."
            )

    def distribute(self, dataset):
        """`dataset` (of global batches) with data sharding: replica i gets slice i of each."""
        options = tf.data.Options()
        policy = tf.data.experimental.AutoShardPolicy.DATA
        options.experimental_distribute.auto_shard_policy = policy
        options.deterministic = True
        return dataset.with_options(options)

    def describe(self):
        """One line for the training log."""
        if not self.is_multi_worker:
            return f"strategy {self.name}, {self.replicas} replica(s)"
        role = "chief" if self.is_chief else "writing to a temporary folder"
        return (
            f"strategy multi_worker, {self.task[0]} {self.task[1]} ({role}), "
            f"{self.replicas} replicas in sync"
        )


_CLUSTERS = {}


def start(name="default"):
    """The Cluster of strategy `name` for this process, made once (call it first).

    MultiWorkerMirroredStrategy must exist before TensorFlow runs any op, so the command
    line makes it before anything else; later calls return the same Cluster.
    """
    resolved = resolve(name)
    if resolved not in _CLUSTERS:
        if _CLUSTERS and resolved == "multi_worker":
            raise UserError("multi_worker must be the first strategy a process starts.")
        strategy = _make_strategy(resolved)
        if resolved == "multi_worker":
            task_type = strategy.cluster_resolver.task_type
            task_id = strategy.cluster_resolver.task_id
            has_chief = "chief" in read_tf_config()["cluster"]
            chief = task_type == "chief" or (not has_chief and task_id == 0)
            _CLUSTERS[resolved] = Cluster(resolved, strategy, (task_type, task_id), chief)
        else:
            _CLUSTERS[resolved] = Cluster(resolved, strategy)
    return _CLUSTERS[resolved]


def start_run(strategy, workdir, resume, overwrite=False, **run_options):
    """A training run under `strategy`: (cluster, output folder, resume, run settings).

    Starts the strategy, decides whether this process continues the run (`--resume` or a
    restart, which `overwrite` does not change), resolves the run's (preset, dataset, config,
    seed) with `workdir.resolve_run(workdir, **run_options)` and checks that its batch splits
    over the replicas. The output folder is `workdir` on the chief, a temporary folder elsewhere.

    A new run refuses a `workdir` that holds a run (`workdir.check_no_run`) unless `overwrite`:
    then the chief deletes that run (`workdir.delete_run`), once the settings are checked. Every
    worker checks, so a cluster refuses as one; no worker can write trained weights before all
    of them have checked (the first epoch needs them all).
    """
    cluster = start(strategy)
    resume = cluster.resumes(workdir, resume)
    if not (resume or overwrite):
        workdir_lib.check_no_run(workdir)
    run = workdir_lib.resolve_run(workdir, resume=resume, **run_options)
    cluster.check_batch_size(run[2].batch_size)
    if overwrite and not resume and cluster.is_chief:
        workdir_lib.delete_run(workdir, run_options["model"].MODEL_NAME)
    return cluster, cluster.output_dir(workdir), resume, run
