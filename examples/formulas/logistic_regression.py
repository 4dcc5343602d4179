"""Logistic regression: z = x W + b, ŷ = σ(z), binary cross-entropy on the logits z.

    symbackprop derive examples/formulas/logistic_regression.py
"""
import symbackprop as sb

x = sb.input("x", (None, 2))
y = sb.input("y", (None, 1))
W = sb.param("W", (2, 1))
b = sb.param("b", (1,))
loss = sb.bce(x @ W + b, y)
wrt = [W, b]
