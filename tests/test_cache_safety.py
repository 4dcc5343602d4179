"""The kernel caches never run what they have not verified.

Faults are injected into numba's cache files and into llvm's object entries (flipped
bytes, truncation, another kernel's files, deleted files); each faulted cache is used by a
fresh process (a crash fails the test, it cannot take pytest down) whose results must
equal the numpy backend's, with ``warm`` false (rebuilt) and a sound cache left behind.
An unusable cache directory compiles without a disk cache after one warning; ``warm`` is
true only when nothing was compiled; first calls from several threads at once are safe.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import codegen
import symbackprop as sb

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parent.parent


def tiny(activation):
    """Loss and gradients of a one-layer model: numba compiles it in about 2 s."""
    x = sb.input("x", (None, 2))
    y = sb.input("y", (None, 1))
    W = sb.param("W", (2, 1))
    b = sb.param("b", (1,))
    yhat = getattr(sb, activation)(x @ W + b)
    L = sb.mean((yhat - y) ** 2) / 2
    g = sb.grad(L, [W, b])
    return [L, g[W], g[b]]


def tiny_feeds():
    rng = np.random.default_rng(0)
    return dict(x=rng.normal(size=(5, 2)), y=rng.normal(size=(5, 1)),
                W=rng.normal(size=(2, 1)), b=rng.normal(size=(1,)))


# compiles tiny(<activation>) for each activation given, in a fresh process; prints per
# activation the outputs, the kernel's ``warm`` and cache key (kernels are recorded as built)
RUN = r"""
import inspect, json, sys
import numpy as np, symbackprop as sb
from codegen.numba_backend import cache
from codegen.llvm_backend import jit
made = []
def recording(cls):
    class Recording(cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)
    return Recording
cache.CachedKernel = recording(cache.CachedKernel)
jit.Kernel = recording(jit.Kernel)
from tests.test_cache_safety import tiny, tiny_feeds
results = {}
for activation in sys.argv[2:]:
    out = sb.compile(tiny(activation), backend=sys.argv[1])(**tiny_feeds())
    k = made[-1]
    readable = "def kernel" in inspect.getsource(k.function.py_func) if hasattr(k, "function") else None
    results[activation] = {"out": [np.asarray(o).tolist() for o in out], "warm": k.warm, "key": k.key,
                           "readable": readable}
print(json.dumps(results))
"""


def env_for(cache_dir):
    env = dict(os.environ, SYMBACKPROP_CACHE_DIR=str(cache_dir),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("NUMBA_CACHE_DIR", None)  # numba's files beside the source, where the tests look
    return env


def run(backend, cache_dir, *activations):
    """(results, stderr) of RUN in a fresh process; a crash or an error fails the test."""
    p = subprocess.run([sys.executable, "-c", RUN, backend, *activations], cwd=ROOT, env=env_for(cache_dir),
                       capture_output=True, text=True, timeout=300)
    if p.returncode < 0:
        pytest.fail(f"the process crashed (signal {-p.returncode}) using the cache in {cache_dir}\n"
                    f"{p.stderr[-3000:]}")
    assert p.returncode == 0, f"the process failed (exit {p.returncode})\n{p.stderr[-3000:]}"
    return json.loads(p.stdout.splitlines()[-1]), p.stderr


_reference = {}


def assert_like_numpy(result, activation):
    if activation not in _reference:
        _reference[activation] = sb.compile(tiny(activation), backend="numpy")(**tiny_feeds())
    for got, want in zip(result["out"], _reference[activation]):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-9, atol=1e-12)


def selected(request, test_name):
    """The ``fault`` parameters of ``test_name`` selected in this session (so ``-k`` runs
    only those processes)."""
    return [item.callspec.params["fault"] for item in request.session.items
            if getattr(item, "originalname", None) == test_name and hasattr(item, "callspec")]


def run_faults(make_pristine, faults, apply, backend, tmp_path_factory):
    """Each fault applied to a copy of the pristine cache, then used by a fresh process:
    {fault: (results, stderr) or the exception}, two processes at a time."""
    pristine, keys = make_pristine

    def one(fault):
        cache_dir = tmp_path_factory.mktemp("fault")
        shutil.copytree(pristine, cache_dir, dirs_exist_ok=True)
        apply(fault, cache_dir, keys)
        try:
            return run(backend, cache_dir, "tanh") + (cache_dir,)
        except BaseException as error:  # pytest.fail's exception too: re-raised in the test
            return error

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(faults, pool.map(one, faults)))


def outcome(runs, fault):
    result = runs[fault]
    if isinstance(result, BaseException):
        raise result
    return result


def flip(path, at=None):
    """Flip the byte at offset ``at`` (default: the middle) of a file."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def machine_code(data):
    """(offset, size) of the executable code in numba's data file: an ELF object inside a pickle."""
    base = data.index(b"\x7fELF")

    def field(at, size):
        return int.from_bytes(data[base + at:base + at + size], "little")

    table, entry_size, entries = field(0x28, 8), field(0x3A, 2), field(0x3C, 2)
    for i in range(entries):
        header = table + i * entry_size
        is_code = field(header + 4, 4) == 1 and field(header + 8, 8) & 0x4  # PROGBITS, executable
        if is_code and field(header + 0x20, 8):
            return base + field(header + 0x18, 8), field(header + 0x20, 8)
    raise AssertionError("no machine code found in numba's data file")


