"""A softmax classifier: z = x W + b, cross-entropy against integer labels.

    symbackprop derive examples/formulas/softmax_classifier.py
"""
import symbackprop as sb

x = sb.input("x", (None, 4))
y = sb.input("y", (None,), dtype="int64")
W = sb.param("W", (4, 3))
b = sb.param("b", (3,))
loss = sb.cross_entropy(x @ W + b, y)
wrt = [W, b]
