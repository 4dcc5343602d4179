"""A 2-16-16-1 tanh network with mean squared error (the demo's network).

    symbackprop derive examples/formulas/tanh_mlp.py
"""
import symbackprop as sb

net = sb.nn.Sequential(sb.nn.Linear(2, 16), sb.nn.Tanh(), sb.nn.Linear(16, 16), sb.nn.Tanh(),
                       sb.nn.Linear(16, 1))
x = sb.input("x", (None, 2))
y = sb.input("y", (None, 1))
loss = sb.mse(net(x), y)
