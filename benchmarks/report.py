"""Formatting of the benchmark results: the machine, the table, the speed and compile targets, JSON.

>>> fmt_time(17.1e-6), fmt_time(3.52e-3), fmt_time(None)
('17.1 µs', '3.52 ms', 'n/a')
>>> fmt_ratio(2.0), fmt_ratio(0.5), fmt_ratio(None)
('2.00×', '0.50×', '')
"""

import json
import os
import platform
import subprocess
import sys
from importlib import metadata

import numpy as np


def fmt_time(seconds):
    if seconds is None or not np.isfinite(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(r):
    return "" if r is None or not np.isfinite(r) else f"{r:.2f}×"


def fmt_seconds(s):
    return "—" if s is None else f"{s:.2f} s"


def spread(samples):
    """Half the range of ``samples`` relative to their median (±%), or None with < 2 samples."""
    if len(samples) < 2:
        return None
    med = float(np.median(samples))
    return 100.0 * (max(samples) - min(samples)) / (2.0 * med) if med > 0 else None


# ---- machine ----------------------------------------------------------------------------------

def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info(root):
    """CPU model, cores, load, library versions, the repository's commit."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    blas = None
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # older numpy, other builds
        pass
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        commit = (commit + (" + uncommitted changes" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    versions = {"python": platform.python_version()}
    for dist in ("symbackprop", "numpy", "numba", "llvmlite", "sympy", "torch", "jax", "jaxlib"):
        versions[dist] = _version(dist)
    return {"cpu": model, "cores": os.cpu_count(), "load_average": load_average(), "blas": blas,
            "platform": platform.platform(), "commit": commit, "versions": versions}


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def print_machine(info, out=sys.stdout):
    v = info["versions"]
    libs = ", ".join(f"{k} {v[k]}" for k in ("numpy", "numba", "llvmlite", "sympy", "torch", "jax") if v.get(k))
    print(f"machine: {info['cpu']}, {info['cores']} cores; load average {info['load_average']}; "
          f"BLAS {info['blas']}", file=out)
    print(f"python {v['python']}; symbackprop {v.get('symbackprop')} ({info['commit']}); {libs}", file=out)
    load = info["load_average"]
    if load and info["cores"] and load[0] > 0.75 * info["cores"]:
        print(f"warning: the 1-minute load ({load[0]}) is close to or above the {info['cores']} cores: other "
              "processes compete for the CPU, times are inflated and BLAS/OpenMP threads may stall "
              "(--threads 1 gives steadier ratios)", file=out)


# ---- table ------------------------------------------------------------------------------------

COLUMNS = ("implementation", "time/step", "spread", "÷ ours", "compile cold", "cached", "final loss", "Δloss")


def workload_table(title, dtype_blocks, out=sys.stdout):
    """Print one workload's table: for each dtype, one row per implementation.

    ``dtype_blocks``: [(dtype, rows)], row = dict(label, median, spread, ratio, cold, cached, loss,
    dloss, note).
    """
    lines = []
    for dtype, rows in dtype_blocks:
        for r in rows:
            if r.get("median") is None:
                cells = [r["label"], "n/a", "", "", "", "", "", ""]
            else:
                sp = "" if r.get("spread") is None else f"±{r['spread']:.0f}%"
                dl = r.get("dloss")
                cells = [r["label"], fmt_time(r["median"]), sp, fmt_ratio(r.get("ratio")),
                         r.get("cold") or "", r.get("cached") or "",
                         "" if r.get("loss") is None else f"{r['loss']:.6g}",
                         "" if dl is None else (f"{dl:.1e}" + ("" if r.get("loss_ok", True) else " CHECK"))]
            lines.append((dtype, cells, r.get("note") or ""))
    widths = [max([len(c)] + [len(cells[i]) for _, cells, _ in lines]) for i, c in enumerate(COLUMNS)]
    right = {1, 2, 3, 4, 5, 6, 7}

    def row(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print(f"\n{title}", file=out)
    print("  " + "dtype    " + row(COLUMNS), file=out)
    last = None
    for dtype, cells, note in lines:
        text = "  " + (dtype if dtype != last else "").ljust(9) + row(cells) + (f"  ({note})" if note else "")
        print(text.rstrip(), file=out)
        last = dtype


def legend(out=sys.stdout):
    print("\ntime/step: median over the timed repeats of (wall time of one fit of E epochs) / steps, after a "
          "warm-up fit\n"
          "spread: half the range of the repeats around the median; ÷ ours: this row's time / symbackprop "
          "numba's (>1: ours is faster)\n"
          "compile: fresh process, from Trainer(...) to the first step done; cold: empty SYMBACKPROP_CACHE_DIR; "
          "cached: the same directory again\n"
          "final loss: mean loss of the last epoch after all fits; Δloss: |loss − ours| / |ours| (same init, "
          "data, minibatch order)", file=out)


def markdown(results, info, targets=()):
    """The results as a Markdown table (for the README), with the machine it ran on."""
    v = info["versions"]
    lines = [f"Measured on {info['cpu']} ({info['cores']} cores), load average {info['load_average']} at the start; "
             f"{info.get('threads', '')}; python {v['python']}, "
             + ", ".join(f"{k} {v[k]}" for k in ("numpy", "numba", "torch", "jax") if v.get(k)) + ".", "",
             "| workload | dtype | implementation | time/step | spread | ÷ ours | compile cold | cached |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        for row in r["rows"]:
            if row.get("median") is None:
                cells = ["n/a", "", "", "", ""]
            else:
                sp = "" if row.get("spread") is None else f"±{row['spread']:.0f}%"
                cells = [fmt_time(row["median"]), sp, fmt_ratio(row.get("ratio")), row.get("cold") or "",
                         row.get("cached") or ""]
            lines.append(f"| {r['workload']} | {r['dtype']} | {row['label']} | " + " | ".join(cells) + " |")
    if targets:
        lines += ["", "Targets (per backend; ours: the fastest of our backends):", ""]
        lines += [f"- {'met' if met else '**missed**'} ({group}): {text}" for group, text, met in targets]
    return "\n".join(lines) + "\n"


def write_json(path, payload):
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=_jsonable)


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
