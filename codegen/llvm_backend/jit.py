"""LLVM IR text -> native code: host target at O3 (loop and SLP vectorisers on), object
code cached on disk, loaded into an MCJIT engine, called through ctypes.

Every module is compiled to an object file by the host's target machine, and every
object file, fresh or from the cache, is loaded the same way (``add_object_file``).
Entries live in ``$SYMBACKPROP_CACHE_DIR/llvm`` named by a hash of the IR text, the
llvmlite/LLVM versions, the host CPU and its features, and this backend's version.  An
entry is a magic line, a sha256 digest, then a header naming the key and versions it was
compiled for (and the keys of the separately compiled kernels its code calls: ``Linked``),
then the object code; the digest covers header and code.  A truncated or
corrupt entry (digest), or one of another kernel copied over it (the header's key), is
compiled afresh and rewritten, never loaded.  Without a usable cache folder
(``codegen.cache_dir`` warns once) modules are compiled in memory only.  Building kernels
from several threads is safe: LLVM's work (parsing, optimising, emitting, loading) runs
under one lock, and one key is built by one thread at a time.  External functions (BLAS
through scipy's ``cython_blas`` function pointers, behind the per-product thread switch of
``codegen/blas_switch.py``) are bound by name with ``llvm.add_symbol`` before loading, so no
address (and no thread count) is baked into the IR or the cached object.

>>> ir_text = 'define double @twice(double %x) {\\n  %y = fmul double %x, 2.0\\n  ret double %y\\n}\\n'
>>> k = Kernel(ir_text, {"twice": (ctypes.c_double, [ctypes.c_double])})
>>> k.functions["twice"](1.25)
2.5
"""

import ctypes
import hashlib
import threading
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

import codegen
from codegen import threads

#: bump when generated code changes meaning, so old cache entries are never reused
BACKEND_VERSION = "1"
#: optimisation: O3 with the loop and SLP vectorisers; the loop unroller and interleaving
#: of vectorised loops are switches measured on W1: the unroller off gave 27.5 µs per step against
#: 31.5 µs with it (median, same process) and 0.2 s less compile time; O2 and no interleaving were no faster
OPT_LEVEL = 3
UNROLL = False
INTERLEAVE = True
_MAGIC = b"SBPLLVMOBJ3\n"
#: guards LLVM's shared state (the global context, target machines, symbols): reentrant,
#: so a compile holding it can initialise the target
_lock = threading.RLock()
_key_locks = {}
_key_locks_guard = threading.Lock()
_state = {}


def _init():
    """Initialise LLVM's native target once; the host target machine and symbols."""
    with _lock:
        if "tm" not in _state:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            cpu, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
            _state["host"] = f"{llvm.get_process_triple()} {cpu} {features}"
            _state["cpu"] = (cpu, features)
            _state["tm"] = _new_target_machine()
            _bind_blas()
    return _state["tm"]


def _new_target_machine():
    cpu, features = _state["cpu"]
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=cpu, features=features, opt=3, codemodel="jitdefault")


def target_machine():
    """The host's target machine (CPU name and features, O3), shared for compiling."""
    return _init()


def vector_bytes():
    """Bytes in one vector register of the host: 64 with AVX-512, 32 with AVX, else 16."""
    features = _host_features()
    return 64 if "+avx512f" in features else 32 if "+avx" in features else 16


def vector_registers():
    """Vector registers the host's code can use: 32 with AVX-512, else 16."""
    return 32 if "+avx512f" in _host_features() else 16


def _host_features():
    """The host CPU's feature flags as a set (read once: IR generation asks per vector)."""
    if "features" not in _state:
        _init()
        _state["features"] = frozenset(_state["cpu"][1].split(","))
    return _state["features"]


def data_layout():
    return str(_init().target_data)


def triple():
    return llvm.get_process_triple()


def _capsule_pointer(capsule):
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get_pointer(capsule, get_name(capsule))


#: symbol names the generated IR calls for BLAS (bound to scipy's function pointers)
BLAS_SYMBOLS = {"dgemm": "sbp_dgemm", "sgemm": "sbp_sgemm"}


def _cython_blas():
    """scipy's ``cython_blas`` module, loaded directly from its file when possible:
    ``import scipy.linalg.cython_blas`` first imports all of ``scipy.linalg`` (~0.2 s)."""
    import sys
    if "scipy.linalg.cython_blas" in sys.modules:
        return sys.modules["scipy.linalg.cython_blas"]
    try:
        import importlib.machinery
        import importlib.util
        import scipy
        folder = Path(scipy.__file__).parent / "linalg"
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = folder / f"cython_blas{suffix}"
            if path.exists():
                loader = importlib.machinery.ExtensionFileLoader("scipy.linalg.cython_blas", str(path))
                spec = importlib.util.spec_from_file_location("scipy.linalg.cython_blas", path, loader=loader)
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
                return module
    except Exception:  # any surprise: the ordinary import
        pass
    from scipy.linalg import cython_blas
    return cython_blas