# ---- numba ---------------------------------------------------------------------------------

def numba_files(cache_dir, key):
    """(index, data file) numba wrote for the kernel with ``key``."""
    folder = cache_dir / "numba" / "__pycache__"
    index = sorted(folder.glob(f"k_{key}.*.nbi"))
    data = sorted(folder.glob(f"k_{key}.*.nbc"))
    assert len(index) == 1 and len(data) == 1, f"numba's files for {key}: {index + data}"
    return index[0], data[0]


def assert_sound_manifest(cache_dir, key):
    """The manifest beside the source names exactly numba's files for ``key``, with their digests."""
    folder = cache_dir / "numba"
    manifest = json.loads(next(folder.glob(f"k_{key}.*.manifest")).read_text())
    assert manifest["key"] == key
    files = {p.name: p for p in (folder / "__pycache__").glob(f"k_{key}.*") if p.suffix in (".nbi", ".nbc")}
    assert files and sorted(manifest["files"]) == sorted(files)
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name].read_bytes()).hexdigest() == digest, name


@pytest.fixture(scope="module")
def numba_pristine(tmp_path_factory):
    """A cache with two kernels compiled (tanh: the one faulted; sigmoid: 'another kernel')."""
    cache_dir = tmp_path_factory.mktemp("numba-pristine")
    results, _ = run("numba", cache_dir, "tanh", "sigmoid")
    keys = {a: r["key"] for a, r in results.items()}
    for activation, r in results.items():
        assert r["warm"] is False
        assert_like_numpy(r, activation)
        assert_sound_manifest(cache_dir, r["key"])
    return cache_dir, keys


