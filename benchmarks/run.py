#!/usr/bin/env python
"""The benchmark harness: ``python benchmarks/run.py`` or ``symbackprop bench``.

For each workload (W1 2-16-16-1 tanh MSE, W2 64-128-64-10 and W3 784-256-256-10 ReLU
softmax-CE) and dtype, it measures in this one process, interleaved round by round so that the
machine's drift hits every implementation alike:

- time per training step of symbackprop's backends (``Trainer.fit``) and of the baselines
  (``benchmarks/baselines``: numpy and numba by hand, PyTorch eager, JAX jit + scan), all
  starting from the same params and visiting the same minibatches;
- compile time of our backends in fresh processes (``benchmarks/compile_probe.py``): cold with
  an empty ``SYMBACKPROP_CACHE_DIR``, then cached with the same directory;
- the final loss of every implementation against ours (a sanity check, not a timing);

then prints a table per workload and the speed and compile targets of each backend, met or missed.  Everything runs
sequentially (2-core machine).  ``--quick`` is the CI smoke setting.
"""

import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks import busy, report  # noqa: E402
from benchmarks.baselines import BASELINES, load as load_baseline  # noqa: E402
from benchmarks.workloads import WORKLOADS, shuffle_rng  # noqa: E402

DTYPES = ("float64", "float32")

#: timed repeats, minimum repeats, and the time after which an implementation stops repeating
FULL = dict(repeats=7, min_repeats=3, budget=8.0, probe_timeout=300)
QUICK = dict(repeats=2, min_repeats=2, budget=2.0, probe_timeout=120)

#: relative difference of final losses still called agreement, by dtype
LOSS_TOL = {"float64": 1e-4, "float32": 1e-2}


def split(text, allowed, what):
    items = [t.strip() for t in text.split(",") if t.strip()] if text else []
    if items == ["none"]:
        return []
    bad = [t for t in items if t not in allowed]
    if bad:
        raise SystemExit(f"bench: unknown {what} {', '.join(bad)}; choose from {', '.join(allowed)}")
    return items


# ---- compile probes ---------------------------------------------------------------------------

