"""Collection rules for the whole repository (the doctests of ``symbackprop`` and ``codegen``
run with ``--doctest-modules``): the jax backend's modules import JAX, an optional
dependency, so without it their doctests are not collected."""

import codegen

collect_ignore_glob = [] if codegen.unavailable("jax") is None else ["codegen/jax_backend/*"]