def _bind_blas():
    cython_blas = _cython_blas()
    _state["blas_module"] = cython_blas  # keep the module (and its library) alive
    # the kernels' sbp_?gemm are the per-product thread switch's ?gemm (codegen/blas_switch.py),
    # which calls scipy's: the BLAS thread count (codegen/threads.py) is read at each product
    switch = threads.native_switch()
    for name, symbol in BLAS_SYMBOLS.items():
        llvm.add_symbol(symbol, switch.gemm(name[0], _capsule_pointer(cython_blas.__pyx_capi__[name])))


def cache_dir():
    """This backend's folder of the kernel cache (``codegen.cache_dir``), or None when
    there is no usable one."""
    return codegen.cache_dir("llvm")


def _backend_sources():
    """A digest of the code that generates and compiles IR (this package, the layout and
    body modules, the program classes): a change to any of them changes every key."""
    if "sources" not in _state:
        here = Path(__file__).resolve().parent
        files = sorted(here.glob("*.py")) + [here.parent / n for n in ("layout.py", "bodies.py", "program.py")]
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
        _state["sources"] = digest.hexdigest()
    return _state["sources"]


def key_of(structure):
    """Cache key of a module: its structure (the IR text, or a structural description of
    the program it is generated from), this host, the versions and the backend's code."""
    _init()
    text = (f"{BACKEND_VERSION}\n{llvmlite.__version__}\n{llvm.llvm_version_info}\n{_state['host']}\n"
            f"O{OPT_LEVEL} unroll={UNROLL} interleave={INTERLEAVE}\n{_backend_sources()}\n{structure}")
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def optimise(module):
    """Run LLVM's O3 pipeline (loop and SLP vectorisers on) over a parsed module."""
    tm = _init()
    module.triple = triple()
    module.data_layout = str(tm.target_data)
    pto = llvm.create_pipeline_tuning_options(speed_level=OPT_LEVEL)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = UNROLL
    pto.loop_interleaving = INTERLEAVE
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    mpm.run(module, pb)
    mpm.close()
    pb.close()
    pto.close()
    return module


def compile_object(ir_text, optimised=True):
    """Parse, verify, optimise and compile IR text to host object code (bytes); without
    ``optimised``, no IR passes and the target's fast instruction selection (a driver that
    only calls kernels)."""
    with _lock:
        module = llvm.parse_assembly(ir_text)
        module.verify()
        if optimised:
            optimise(module)
            return target_machine().emit_object(module)
        _init()
        if "tm0" not in _state:
            cpu, features = _state["cpu"]
            target = llvm.Target.from_triple(llvm.get_process_triple())
            _state["tm0"] = target.create_target_machine(cpu=cpu, features=features, opt=0, codemodel="jitdefault")
        module.triple = triple()
        module.data_layout = str(_state["tm0"].target_data)
        return _state["tm0"].emit_object(module)


def optimised_ir(ir_text):
    """The IR after the O3 pipeline (for reading what the vectoriser did)."""
    with _lock:
        module = llvm.parse_assembly(ir_text)
        return str(optimise(module))


def assembly(ir_text):
    """Host assembly of the optimised IR (for checking vector instructions once)."""
    with _lock:
        module = llvm.parse_assembly(ir_text)
        optimise(module)
        return target_machine().emit_assembly(module)


def _entry_header(key, parts=()):
    """What an entry for ``key`` says it is: the key and the versions it was compiled for
    (the key already hashes them; stored so an entry is tied to its key and readable), then
    the keys of the separately cached parts its code calls, if any."""
    head = (f"key {key}\nbackend {BACKEND_VERSION}\nllvmlite {llvmlite.__version__}\n"
            f"llvm {'.'.join(map(str, llvm.llvm_version_info))}\n")
    return (head + (f"parts {' '.join(parts)}\n" if parts else "")).encode()


def _entry(key, payload, parts=()):
    """The bytes of a cache entry: magic, sha256 of the rest, header length, header, code."""
    header = _entry_header(key, parts)
    body = len(header).to_bytes(4, "big") + header + payload
    return _MAGIC + hashlib.sha256(body).digest() + body


