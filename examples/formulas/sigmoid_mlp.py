"""A 2-layer sigmoid network with mean squared error (the textbook backprop example):
z₁ = x W₁ᵀ + b₁, a₁ = σ(z₁), z₂ = a₁ W₂ᵀ + b₂, ŷ = σ(z₂), L = Σ(ŷ − y)²/(2N).

    symbackprop derive examples/formulas/sigmoid_mlp.py
"""
import symbackprop as sb

net = sb.nn.Sequential(sb.nn.Linear(2, 3), sb.nn.Sigmoid(), sb.nn.Linear(3, 1), sb.nn.Sigmoid())
x = sb.input("x", (None, 2))
y = sb.input("y", (None, 1))
loss = sb.mse(net(x), y) / 2
