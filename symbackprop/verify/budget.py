"""Time limits for sympy calls that can run for minutes (``simplify``, ``factor``).

``symbackprop.simplify.bodies.Budget`` is cooperative: it is asked between bodies, so it
cannot stop one ``sympy.simplify`` that never returns.  verify calls sympy on expressions
a user wrote, so here a call is interrupted: ``within(seconds, fn, ...)`` runs ``fn`` under
a timer and raises ``OutOfTime`` when it fires.

The limits count the **CPU time** of this process (``ITIMER_PROF``), not the wall clock: a
verdict's words then do not depend on how busy the machine is (on a loaded machine a
wall-clock limit cut the reason of a wrong claim short, so the same claim got "extra term
w" on a quiet machine and "different expression" beside a test suite).  An outer limit is
kept and re-armed with the time it has left; a wall-clock alarm of the caller's own
(``signal.alarm``) is a different timer and is left alone.  Signals only reach the main
thread: elsewhere ``fn`` runs without a limit.

>>> within(5, sum, [1, 2, 3])
6
>>> def spin():
...     while True:
...         pass
>>> within(0.05, spin)
Traceback (most recent call last):
...
symbackprop.verify.budget.OutOfTime: took longer than 0.05 s
"""

import signal
import threading
import time

#: seconds for sympy to decide a claim whose sides are undefined at every point tried
DECIDE_SECONDS = 10.0

#: seconds for the readable forms and the reason of one verdict (all elements together),
#: and for one sympy call among them (``factor(x + exp(-10**6))`` builds a polynomial of
#: degree 10**6; a form of at most 60 operations factors in well under a second); what
#: runs out is shown as derived, with a generic reason
DISPLAY_SECONDS = 10.0
CALL_SECONDS = 2.0


#: seconds for one evaluation of one side at one point.  It takes milliseconds, even for
#: an element of an expanded network; seconds mean astronomically large numbers
#: (``exp(exp(exp(exp(exp(x)))))``), which mpmath would compute for hours
EVAL_SECONDS = 2.0


class OutOfTime(Exception):
    """A limited call ran out of time (caught by verify's own code, never shown raw).

    ``own`` is True when the timer of the innermost ``within`` fired, False when an outer
    one did (then the outer caller is the one to handle it).
    """

    def __init__(self, message, token=None):
        super().__init__(message)
        self.token = token
        self.own = False


#: the timer and its signal: the process's CPU time (user and system)
TIMER = getattr(signal, "ITIMER_PROF", None)
SIGNAL = getattr(signal, "SIGPROF", None)


def _can_interrupt():
    return TIMER is not None and threading.current_thread() is threading.main_thread()


def within(seconds, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, or ``OutOfTime`` after ``seconds`` of this process's CPU time."""
    token = object()
    if seconds <= 0:
        raise OutOfTime("no time left", token)
    outer_left, outer_interval = signal.getitimer(TIMER) if _can_interrupt() else (0, 0)
    if not _can_interrupt() or (outer_left and outer_left <= seconds):
        return _call(token, fn, args, kwargs)   # an outer timer fires first: it is in charge

    def expire(signum, frame):
        raise OutOfTime(f"took longer than {seconds:g} s", token)

    start = time.process_time()
    previous = signal.signal(SIGNAL, expire)
    signal.setitimer(TIMER, seconds)
    try:
        return _call(token, fn, args, kwargs)
    finally:
        signal.setitimer(TIMER, 0)
        signal.signal(SIGNAL, previous)
        if outer_left:
            left = max(outer_left - (time.process_time() - start), 1e-3)
            signal.setitimer(TIMER, left, outer_interval)


def _call(token, fn, args, kwargs):
    try:
        return fn(*args, **kwargs)
    except OutOfTime as e:
        e.own = e.token is token
        raise


class Clock:
    """A deadline shared by several limited calls (the display of one verdict).

    >>> c = Clock(5)
    >>> c.run(sum, [1, 2], default=None)
    3
    """

    def __init__(self, seconds):
        self.deadline = time.process_time() + seconds

    def left(self):
        return self.deadline - time.process_time()

    def run(self, fn, *args, default=None):
        """``fn(*args)`` within the time left (at most ``CALL_SECONDS``), else ``default``."""
        try:
            return within(min(self.left(), CALL_SECONDS), fn, *args)
        except OutOfTime:
            return default
