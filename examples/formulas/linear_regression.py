"""Linear regression: ŷ = x W + b, mean squared error.

    symbackprop derive examples/formulas/linear_regression.py
"""
import symbackprop as sb

x = sb.input("x", (None, 3))
y = sb.input("y", (None, 1))
W = sb.param("W", (3, 1))
b = sb.param("b", (1,))
loss = sb.mse(x @ W + b, y)
wrt = [W, b]