def apply_numba_fault(fault, cache_dir, keys):
    index, data = numba_files(cache_dir, keys["tanh"])
    other_index, other_data = numba_files(cache_dir, keys["sigmoid"])
    manifest = next((cache_dir / "numba").glob(f"k_{keys['tanh']}.*.manifest"))
    if fault == "flipped byte in the index":
        flip(index)
    elif fault == "flipped byte in the data's machine code":  # before the manifest: SIGILL
        start, size = machine_code(data.read_bytes())
        flip(data, start + size // 2)
    elif fault == "truncated index":
        truncate(index)
    elif fault == "truncated data":
        truncate(data)
    elif fault == "another kernel's data":
        shutil.copyfile(other_data, data)
    elif fault == "another kernel's index, data and manifest":
        shutil.copyfile(other_index, index)
        shutil.copyfile(other_data, data)
        shutil.copyfile(next((cache_dir / "numba").glob(f"k_{keys['sigmoid']}.*.manifest")), manifest)
    elif fault == "data deleted":
        data.unlink()
    elif fault == "manifest deleted":  # numba wrote its files, the process died before the manifest
        manifest.unlink()
    elif fault == "only the source survived":
        index.unlink()
        data.unlink()
    else:
        assert fault == "intact"


NUMBA_FAULTS = ["flipped byte in the index", "flipped byte in the data's machine code", "truncated index",
                "truncated data",
                "another kernel's data", "another kernel's index, data and manifest", "data deleted",
                "manifest deleted", "only the source survived"]


@pytest.fixture(scope="module")
def numba_runs(request, numba_pristine, tmp_path_factory):
    faults = selected(request, "test_numba_cache_fault_is_rebuilt_never_run")
    faults += ["intact"]
    return run_faults(numba_pristine, faults, apply_numba_fault, "numba", tmp_path_factory)


@pytest.mark.slow
@pytest.mark.parametrize("fault", NUMBA_FAULTS)
def test_numba_cache_fault_is_rebuilt_never_run(fault, numba_runs, numba_pristine):
    results, _, cache_dir = outcome(numba_runs, fault)
    result = results["tanh"]
    assert_like_numpy(result, "tanh")
    assert result["warm"] is False, "a faulted entry was used, or warm was reported for a compile"
    assert result["key"] == numba_pristine[1]["tanh"]
    assert_sound_manifest(cache_dir, result["key"])  # rebuilt, and vouched for again


@pytest.mark.slow
def test_numba_intact_cache_is_loaded_warm(numba_runs):
    results, _, cache_dir = outcome(numba_runs, "intact")
    assert results["tanh"]["warm"] is True
    assert_like_numpy(results["tanh"], "tanh")


TRAIN = r"""
import json, numpy as np, symbackprop as sb
X = np.random.default_rng(0).normal(size=(10, 2)); Y = np.tanh(X[:, :1])
tr = sb.Trainer(sb.nn.Sequential(sb.nn.Linear(2, 1), sb.nn.Tanh()), backend="numba", seed=0)
seconds, warm = tr.compile(X, Y)
h = tr.fit(X, Y, epochs=2, batch_size=4, verbose=False)
print(json.dumps({"warm": warm, "kernel_warm": tr._train_fn.kernel.warm, "loss": list(h.loss)}))
"""


@pytest.mark.slow
def test_trainer_compile_is_cold_when_only_the_source_survived(tmp_path):
    def train():
        p = subprocess.run([sys.executable, "-c", TRAIN], cwd=ROOT, env=env_for(tmp_path),
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        return json.loads(p.stdout.splitlines()[-1])

    cold = train()
    assert cold["warm"] is False and cold["kernel_warm"] is False
    for path in (tmp_path / "numba" / "__pycache__").iterdir():  # numba's files gone, the .py kept
        path.unlink()
    assert list((tmp_path / "numba").glob("k_*.py"))
    again = train()
    assert again["warm"] is False and again["loss"] == cold["loss"]
    warm = train()
    assert warm["warm"] is True and warm["loss"] == cold["loss"]


# ---- llvm ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def llvm_pristine(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("llvm-pristine")
    results, _ = run("llvm", cache_dir, "tanh", "sigmoid")
    for activation, r in results.items():
        assert r["warm"] is False
        assert_like_numpy(r, activation)
    return cache_dir, {a: r["key"] for a, r in results.items()}


def apply_llvm_fault(fault, cache_dir, keys):
    entry = cache_dir / "llvm" / f"k_{keys['tanh']}.o"
    other = cache_dir / "llvm" / f"k_{keys['sigmoid']}.o"
    assert entry.exists() and other.exists()
    if fault == "flipped byte in the header":
        flip(entry, 60)  # in the key
    elif fault == "flipped byte in the code":
        flip(entry)
    elif fault == "truncated":
        truncate(entry)
    elif fault == "another kernel's entry":
        shutil.copyfile(other, entry)
    elif fault == "garbage":
        entry.write_bytes(b"garbage")
    elif fault == "empty":
        entry.write_bytes(b"")
    else:
        assert fault == "intact"


LLVM_FAULTS = ["flipped byte in the header", "flipped byte in the code", "truncated", "another kernel's entry",
               "garbage", "empty"]


@pytest.fixture(scope="module")
def llvm_runs(request, llvm_pristine, tmp_path_factory):
    faults = selected(request, "test_llvm_cache_fault_is_rebuilt_never_run") + ["intact"]
    return run_faults(llvm_pristine, faults, apply_llvm_fault, "llvm", tmp_path_factory)


@pytest.mark.parametrize("fault", LLVM_FAULTS)
def test_llvm_cache_fault_is_rebuilt_never_run(fault, llvm_runs, llvm_pristine):
    from codegen.llvm_backend import jit
    results, _, cache_dir = outcome(llvm_runs, fault)
    assert_like_numpy(results["tanh"], "tanh")
    assert results["tanh"]["warm"] is False
    key = llvm_pristine[1]["tanh"]
    assert jit._read_entry(cache_dir / "llvm" / f"k_{key}.o", key) is not None  # rewritten, sound


def test_llvm_intact_cache_is_loaded_warm(llvm_runs):
    results, _, _ = outcome(llvm_runs, "intact")
    assert results["tanh"]["warm"] is True
    assert_like_numpy(results["tanh"], "tanh")


def test_llvm_entry_is_tied_to_its_key(tmp_path):
    from codegen.llvm_backend import jit
    path = tmp_path / "k.o"
    jit._write_entry(tmp_path, path, "a" * 32, b"object code")
    assert jit._read_entry(path, "a" * 32) == b"object code"
    assert jit._read_entry(path, "b" * 32) is None


# ---- an unusable cache directory -----------------------------------------------------------

def unusable(kind, tmp_path):
    """A value of SYMBACKPROP_CACHE_DIR under which nothing can be written."""
    if kind == "a file":
        (tmp_path / "file").write_text("not a folder")
        return tmp_path / "file"
    if kind == "a path below a file":
        (tmp_path / "file").write_text("not a folder")
        return tmp_path / "file" / "cache"
    assert kind == "a read-only folder"
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    (folder / "llvm").mkdir(parents=True)
    folder.chmod(0o555)
    (folder / "llvm").chmod(0o555)
    return folder


@pytest.mark.parametrize("kind", ["a file", "a path below a file", "a read-only folder"])
def test_llvm_without_a_usable_cache_dir_compiles_after_one_warning(kind, tmp_path, monkeypatch):
    base = unusable(kind, tmp_path)
    monkeypatch.setenv("SYMBACKPROP_CACHE_DIR", str(base))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for activation in ("tanh", "sigmoid", "tanh"):
            out = sb.compile(tiny(activation), backend="llvm")(**tiny_feeds())
            assert_like_numpy({"out": out}, activation)
    messages = [str(w.message) for w in caught if issubclass(w.category, codegen.CacheWarning)]
    assert len(messages) == 1, messages
    assert str(base / "llvm") in messages[0]


@pytest.mark.slow
def test_numba_without_a_usable_cache_dir_compiles_in_memory_after_one_warning(tmp_path):
    base = unusable("a path below a file", tmp_path)
    results, stderr = run("numba", base, "tanh", "sigmoid")
    for activation, result in results.items():
        assert_like_numpy(result, activation)
        assert result["warm"] is False
        assert result["readable"], "the kernel's source is not readable for tracebacks"
    assert stderr.count("cannot use the kernel cache directory") == 1, stderr
    assert str(base / "numba") in stderr and "Traceback" not in stderr


# ---- warm, and threads ---------------------------------------------------------------------

SOURCE = '''from numba import njit


@njit(cache=True)
def scaled_sum(a, s):
    out = 0.0
    for i in range(a.size):
        out += a[i] * s
    return out
'''


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMBACKPROP_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_numba_first_calls_from_many_threads_compile_once_then_load_warm(private_cache):
    from codegen.numba_backend import cache
    source = f"# {uuid.uuid4().hex}\n" + SOURCE  # a key of its own: compiled by this test
    kernel = cache.CachedKernel(source, "scaled_sum")
    assert kernel.warm is None  # known after the first call
    a = np.arange(100.0)
    barrier = threading.Barrier(8)

    def call(s):
        barrier.wait()
        return kernel(a, float(s))

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, range(8))) == [a.sum() * s for s in range(8)]
    assert kernel.warm is False
    assert sum(kernel.function.stats.cache_misses.values()) == 1
    # a new module, as in a new process: numba's verified files are loaded; another
    # Python's files for the same key (numba names them apart) are left alone
    other_python = private_cache / "numba" / "__pycache__" / f"k_{kernel.key}.scaled_sum-5.py27.nbi"
    other_python.write_bytes(b"another Python's index")
    sys.modules.pop(f"symbackprop_kernel_{kernel.key}")
    again = cache.CachedKernel(source, "scaled_sum")
    assert again(a, 2.0) == a.sum() * 2 and again.warm is True
    assert other_python.read_bytes() == b"another Python's index"
    # numba's files deleted, the source kept: compiled, so not warm
    for path in (private_cache / "numba" / "__pycache__").glob(f"k_{kernel.key}.*"):
        path.unlink()
    sys.modules.pop(f"symbackprop_kernel_{kernel.key}")
    cold = cache.CachedKernel(source, "scaled_sum")
    assert cold(a, 3.0) == a.sum() * 3 and cold.warm is False
    # a manifest that vouches for an index numba cannot read: numba's error, then rebuilt
    index, = (private_cache / "numba" / "__pycache__").glob(f"k_{kernel.key}.*{cache.PY_TAG}.nbi")
    index.write_bytes(b"garbage")
    cold._record()
    sys.modules.pop(f"symbackprop_kernel_{kernel.key}")
    rebuilt = cache.CachedKernel(source, "scaled_sum")
    assert rebuilt(a, 4.0) == a.sum() * 4 and rebuilt.warm is False


