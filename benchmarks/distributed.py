"""Multi-worker training on this machine: 1 process vs 2 workers on the same global batch.

Trains the Transformer translator (`--preset`, default `small`) on synthetic batches of one
shape (global batch `--batch` of `--length` tokens a side), once in one process
(`--strategy default`) and once as two MultiWorkerMirroredStrategy workers on loopback
(TF_CONFIG, free ports), and prints the chief's steps/s of each (tracing and `--warmup`
steps excluded). Also printed: the bytes all-reduced per step (every trainable variable's
gradient, float32) of each preset, and a paper estimate of the speed-up of `base` on N
machines: compute from this run's FLOP rate (6 x parameters x tokens per step, split over
N), communication as a ring all-reduce (2 (N-1)/N x the gradient bytes per worker) at
`--gbps`.

    python benchmarks/distributed.py [--preset small] [--steps 20] [--batch 64] [--gbps 10]
"""

import argparse
import json
import os
import subprocess
import sys
import time

STRATEGY_ENV = "KERASNLP_LAB_BENCH_WORKER"


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after tracing")
    parser.add_argument("--batch", type=int, default=64, help="global batch (sentences)")
    parser.add_argument("--length", type=int, default=32, help="tokens per side")
    parser.add_argument("--gbps", type=float, default=10.0, help="network for the estimate")
    return parser.parse_args()


def worker(args, strategy):
    """Trains on synthetic batches; prints {"seconds_per_step", "parameters"} as JSON."""
    from kerasnlp_lab.training import distribute

    cluster = distribute.start(strategy)  # before any TensorFlow op
    import numpy as np
    import tensorflow as tf

    from kerasnlp_lab.models import transformer

    config = transformer.get_config(args.preset)
    rng = np.random.default_rng(0)
    source = rng.integers(1, config.source_vocab_size, (args.batch, args.length), dtype="int32")
    target = rng.integers(1, config.target_vocab_size, (args.batch, args.length), dtype="int32")
    batch = ({"source": source, "target_in": target}, target)
    data = cluster.distribute(tf.data.Dataset.from_tensors(batch).repeat())
    with cluster.scope():
        model = transformer.build_model(config, config.source_vocab_size, config.target_vocab_size)
    model.fit(data, epochs=1, steps_per_epoch=1 + args.warmup, shuffle=False, verbose=0)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=args.steps, shuffle=False, verbose=0)
    seconds = (time.perf_counter() - start) / args.steps
    if cluster.is_chief:
        print(json.dumps({"seconds_per_step": seconds, "parameters": model.count_params()}))


def run(workers):
    """Seconds per step and parameters of a run with `workers` processes (chief's view)."""
    from kerasnlp_lab.training import distribute

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    if workers == 1:
        commands = [({**env, STRATEGY_ENV: "default"})]
    else:
        commands = [
            {**env, STRATEGY_ENV: "multi_worker", "TF_CONFIG": tf_config}
            for tf_config in distribute.loopback_tf_configs(workers)
        ]
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, *sys.argv[1:]],
            env=worker_env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for worker_env in commands
    ]
    outputs = [process.communicate(timeout=900)[0] for process in processes]
    for process in processes:
        if process.returncode:
            raise SystemExit(f"a worker exited {process.returncode}")
    return json.loads(outputs[0].strip().splitlines()[-1])


def gradient_bytes():
    """{preset: bytes all-reduced per step} of the Transformer presets (float32 gradients)."""
    from kerasnlp_lab.models import transformer

    sizes = {}
    for preset in ("tiny", "small", "base", "full"):
        if preset not in transformer.PRESETS:
            continue
        config = transformer.get_config(preset)
        model = transformer.build_model(config, config.source_vocab_size, config.target_vocab_size)
        sizes[preset] = 4 * sum(int(v.numpy().size) for v in model.trainable_variables)
    return sizes


def main():
    args = parse_args()
    if os.environ.get(STRATEGY_ENV):
        worker(args, os.environ[STRATEGY_ENV])
        return
    one, two = run(1), run(2)
    tokens = 2 * args.batch * args.length
    print(
        f"Transformer `{args.preset}` ({one['parameters']:,} parameters), global batch "
        f"{args.batch} x {args.length} tokens a side, {args.steps} timed steps:"
    )
    print(f"  1 process : {1 / one['seconds_per_step']:.2f} steps/s")
    print(
        f"  2 workers : {1 / two['seconds_per_step']:.2f} steps/s "
        f"({one['seconds_per_step'] / two['seconds_per_step']:.2f}x; "
        f"{1000 * (two['seconds_per_step'] - one['seconds_per_step']):+.0f} ms a step)"
    )
    sizes = gradient_bytes()
    print("All-reduced per step (float32 gradients of the trainable variables):")
    for preset, size in sizes.items():
        print(f"  {preset:5s} {size / 2**20:8.1f} MiB")
    flops_per_second = 6 * one["parameters"] * tokens / one["seconds_per_step"]
    print(
        f"This machine's training rate: {flops_per_second / 1e9:.1f} GFLOP/s "
        f"(6 x parameters x {tokens} tokens a step)."
    )
    base = "base" if "base" in sizes else max(sizes, key=sizes.get)
    base_bytes = sizes[base]
    compute = 6 * (base_bytes / 4) * tokens / flops_per_second
    bandwidth = args.gbps * 1e9 / 8
    print(
        f"Estimate, `{base}` at the same global batch on N such machines, {args.gbps:g} Gbit/s "
        f"ring all-reduce (compute {compute:.2f} s a step on one):"
    )
    for machines in (1, 2, 4, 8, 16):
        communication = 2 * (machines - 1) / machines * base_bytes / bandwidth
        step = compute / machines + communication
        print(
            f"  N={machines:2d}: {step:6.3f} s a step ({communication:.3f} s all-reduce), "
            f"speed-up {compute / step:.2f}x"
        )


if __name__ == "__main__":
    main()
