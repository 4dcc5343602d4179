"""sb.draw and Trainer.draw: the structure of the picture (boxes, labels, edges, positions),
read back from the SVG, against the graph it draws."""

import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import symbackprop as sb
from symbackprop.graph.traverse import topo_order
from symbackprop.render.layout import lay_out

SVG = "{http://www.w3.org/2000/svg}"


def parse(drawing):
    """({box id: (kind, [texts], (x, y, w, h))}, [(from, to, [points])]) read from the SVG."""
    root = ET.fromstring(drawing.svg())
    boxes, edges = {}, []
    for g in root.iter(SVG + "g"):
        if g.get("class") != "node":
            continue
        rect = g.find(SVG + "rect")
        texts = [t.text for t in g.findall(SVG + "text")]
        boxes[g.get("data-id")] = (g.get("data-kind"), texts,
                                   tuple(float(rect.get(k)) for k in ("x", "y", "width", "height")))
    for p in root.iter(SVG + "path"):
        if p.get("class") == "edge":
            nums = p.get("d").replace("M", "").replace("L", "").split()
            pts = [(float(nums[i]), float(nums[i + 1])) for i in range(0, len(nums), 2)]
            edges.append((p.get("data-from"), p.get("data-to"), pts))
    return boxes, edges


def two_layer():
    x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1))
    W1 = sb.param("W1", (2, 3)); b1 = sb.param("b1", (3,))
    W2 = sb.param("W2", (3, 1)); b2 = sb.param("b2", (1,))
    L = sb.mse(sb.sigmoid(sb.tanh(x @ W1 + b1) @ W2 + b2), y)
    return L, sb.grad(L, [W1, b1, W2, b2]), (x, y, W1, b1, W2, b2)