IR = "define double @scale(double %x) {{\n  %y = fmul double %x, {c}\n  ret double %y\n}}\n"


def test_llvm_kernels_built_from_many_threads_compile_each_key_once(private_cache):
    import ctypes
    from codegen.llvm_backend import jit
    tag = uuid.uuid4().hex  # keys of their own
    irs = [f"; {tag}\n" + IR.format(c=c) for c in ("2.0", "3.0")]
    barrier = threading.Barrier(8)

    def build(i):
        barrier.wait()
        kernel = jit.Kernel(irs[i % 2], {"scale": (ctypes.c_double, [ctypes.c_double])})
        return i % 2, kernel.warm, kernel.functions["scale"](1.5)

    with ThreadPoolExecutor(8) as pool:
        built = list(pool.map(build, range(8)))
    for which, _, value in built:
        assert value == 1.5 * (2.0, 3.0)[which]
    assert sorted(which for which, warm, _ in built if not warm) == [0, 1]  # one compile per key


def test_numba_key_changes_with_the_code_it_inlines(monkeypatch):
    """numba's cache does not notice a change to an inlined function of another file: our key does."""
    from codegen.numba_backend import cache
    source = "from codegen.numba_backend.mathfns import fexp\n# a kernel\n"
    before = cache.key_of(source)
    cache.key_of(source)  # fills the digests of the modules it reaches
    digest, imports = cache._module_digests["codegen.numba_backend.mathfns"]
    monkeypatch.setitem(cache._module_digests, "codegen.numba_backend.mathfns", ("edited", imports))
    assert cache.key_of(source) != before


def test_numba_key_changes_with_the_modules_its_imports_import(monkeypatch):
    """The numba math functions emit the llvm backend's IR: an edit to that module is a new key."""
    from codegen.numba_backend import cache
    source = "from codegen.numba_backend.mathfns import fexp\n# a kernel\n"
    before = cache.key_of(source)
    assert "codegen.llvm_backend.mathfns" in cache._imported_code(source)
    digest, imports = cache._module_digests["codegen.llvm_backend.mathfns"]
    monkeypatch.setitem(cache._module_digests, "codegen.llvm_backend.mathfns", ("edited", imports))
    assert cache.key_of(source) != before