def probe(key, dtype, backend, cache_dir, timeout):
    """Run ``compile_probe`` in a fresh interpreter; its JSON result, or {"error": ...}."""
    env = dict(os.environ, SYMBACKPROP_CACHE_DIR=str(cache_dir))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    try:
        done = subprocess.run([sys.executable, "-m", "benchmarks.compile_probe", key, dtype, backend], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def compile_times(w, dtype, backends, mode, tmp, timeout, log):
    """{backend: {"cold": result, "cached": result}}, and the cache dir the probes filled."""
    cache_dir = Path(tmp) / f"{w.key}-{dtype}"
    results = {}
    for backend in backends:
        if mode == "none" or (mode == "targets" and ((w.key, dtype) != ("W1", "float64") or backend == "numpy")):
            continue
        log(f"  compile probe: {backend} cold ...")
        cold = probe(w.key, dtype, backend, cache_dir / backend, timeout)
        log(f"  compile probe: {backend} cached ...")
        cached = probe(w.key, dtype, backend, cache_dir / backend, timeout)
        results[backend] = {"cold": cold, "cached": cached}
    return results, cache_dir


def fmt_probe(result):
    if result is None:
        return "—"
    if "error" in result:
        return "error"
    return report.fmt_seconds(result["seconds"])


# ---- timing -----------------------------------------------------------------------------------

class Entry:
    """One implementation under measurement."""

    def __init__(self, key, label, make, ours=False, backend=None):
        self.key, self.label, self.make, self.ours, self.backend = key, label, make, ours, backend
        self.impl, self.error, self.note = None, None, ""
        self.samples, self.losses, self.warmup_seconds = [], [], None


def run_workload(w, dtype, args, cfg, tmp, log):
    """Measure one workload in one dtype; returns its JSON-able result."""
    from benchmarks.ours import Ours

    epochs = w.quick_epochs if args.quick else w.epochs
    steps = epochs * w.steps_per_epoch
    X, Y = w.data(dtype)
    compile_results, cache_dir = compile_times(w, dtype, args.backends, args.compile, tmp, cfg["probe_timeout"], log)

    entries = []
    previous = os.environ.get("SYMBACKPROP_CACHE_DIR")
    for backend in args.backends:
        if backend in compile_results:  # the probes' cache: this process compiles nothing more
            os.environ["SYMBACKPROP_CACHE_DIR"] = str(cache_dir / backend)
        e = Entry(f"ours:{backend}", f"symbackprop {backend}", None, ours=True, backend=backend)
        try:
            e.impl = Ours(w, dtype, backend, X, Y)
        except Exception as exc:  # a backend that cannot build this model: report, go on
            e.error = f"{type(exc).__name__}: {exc}"
        entries.append(e)
    built = [e for e in entries if e.impl is not None]
    if built:
        params0 = built[0].impl.initial_params()
        rng0 = shuffle_rng(built[0].impl.trainer)
    else:  # no backend of ours: baselines still share one init and one shuffle
        ref = w.trainer("numpy", dtype)
        params0, rng0 = ref.params, shuffle_rng(ref)

    for key in args.baselines:
        cls, why = load_baseline(key)
        variants = [(BASELINES[key][2], {})]
        if key == "numba" and w.key == "W1":
            variants.append(("numba by hand, libm tanh", {"tanh": "libm"}))
        for lab, kw in variants:
            e = Entry(key, lab, None)
            if cls is None:
                e.error = why  # the reason it is not available
            else:
                try:
                    e.impl = cls(w, dtype, params0, X, Y, copy.deepcopy(rng0), **kw)
                except Exception as exc:
                    e.error = f"{type(exc).__name__}: {exc}"
            entries.append(e)

    try:
        with busy.competitor(getattr(args, "busy", False)):  # --busy: one CPU-bound process beside every fit
            active = [e for e in entries if e.impl is not None]
            # warm-up: JIT compiles (hand numba from its cache, JAX for this epochs count), caches warm
            for e in active:
                log(f"  warm-up: {e.label} ...")
                t0 = time.perf_counter()
                try:
                    e.losses.append(e.impl.fit(epochs))
                except Exception as exc:
                    e.error = f"{type(exc).__name__}: {exc}"
                e.warmup_seconds = time.perf_counter() - t0
                if e.error is None and not getattr(e.impl, "jit", True) and e.warmup_seconds > cfg["budget"]:
                    # too slow here to repeat (nothing compiles in its first fit): that fit is the sample
                    e.samples.append(e.warmup_seconds / steps)
                    e.note = f"one fit only: it took {e.warmup_seconds:.0f} s"
            active = [e for e in active if e.error is None and not e.samples]
            log(f"  timing {len(active)} implementations, {cfg['repeats']} rounds of {epochs} epochs ({steps} steps) ...")
            for _ in range(cfg["repeats"]):
                for e in active:
                    if len(e.samples) >= cfg["min_repeats"] and sum(e.samples) * steps > cfg["budget"]:
                        e.note = f"{len(e.samples)} repeats: time budget"
                        continue
                    t0 = time.perf_counter()
                    try:
                        loss = e.impl.fit(epochs)
                    except Exception as exc:
                        e.error = f"{type(exc).__name__}: {exc}"
                        continue
                    e.samples.append((time.perf_counter() - t0) / steps)
                    e.losses.append(loss)
                active = [e for e in active if e.error is None]
    finally:
        if previous is None:
            os.environ.pop("SYMBACKPROP_CACHE_DIR", None)
        else:
            os.environ["SYMBACKPROP_CACHE_DIR"] = previous

    return summarise(w, dtype, epochs, steps, entries, compile_results)


def summarise(w, dtype, epochs, steps, entries, compile_results):
    ref = next((e for e in entries if e.ours and e.backend == "numba" and e.samples), None) or \
        next((e for e in entries if e.ours and e.samples), None)
    ref_median = float(np.median(ref.samples)) if ref else None
    rows = []
    for e in entries:
        row = {"key": e.key, "label": e.label, "ours": e.ours, "backend": e.backend, "samples": e.samples,
               "warmup_seconds": e.warmup_seconds, "losses": e.losses, "note": e.note}
        if e.error is not None or not e.samples:
            row.update(median=None, note=e.error or "no samples")
            rows.append(row)
            continue
        med = float(np.median(e.samples))
        row.update(median=med, spread=report.spread(e.samples),
                   ratio=med / ref_median if ref_median else None, loss=e.losses[-1])
        if ref is not None and ref.losses:
            k = min(len(e.losses), len(ref.losses)) - 1  # the same number of epochs trained
            theirs, ours = e.losses[k], ref.losses[k]
            row["dloss"] = abs(theirs - ours) / max(abs(ours), 1e-300)
            row["loss_ok"] = bool(np.isfinite(theirs) and row["dloss"] <= LOSS_TOL[dtype])
            if k != len(e.losses) - 1:
                row["loss"] = theirs
        if e.ours and e.backend in compile_results:
            c = compile_results[e.backend]
            row.update(cold=fmt_probe(c["cold"]), cached=fmt_probe(c["cached"]), compile=c)
        rows.append(row)
    return {"workload": w.key, "title": w.title, "dtype": dtype, "epochs_per_fit": epochs, "steps_per_fit": steps,
            "rows": rows}


# ---- targets ----------------------------------------------------------------------------------

def targets(results, busy=False):
    """The speed and compile targets these results can judge: [(group, text, met)].  Group
    "numba": the numba backend (W1 ≥ 2× JAX-scan and ≥ 20× PyTorch eager, W2/W3 within 1.1×
    of the fastest peer, compile times); "llvm": the llvm backend (within 1.1× of numba's time
    everywhere, compile times) and the fastest of our backends on W1 (≥ 2× JAX-scan); "ours":
    the fastest of our backends on W2/W3 against the fastest peer.  With ``busy`` (results of a
    ``--busy`` run) the W2/W3 limit against the fastest peer is 1.2× instead of 1.1×."""
    peer_limit = 1.2 if busy else 1.1
    out = []
    for r in results:
        rows = {row["label"]: row for row in r["rows"] if row.get("median") is not None}
        numba, llvm = rows.get("symbackprop numba"), rows.get("symbackprop llvm")
        ours = [x for x in (numba, llvm) if x is not None]
        tag = f"{r['workload']} {r['dtype']}"
        jax_ours, jax_hand = rows.get("symbackprop jax"), rows.get("JAX jit+scan")
        if jax_ours is not None and jax_hand is not None:  # the same engine: only our lowering differs
            ratio = jax_ours["median"] / jax_hand["median"]
            out.append(("jax", f"{tag}: jax backend within 1.2× of the hand-written JAX jit+scan loop: {ratio:.2f}×",
                        ratio <= 1.2))
        if jax_ours is not None and llvm is not None:
            ratio = jax_ours["median"] / llvm["median"]
            out.append(("jax", f"{tag}: jax backend / llvm backend time per step (information): {ratio:.2f}×", True))
        if llvm is not None and numba is not None:
            ratio = llvm["median"] / numba["median"]
            out.append(("llvm", f"{tag}: llvm within 1.1× of numba's time: {ratio:.2f}×", ratio <= 1.1))
        if r["workload"] == "W1":
            for label, factor in (("JAX jit+scan", 2.0), ("PyTorch eager", 20.0)):
                if label in rows and numba is not None:
                    speedup = rows[label]["median"] / numba["median"]
                    out.append(("numba", f"{tag}: numba ≥ {factor:g}× faster than {label}: {speedup:.2f}×", speedup >= factor))
            if "JAX jit+scan" in rows and ours:
                best = min(ours, key=lambda row: row["median"])
                speedup = rows["JAX jit+scan"]["median"] / best["median"]
                out.append(("llvm", f"{tag}: fastest of ours ({best['label']}) ≥ 2× faster than JAX jit+scan: "
                                 f"{speedup:.2f}×", speedup >= 2.0))
            for group, row, limits in (("numba", numba, (5.0, 0.5)), ("llvm", llvm, (1.0, 0.2))):
                comp = (row or {}).get("compile", {})
                for which, limit in zip(("cold", "cached"), limits):
                    res = comp.get(which)
                    if res and "seconds" in res:
                        out.append((group, f"{tag}: {row['label']} {which} compile < {limit:g} s: "
                                           f"{res['seconds']:.2f} s", res["seconds"] < limit))
        else:
            peers = [rows[k] for k in ("PyTorch eager", "JAX jit+scan", "numba by hand") if k in rows]
            if peers:
                best = min(peers, key=lambda row: row["median"])
                for group, row in (("numba", numba), ("ours", min(ours, key=lambda x: x["median"]) if ours else None)):
                    if row is None:
                        continue
                    ratio = row["median"] / best["median"]
                    out.append((group, f"{tag}: {row['label']} within {peer_limit:g}× of the fastest peer "
                                       f"({best['label']}, {report.fmt_time(best['median'])}): {ratio:.2f}×",
                                ratio <= peer_limit))
    return out


# ---- main -------------------------------------------------------------------------------------

def main(args):
    """Run the benchmarks described by parsed ``args`` (see ``symbackprop.cli.bench``); 0 when done."""
    from benchmarks import layers
    asked = split(args.workloads, list(WORKLOADS) + list(layers.WORKLOADS), "workload")
    layer_keys = [k for k in asked if k in layers.WORKLOADS]
    if layer_keys:  # the convolution and recurrence workloads have their own harness
        import codegen
        backends = [b for b in split(args.backends, sorted(codegen.BACKENDS), "backend") if b != "numpy"]
        peers = [b for b in split(args.baselines, list(BASELINES), "baseline") if b in ("torch", "jax")]
        with busy.competitor(args.busy):  # these harnesses time inside: the competitor runs throughout
            layers.run(layer_keys, split(args.dtypes, DTYPES, "dtype"), backends or ["llvm"], peers,
                       args.repeats or (2 if args.quick else 5), args.threads or 1,
                       log=lambda msg: print(msg, flush=True))
        if len(layer_keys) == len(asked):
            return 0
    args.workloads = ",".join(k for k in asked if k not in layers.WORKLOADS)
    args.workloads = split(args.workloads, list(WORKLOADS), "workload")
    args.dtypes = split(args.dtypes, DTYPES, "dtype")
    import codegen
    args.backends = split(args.backends, sorted(codegen.BACKENDS), "backend")
    args.baselines = split(args.baselines, list(BASELINES), "baseline")
    if args.compile is None:
        args.compile = "targets" if args.quick else "all"
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeats:
        cfg["repeats"] = args.repeats
        cfg["min_repeats"] = min(cfg["min_repeats"], args.repeats)
    out = sys.stdout

    def log(msg):
        if not args.no_progress:
            print(msg, file=sys.stderr, flush=True)

    started = time.perf_counter()
    import codegen.threads
    threads_note = (f"threads: each library's default; symbackprop's compiled kernels {codegen.threads.blas_threads()} "
                    f"BLAS thread(s) (SYMBACKPROP_BLAS_THREADS)")
    if args.threads:
        from benchmarks import threads
        threads_note = threads.limit(args.threads)
    info = report.machine_info(ROOT)
    info["threads"] = threads_note
    print("symbackprop bench" + (" (--quick)" if args.quick else ""), file=out)
    report.print_machine(info, out)
    print(threads_note, file=out)
    if args.busy:
        print("busy machine (--busy): one competing CPU-bound process runs beside every warm-up and timed fit",
              file=out)
    info["busy"] = bool(args.busy)
    unavailable = []
    for key in args.baselines:
        cls, why = load_baseline(key)
        if cls is None:
            unavailable.append(f"{BASELINES[key][2]}: n/a ({why})")
    if unavailable:
        print("skipped: " + "; ".join(unavailable), file=out)
    out.flush()

    results = []
    with tempfile.TemporaryDirectory(prefix="symbackprop-bench-") as tmp:
        for key in args.workloads:
            w = WORKLOADS[key]
            blocks = []
            for dtype in args.dtypes:
                log(f"{w.key} {dtype}:")
                res = run_workload(w, dtype, args, cfg, tmp, log)
                results.append(res)
                blocks.append((dtype, res["rows"]))
            epochs = results[-1]["epochs_per_fit"]
            report.workload_table(f"{w.title}; SGD lr {w.lr:g}; {epochs} epochs × {w.steps_per_epoch} steps per fit",
                                  blocks, out)
            out.flush()
    report.legend(out)
    checks = targets(results, busy=args.busy)
    for group, heading in (("numba", "numba backend"), ("llvm", "llvm backend"), ("jax", "jax backend"),
                           ("ours", "fastest of our backends")):
        mine = [(text, met) for g, text, met in checks if g == group]
        if mine:
            print(f"\ntargets ({heading}):", file=out)
            for text, met in mine:
                print(f"  {'met   ' if met else 'MISSED'}  {text}", file=out)
    bad = [(r["workload"], r["dtype"], row["label"]) for r in results for row in r["rows"]
           if row.get("median") is not None and row.get("loss_ok") is False]
    if bad:
        print("\nloss check: final losses disagree with ours for " +
              ", ".join(f"{w} {d} {lab}" for w, d, lab in bad), file=out)
    elapsed = time.perf_counter() - started
    info["load_average_end"] = report.load_average()
    print(f"\ntotal {elapsed:.0f} s; load average at the end {info['load_average_end']}", file=out)
    if args.json:
        report.write_json(args.json, {"machine": info, "quick": args.quick, "seconds": elapsed,
                                      "options": {k: getattr(args, k) for k in ("workloads", "dtypes", "backends",
                                                                               "baselines", "compile", "busy")},
                                      "results": results,
                                      "targets": [{"group": g, "text": t, "met": m} for g, t, m in checks]})
        print(f"wrote {args.json}", file=out)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.markdown(results, info, checks))
        print(f"wrote {args.markdown}", file=out)
    return 0


def cli(argv=None):
    import argparse
    from symbackprop.cli.bench import add_arguments
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