def feeds_for(leaves, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return {v.name: rng.normal(size=tuple(n if d == sb.N else d for d in v.shape)) for v in leaves}


def titles(drawing):
    return [b.title for b in drawing.boxes]


def test_expanded_drawing_has_one_box_per_node_and_one_edge_per_operand():
    L, g, _ = two_layer()
    outs = [L] + list(g.values())
    d = sb.draw(outs, expand=True)
    nodes = [b.nodes[0] for b in d.boxes]
    assert all(len(b.nodes) == 1 for b in d.boxes) and len(set(nodes)) == len(nodes)
    assert set(topo_order(nodes)) == set(nodes)  # every operand of a drawn node is drawn
    assert len(nodes) < len(topo_order(outs))  # simplified: fused, fewer nodes than as built
    boxes, edges = parse(d)
    assert len(boxes) == len(nodes)
    operand_edges = {(a, n) for n in nodes for a in n.args}
    assert len(edges) == len(operand_edges) == len(d.edges)
    box_id = {b.nodes[0]: b.id for b in d.boxes}
    assert {(a, b) for a, b, _ in edges} == {(box_id[a], box_id[n]) for a, n in operand_edges}
    assert {k for k, _, _ in boxes.values()} >= {"input", "param", "op", "output", "gradient"}
    for a, b, _ in edges:  # every edge joins two drawn boxes
        assert a in boxes and b in boxes


def test_boxes_carry_the_names_the_formulas_use_and_gradients_say_which_they_are():
    L, g, (x, y, W1, b1, W2, b2) = two_layer()
    d = sb.draw([L] + list(g.values()), expand=True)
    names = titles(d)
    for t in ["x", "y", "W₁", "b₁", "W₂", "b₂", "z₁", "a₁", "z₂", "ŷ", "δ₁", "δ₂", "L",
              "∂L/∂W₁", "∂L/∂b₁", "∂L/∂W₂", "∂L/∂b₂"]:
        assert names.count(t) == 1, (t, names)
    # the same names as sb.explain
    text = str(sb.explain(L))
    for t in ["z₁", "a₁", "δ₁ = ∂L/∂z₁", "δ₂ = ∂L/∂z₂", "∂L/∂W₁"]:
        assert t in text
    assert d.box("∂L/∂W₁").kind == "gradient" and d.box("∂L/∂W₁").op == "matmul"
    assert d.box("W₁").lines[0] == "param (2, 3)"
    assert d.box("x").lines[0] == "input (N, 2)"
    assert "(N, 3)" in d.box("a₁").lines and "map: tanh(z₁)" in d.box("a₁").lines
    # δ₁ reads δ₂ and a₁ (the forward value reused: no tanh in the backward pass)
    assert "δ₂" in d.box("δ₁").lines[0] and "a₁" in d.box("δ₁").lines[0]
    assert not any("tanh" in line for t in ("δ₁", "δ₂") for line in d.box(t).lines)


def test_backward_boxes_reuse_the_forward_boxes():
    L, g, _ = two_layer()
    d = sb.draw([L] + list(g.values()), expand=True)
    a1 = d.box("a₁").id
    readers = [b for a, b in d.edges if a == a1]
    kinds = {next(x.title for x in d.boxes if x.id == r) for r in readers}
    assert "δ₁" in kinds  # backward reads the forward box, not a copy
    assert titles(d).count("a₁") == 1


def test_fused_map_boxes_show_their_formula():
    x = sb.input("x", (None, 2)); y = sb.input("y", (None, 1)); W = sb.param("W", (2, 1)); b = sb.param("b", (1,))
    L = sb.bce(x @ W + b, y)
    g = sb.grad(L, [W, b])
    d = sb.draw([L, g[W], g[b]], expand=True)
    assert d.box("δ").lines[0] == "map: (ŷ − y)/N"
    assert d.box("ŷ").lines[0] == "map: σ(z)"
    assert d.box("∂L/∂W").lines[0] == "matmul: xᵀ δ"
    unsimplified = sb.draw([L, g[W], g[b]], expand=True, simplify=False)
    assert len(unsimplified.boxes) > len(d.boxes)  # fusion made the regions one box each


def test_feeds_put_each_value_in_its_box():
    L, g, leaves = two_layer()
    feeds = feeds_for(leaves)
    d = sb.draw([L] + list(g.values()), feeds=feeds, expand=True)
    loss, dW2, db1 = sb.evaluate([L, g[leaves[4]], g[leaves[3]]], feeds)
    assert d.box("L").lines[-1] == f"= {float(loss):.4g}".replace("-", "−")
    # tiny arrays in full, bigger ones as shape and norm
    db1_text = "= [" + ", ".join(f"{v:.4g}".replace("-", "−") for v in db1) + "]"
    assert d.box("∂L/∂b₁").lines[-1] == db1_text
    assert d.box("∂L/∂W₂").lines[-1].startswith("= [[")
    assert d.box("a₁").lines[-1] == f"= (4, 3), ‖·‖ = {np.linalg.norm(np.tanh(feeds['x'] @ feeds['W1'] + feeds['b1'])):.4g}"
    boxes, _ = parse(d)
    assert any(t == d.box("L").lines[-1] for _, texts, _ in boxes.values() for t in texts)


def test_layers_collapse_into_one_box_each_unless_expanded():
    net = sb.nn.Sequential(*[m for _ in range(5) for m in (sb.nn.Linear(4, 4), sb.nn.Tanh())], sb.nn.Linear(4, 1))
    x = sb.input("x", (None, 4)); y = sb.input("y", (None, 1))
    L = sb.mse(net(x), y)
    params = [n for n in topo_order([L]) if n.op == "param"]
    g = sb.grad(L, params)
    outs = [L] + [g[p] for p in params]
    small, big = sb.draw(outs), sb.draw(outs, expand=True)
    layer_titles = [b.title for b in small.boxes if b.kind == "layer"]
    assert [t for t in layer_titles if t.startswith("layer")] == [f"layer {k}" for k in range(1, 7)]
    assert [t for t in layer_titles if t.startswith("backward")] == [f"backward, layer {k}" for k in range(5, 0, -1)]
    assert not any(b.kind == "layer" for b in big.boxes)
    assert len(small.boxes) < len(big.boxes) * 0.6
    # a layer's box names its params and its formulas; every gradient keeps its own box
    assert "z₂ = a₁ W₂ᵀ + b₂" in small.box("layer 2").lines
    assert any(line.startswith("W₂ (4, 4)") or line.endswith("W₂ (4, 4)") for line in small.box("layer 2").lines)
    assert sum(b.kind == "gradient" for b in small.boxes) == len(params)
    ids = {b.id for b in small.boxes}
    assert all(a in ids and b in ids and a != b for a, b in small.edges)
    assert len(set(small.edges)) == len(small.edges)
    # layer 2's box reads layer 1's
    assert (small.box("layer 1").id, small.box("layer 2").id) in small.edges


def test_layout_keeps_boxes_apart_and_edges_pointing_down():
    L, g, _ = two_layer()
    d = sb.draw([L] + list(g.values()), expand=True, engine="grandalf")
    boxes, edges = parse(d)
    rects = [r for _, _, r in boxes.values()]
    for i, (x0, y0, w0, h0) in enumerate(rects):
        for x1, y1, w1, h1 in rects[i + 1:]:
            assert x0 + w0 <= x1 or x1 + w1 <= x0 or y0 + h0 <= y1 or y1 + h1 <= y0, "boxes overlap"
    for a, b, pts in edges:
        ax, ay, aw, ah = boxes[a][2]
        bx, by, bw, bh = boxes[b][2]
        assert pts[0] == pytest.approx((ax + aw / 2, ay + ah)) and pts[-1] == pytest.approx((bx + bw / 2, by))
        assert ay < by  # operands above their readers
    root = ET.fromstring(d.svg())
    assert float(root.get("width")) >= max(x + w for x, _, w, _ in rects)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not on PATH")
def test_dot_lays_out_the_same_boxes_when_it_is_on_path():
    L, g, _ = two_layer()
    d = sb.draw([L] + list(g.values()), engine="dot")
    assert d.scene.engine == "dot" and len(parse(d)[0]) == len(d.boxes)


def test_engine_auto_falls_back_to_grandalf_without_dot(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    scene = lay_out({"a": (50, 20), "b": (50, 20)}, [("a", "b")])
    assert scene.engine == "grandalf"
    with pytest.raises(sb.ArgumentError, match="dot on PATH"):
        lay_out({"a": (50, 20)}, [], engine="dot")


def test_disconnected_outputs_are_drawn_side_by_side():
    a, b = sb.input("a", (2,)), sb.input("b", (2,))
    d = sb.draw([sb.exp(a), sb.sin(b)])
    boxes, edges = parse(d)
    assert len(boxes) == 4 and len(edges) == 2
    xs = sorted(r[0] for _, _, r in boxes.values())
    assert xs[0] < xs[-1]


def test_save_writes_svg_and_png(tmp_path):
    L, g, _ = two_layer()
    d = sb.draw([L] + list(g.values()))
    assert d._repr_svg_() == d.svg()
    d.save(tmp_path / "net.svg")
    assert (tmp_path / "net.svg").read_text(encoding="utf-8") == d.svg()
    with pytest.raises(sb.ArgumentError, match=".svg or .png"):
        d.save(tmp_path / "net.pdf")
    pytest.importorskip("matplotlib")
    d.save(tmp_path / "net.png")
    data = (tmp_path / "net.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_png_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch):
    import symbackprop.plot
    monkeypatch.setattr(symbackprop.plot, "available", lambda: False)
    with pytest.raises(sb.ArgumentError, match="matplotlib"):
        sb.draw(sb.exp(sb.input("t", ()))).save(tmp_path / "t.png")


@pytest.mark.parametrize("outputs,error,match", [
    (3, sb.ArgumentError, "graph node"),
    ([], sb.ArgumentError, "no outputs"),
    ([sb.input("t", ()), "L"], sb.ArgumentError, "output 1 is a str"),
    ({"W": sb.input("t", ())}, sb.ArgumentError, "got a dict"),
])
def test_bad_outputs_are_refused_clearly(outputs, error, match):
    with pytest.raises(error, match=match):
        sb.draw(outputs)


def test_bad_feeds_and_options_are_refused_clearly():
    L, g, leaves = two_layer()
    feeds = feeds_for(leaves)
    with pytest.raises(sb.ArgumentError, match="no value for W2"):
        sb.draw(L, feeds={k: v for k, v in feeds.items() if k != "W2"})
    with pytest.raises(sb.ShapeError, match=r"feeds\['W1'\] has shape \(3, 2\)"):
        sb.draw(L, feeds={**feeds, "W1": np.zeros((3, 2))})
    with pytest.raises(sb.ShapeError, match="batch size 4"):
        sb.draw(L, feeds={**feeds, "y": np.zeros((5, 1))})
    with pytest.raises(sb.ArgumentError, match="feeds must be a dict"):
        sb.draw(L, feeds=[1, 2])
    with pytest.raises(sb.ArgumentError, match="layout engine"):
        sb.draw(L, engine="neato")


def test_trainer_draws_its_training_step():
    net = sb.nn.Sequential(sb.nn.Linear(2, 4), sb.nn.Tanh(), sb.nn.Linear(4, 1))
    tr = sb.Trainer(net, loss="bce", optimizer=sb.optim.SGD(lr=0.1), backend="numpy", seed=0)
    d = tr.draw()
    update = d.box("update: SGD(η = 0.1)")
    assert update.lines[0] == "p ← p − g·η"
    grads = [b for b in d.boxes if b.kind == "gradient"]
    assert sorted(b.title for b in grads) == ["∂L/∂W₁", "∂L/∂W₂", "∂L/∂b₁", "∂L/∂b₂"]
    assert {a for a, b in d.edges if b == "update"} == {b.id for b in grads}
    X = np.random.default_rng(0).normal(size=(8, 2)); Y = (X[:, :1] > 0).astype(float)
    with_values = tr.draw(X, Y)
    loss, _ = tr.gradients(X, Y)
    assert with_values.box("L").lines[-1] == f"= {loss:.4g}".replace("-", "−")
    with pytest.raises(sb.ArgumentError, match="both X and Y"):
        tr.draw(X)
