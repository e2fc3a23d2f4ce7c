"""The figure of a graph spec: a box per layer with its output shape, an arrow per read, skip
connections curved round the side so that a fan-out shows as two arrows leaving one box."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from symbp.cli.app import main
from symbp.core.spec import load_spec
from symbp.docs.graph_figure import CHAR, svg

NS = {"s": "http://www.w3.org/2000/svg"}


def _parse(name: str) -> ET.Element:
    return ET.fromstring(svg(load_spec(name, graphs=True), "symbp derive x -f markdown"))


def test_every_layer_is_a_box_labelled_with_its_output_shape():
    root = _parse("lenet5")
    boxes = root.findall(".//s:rect[@rx]", NS)
    assert len(boxes) == 1 + 8 + 1  # input, eight layers, loss
    texts = [t.text for t in root.findall(".//s:text", NS)]
    for shape in ("1×28×28", "6×28×28", "6×14×14", "16×10×10", "16×5×5", "400", "120", "84", "10", "scalar"):
        assert shape in texts
    assert "conv2d (channels 6, kernel 5, padding 2), relu" in texts


def test_a_residual_fan_out_leaves_one_box_by_two_arrows_one_curved_round_the_side():
    root = _parse("resmlp")
    paths = [p.get("d") for p in root.findall(".//s:path", NS) if p.get("d", "").startswith("M")]
    curved = [d for d in paths if " C " in d]
    assert len(curved) == 2  # the two skip connections of the two residual blocks
    box_top = {int(r.get("y")) for r in root.findall(".//s:rect[@rx]", NS)}
    h1 = sorted(box_top)[1]  # the first layer, h1, which two layers read
    leaving = [d for d in paths if int(re.match(r"M \d+ (\d+)", d).group(1)) in (h1 + 34, h1 + 17)]
    assert len(leaving) == 2


def test_labels_fit_their_boxes_and_the_figure_is_deterministic():
    text = svg(load_spec("cnn_bn", graphs=True), "x")
    assert text == svg(load_spec("cnn_bn", graphs=True), "x")
    root = ET.fromstring(text)
    width = float(root.find(".//s:rect[@rx]", NS).get("width"))
    texts = root.findall(".//s:text", NS)
    for label, shape in zip(texts[::2], texts[1::2]):
        assert CHAR * (len(label.text) + len(shape.text)) + 20 <= width


def test_derive_to_markdown_writes_the_figure_the_document_links(tmp_path, capsys):
    spec = tmp_path / "tiny_res.toml"
    layers = ['id = "h"\nsize = 3', 'id = "f"\nsize = 3', 'type = "add"\nfrom = ["h", "f"]',
              'size = 2\nactivation = "softmax"']
    spec.write_text('inputs = 3\nloss = "softmax_ce"\n' + "".join(f"[[layers]]\n{t}\n" for t in layers))
    out = tmp_path / "tiny.md"
    assert main(["derive", str(spec), "-f", "markdown", "-o", str(out)]) == 0
    assert "![The network tiny_res](tiny_res_network.svg)" in out.read_text("utf-8")
    ET.fromstring((tmp_path / "tiny_res_network.svg").read_text("utf-8"))
