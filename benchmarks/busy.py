"""``--busy``: time the implementations beside one competing CPU-bound process.

A benchmark on an otherwise idle machine hides how a thread pool behaves when a core is
taken: a BLAS that splits each product between two threads waits for the one that got no
core.  ``competitor()`` starts a plain Python busy loop in a child process (one core's worth
of work, no threads of its own, nothing that sleeps) and ends it on leaving the block, so the
timed fits run beside it; what is measured is how well each implementation shares the machine.

>>> with competitor() as pid:
...     alive = running(pid)
>>> alive, running(pid)
(True, False)
"""

import contextlib
import os
import subprocess
import sys

#: the competing process: pure Python, one core, until killed or until its parent is gone (a
#: benchmark killed by a timeout cannot end it; orphaned, it would distort every later timing)
#: (the parent's pid comes as an argument: the child may start after its parent died)
LOOP = "import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n    for _ in range(100_000):\n        pass\n"


@contextlib.contextmanager
def competitor(on=True):
    """Run one CPU-bound child process for the duration of the block; yields its pid (None
    when ``on`` is false, and nothing is started)."""
    if not on:
        yield None
        return
    child = subprocess.Popen([sys.executable, "-c", LOOP, str(os.getpid())], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


def running(pid):
    """True while process ``pid`` exists and has not exited (a zombie counts as gone).

    >>> running(os.getpid())
    True
    """
    if pid is None:
        return False
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    try:  # no /proc: ask the OS whether the pid exists
        os.kill(pid, 0)
    except OSError:
        return False
    return True
