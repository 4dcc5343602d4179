"""Window geometry the backends share for ``Conv`` and ``Pool`` steps: which buffer plays
which role, and which output positions of a kernel offset read inside the input.

>>> from codegen.program import Conv
>>> roles(Conv("t0", "x", "w", "forward", (1,), (0,)))
{'x': 'x', 'w': 'w', 'g': 't0'}
>>> valid(0, 1, 1, 5, 5)
(1, 5)
"""


def roles(step):
    """{x, w, g: buffer name} of a Conv step: the input, the kernel and the output-shaped δ."""
    if step.mode == "forward":
        return {"x": step.a, "w": step.b, "g": step.out}
    if step.mode == "input":
        return {"x": step.out, "w": step.b, "g": step.a}
    return {"x": step.a, "w": step.out, "g": step.b}


def valid(k, stride, padding, size, count):
    """[lo, hi): output positions y < count with y·stride + k − padding inside [0, size)."""
    lo = max(0, -((k - padding) // stride))
    hi = min(count, (size - 1 + padding - k) // stride + 1)
    return lo, max(lo, hi)


def offsets(kernel):
    """Every kernel offset, row-major, with its flat number."""
    import itertools
    return list(itertools.product(*(range(k) for k in kernel)))