def _read_entry(path, key, with_parts=False):
    """The object code stored at ``path`` for ``key`` (with ``with_parts``: (code, [part
    keys])), or None if absent, corrupt, truncated, or written for another key."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    header = _entry_header(key)
    start = len(_MAGIC) + 32
    if not data.startswith(_MAGIC) or len(data) <= start + 4 + len(header):
        return None
    if hashlib.sha256(data[start:]).digest() != data[len(_MAGIC):start]:
        return None
    size = int.from_bytes(data[start:start + 4], "big")
    stored = data[start + 4:start + 4 + size]
    rest = stored[len(header):]
    if not stored.startswith(header) or (rest and not (rest.startswith(b"parts ") and rest.endswith(b"\n"))):
        return None  # a sound entry, but of another kernel (or version)
    payload = data[start + 4 + size:]
    return (payload, rest[6:].decode().split()) if with_parts else payload


def _write_entry(directory, path, key, payload, parts=()):
    try:
        codegen.write_atomically(path, _entry(key, payload, parts))
    except OSError as error:  # a full disk, a folder made read-only: run without the cache
        codegen.cache_unusable(directory, error)


def _key_lock(key):
    with _key_locks_guard:
        return _key_locks.setdefault(key, threading.Lock())


class Linked:
    """IR of a module whose functions call functions compiled and cached separately (the
    kernels shared by several steps: ``ProgramEmitter(separate=True)``): ``text`` is the
    module's IR, ``parts`` [(structure, IR text)] the modules defining what it declares, each
    cached under the key of its ``structure``, so a program sharing a kernel with an earlier
    one (another depth, another layer shape) compiles only its new kernels and its driver.
    ``driver``: the module only calls the parts, and is compiled without optimisation."""

    def __init__(self, text, parts=(), driver=False):
        self.text, self.parts, self.driver = text, list(parts), driver

    def source(self):
        """The module's IR then each part's, for reading (not one parseable module)."""
        return "\n".join([self.text] + [f"; ---- separately compiled kernel\n{t}" for _, t in self.parts])


class Kernel:
    """Native functions of one IR module: ``functions[name]`` is a ctypes function.

    ``ir`` is the module's IR text or a function making it (text or a ``Linked``);
    ``structure`` (default: the IR text) is what the cache key hashes, so a warm start need
    not generate any IR (the entry lists the keys of its parts).  ``signatures`` maps each
    function to (restype, [argtypes]).  ``warm`` says all object code came from the disk
    cache (nothing was compiled); ``compiled`` counts the modules compiled.
    """

    def __init__(self, ir, signatures, structure=None):
        self._ir, self._make_ir = (ir, None) if isinstance(ir, (str, Linked)) else (None, ir)
        self.key = key_of(structure if structure is not None else self.source)
        self.compiled = 0
        directory = cache_dir()
        path = None if directory is None else directory / f"k_{self.key}.o"
        with _key_lock(self.key):  # one thread builds a key; the others then find it cached
            found = None if path is None else _read_entry(path, self.key, with_parts=True)
            if found is not None:
                objects = [_read_entry(directory / f"k_{k}.o", k) for k in found[1]]
                if all(o is not None for o in objects):
                    try:
                        self._load(objects + [found[0]], signatures)
                        self.warm = True
                        return
                    except Exception:  # a valid digest over bad code: rebuild, never trust it
                        pass
            self.warm = False
            linked = self.ir if isinstance(self.ir, Linked) else Linked(self.ir)
            objects, keys = [], []
            for structure_, text in linked.parts:
                objects.append(self._object(directory, key_of("part\n" + structure_), lambda t=text: t))
                keys.append(key_of("part\n" + structure_))
            payload = compile_object(linked.text, optimised=not linked.driver)
            self.compiled += 1
            if path is not None:
                _write_entry(directory, path, self.key, payload, keys)
            self._load(objects + [payload], signatures)

    def _object(self, directory, key, text):
        """The object code of a part: from the cache, else compiled (and stored)."""
        path = None if directory is None else directory / f"k_{key}.o"
        with _key_lock(key):
            payload = None if path is None else _read_entry(path, key)
            if payload is None:
                payload = compile_object(text())
                self.compiled += 1
                if path is not None:
                    _write_entry(directory, path, key, payload)
            return payload

    @property
    def ir(self):
        """The module's LLVM IR text (generated on first use when built from the cache), or a
        ``Linked`` when its shared kernels are separate modules."""
        if self._ir is None:
            self._ir = self._make_ir()
        return self._ir

    @property
    def source(self):
        """The IR for reading: the module's, then its parts'."""
        return self.ir.source() if isinstance(self.ir, Linked) else self.ir

    def _load(self, payloads, signatures):
        _init()
        with _lock:
            # an engine takes ownership of its target machine (and frees it): give it its own
            tm = _new_target_machine()
            engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
            for payload in payloads:  # the parts first: the last object calls into them
                engine.add_object_file(llvm.ObjectFileRef.from_data(payload))
            engine.finalize_object()
            addresses = {name: engine.get_function_address(name) for name in signatures}
        functions = {}
        for name, (restype, argtypes) in signatures.items():
            address = addresses[name]
            if not address:
                raise RuntimeError(f"llvm backend: function {name} missing from the compiled object")
            functions[name] = ctypes.CFUNCTYPE(restype, *argtypes)(address)
        self.engine, self.functions = engine, functions  # the engine owns the code: keep it alive
