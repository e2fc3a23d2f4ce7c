"""Names and text reach generated code and documents only as validated identifiers, printed
expressions and one-line comments.

* Hostile names (quotes, newlines, dunders, unicode lookalikes, Python keywords, names the
  generated module uses) are refused by the spec, naming the field, before anything is emitted.
* Every name the spec accepts gives a module that still works (no shadowing).
* A description cannot break out of the header comment: the module's syntax tree is the same
  whatever the description says.
* Paths with control characters never reach a header.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import itertools
import keyword
import sys

import numpy as np
import pytest

import symbp
from symbp.cli.app import main
from symbp.codegen.emit import emit_numpy
from symbp.core.errors import SpecError, SymbpError
from symbp.core.optimizers import SELF_CONTAINED
from symbp.core.spec import bundled_names, load_spec
from symbp.verify.kernel import check_kernel

from . import detect
from .tally import count

HOSTILE_NAMES = [
    'x"); import os; ("', "x'); import os; ('", "net\nimport os", "net\n", "\nnet", "net\r",
    "net\x00", "net\u2028", "__class__", "__init__", "__import__", "_", "_x", "1net", "net-1",
    "net.py", "../net", "/tmp/net", "net;rm", "a b", "", " ", "n\u0435t", "\uff4e\uff45\uff54",
    "net\u200b", "net\u202e", "\u0445", "x" * 65, "class", "lambda", "match", "case", "None",
    "True", "np", "{x}", "${x}", "{{x}}", "%s", "x\\", "net\t", "ǅ", "\U0001d465",
]


def _base(**changes) -> dict:
    data = {"inputs": 2, "loss": "half_sse",
            "layers": [{"size": 2, "activation": "sigmoid"}, {"size": 2, "activation": "sigmoid"}]}
    data.update(changes)
    return data


# position -> (spec with the name there, the identifier the name becomes)
POSITIONS = {
    "name": (lambda n: _base(name=n), lambda n: n),
    "activations": (lambda n: _base(activations={n: {"formula": "x/(1+exp(-x))"}}), lambda n: n),
    "losses": (lambda n: _base(losses={n: {"formula": "(a-y)^2"}}), lambda n: n),
    "names.inputs": (lambda n: _base(names={"inputs": [n, "x2"]}), lambda n: n),
    "names.loss": (lambda n: _base(names={"loss": n}), lambda n: n),
    "names.weights": (lambda n: _base(names={"weights": n + "{l}{i}{j}"}), lambda n: n + "111"),
}


def _identifier_ok(name: str) -> bool:
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name) \
        and not keyword.issoftkeyword(name)


@pytest.mark.parametrize("position", list(POSITIONS))
def test_hostile_names_are_refused_before_emission_naming_the_field(position):
    build, placed = POSITIONS[position]
    for name in HOSTILE_NAMES:
        try:
            net = symbp.Network.from_dict(build(name))
        except SpecError as exc:
            message = str(exc)
            assert len(message.splitlines()) == 1 and message.isprintable(), message
            assert message.startswith(position.split(".")[0]), message
        else:
            # What is accepted is a plain ASCII identifier that starts with a letter, and the
            # module made with it imports and agrees with autograd.
            identifier = placed(name)
            assert _identifier_ok(identifier) and identifier[0].isalpha(), (position, name)
            assert check_kernel(net, _load(emit_numpy(net)), batch=2).passed(), (position, name)
        count("hostile_strings")


def _load(text: str):
    from symbp.codegen.load import load_module

    return load_module(text, "injection")


def _generated_identifiers() -> set[str]:
    """Every identifier that the modules of the bundled networks define or use, except the
    networks' own neuron names (w1, a_h1, …) and what is made from them (d_w1)."""
    found, own = set(), set()
    for name in bundled_names():
        net = load_spec(name)
        if net.names:
            from symbp.core.naming import neuron_names

            own |= {n for m in neuron_names(net).all() for n in (m, "d_" + m)}
        tree = ast.parse(emit_numpy(net))
        for node in tree.body:  # functions that call no activation keep their locals to themselves
            if isinstance(node, ast.FunctionDef) and node.name in SELF_CONTAINED:
                found.add(node.name)
                node.body, node.args = [], ast.arguments([], [], None, [], [], None, [])
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                found.add(node.id)
            elif isinstance(node, ast.arg):
                found.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found.add(node.name)
            elif isinstance(node, ast.alias):
                found.add(node.asname or node.name)
    return found - own


def test_formula_activation_names_never_collide_with_names_the_generated_module_uses():
    """An activation becomes ``def <name>(z)`` and is called inside forward/loss_and_grad: any
    name those functions assign or read would shadow it (or it would shadow them)."""
    used = _generated_identifiers() | {n for n in dir(builtins) if n[:1].isalpha()}
    accepted = []
    for name in sorted(used):
        data = _base(activations={name: {"formula": "x/(1+exp(-x))"}},
                     layers=[{"size": 2, "activation": name}, {"size": 2, "activation": "sigmoid"}])
        try:
            symbp.Network.from_dict(data)
        except SpecError as exc:
            assert str(exc).startswith(f"activations.{name}"), str(exc)
        else:
            accepted.append(name)
        count("hostile_strings")
    # Names of the bundled networks' own formula activations (swish) are of course allowed.
    own = {n for name in bundled_names() for n in load_spec(name).formulas["activations"]}
    assert set(accepted) <= own, sorted(set(accepted) - own)


def test_a_formula_activation_named_like_a_neuron_of_the_same_network_still_works():
    for clash in ("a_h1", "z_h1", "w5", "E_total", "i1", "d_w1"):
        data = {**_base(), "names": {"inputs": ["i1", "i2"], "weights": ["w1", "w2", "w3", "w4",
                                                                         "w5", "w6", "w7", "w8"],
                                     "pre_activations": [["z_h1", "z_h2"], ["z_o1", "z_o2"]],
                                     "activations": [["a_h1", "a_h2"], ["a_o1", "a_o2"]],
                                     "loss": "E_total"},
                "activations": {clash: {"formula": "x/(1+exp(-x))"}},
                "layers": [{"size": 2, "activation": clash}, {"size": 2, "activation": "sigmoid"}]}
        try:
            net = symbp.Network.from_dict(data)
        except SpecError as exc:
            assert str(exc).startswith(("activations", "names")), str(exc)
        else:
            assert check_kernel(net, _load(emit_numpy(net)), batch=2).passed(), clash
        count("hostile_strings")


def test_every_accepted_neuron_name_gives_a_working_kernel():
    """Neuron names reach the generated code (small networks are computed on named scalars):
    a name the spec accepts must not shadow anything the module relies on."""
    used = sorted(_generated_identifiers() | {"len", "zip", "float", "math", "range", "sum", "d_x2"})
    broken = []
    for name in used:
        data = _base(names={"inputs": [name, "x2"], "targets": ["t1", "t2"]})
        try:
            net = symbp.Network.from_dict(data)
        except SpecError as exc:
            assert str(exc).startswith("names"), str(exc)
            continue
        finally:
            count("hostile_strings")
        try:
            report = check_kernel(net, _load(emit_numpy(net)), batch=2)
            ok = report.passed()
        except Exception:  # noqa: BLE001 - any failure of the kernel is the finding
            ok = False
        if not ok:
            broken.append(name)
    assert not broken, f"accepted neuron names that break the kernel: {broken}"


DESCRIPTIONS = [
    'ends the docstring """; import os; os.system("touch PWNED"); """',
    "ends the docstring '''; import os; os.system('touch PWNED'); '''",
    "line one\nimport os; os.system('touch PWNED')",
    "carriage\rimport os; os.system('touch PWNED')",
    "form feed\x0cimport os", "vertical tab\x0bimport os", "next line\x85import os",
    "line separator\u2028import os", "paragraph\u2029import os", "file separator\x1cimport os",
    "a trailing backslash \\", "\\n is not a newline, \\x00 is not NUL", "--> <script>alert(1)</script> <!--",
    "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}", "{% raw %}", "%s %(x)s",
    r"\input{/etc/passwd} \write18{touch PWNED}", "tab\tseparated", "  leading and trailing  ",
    "ünïcödé ∂J/∂W σ′ — fine",
]


def _shape(text: str) -> str:
    """The module's syntax tree with docstrings blanked: comments are not in it, so a
    description that stayed inside its comment (or docstring) leaves it unchanged."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body[0].value.value = ""
    return ast.dump(tree)


def test_a_description_cannot_break_out_of_the_header_comment(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    benign = _shape(emit_numpy(symbp.Network.from_dict(_base(name="d", description="plain"))))
    for description in DESCRIPTIONS:
        try:
            net = symbp.Network.from_dict(_base(name="d", description=description))
        except SpecError as exc:
            assert str(exc).startswith("description:") and "\n" not in str(exc)
            count("hostile_strings")
            continue
        assert "\n" not in net.description and net.description.isprintable()
        kernel = emit_numpy(net)
        header = list(itertools.takewhile(lambda line: line.startswith("#"), kernel.splitlines()))
        assert len(header) == 3 and all(line.startswith("# ") for line in header), header
        assert _shape(kernel) == benign, description
        spec = tmp_path / "d.json"
        spec.write_text(__import__("json").dumps(_base(name="d", description=description)))
        assert main(["derive", str(spec), "-o", "d.txt"]) == 0
        document = (tmp_path / "d.txt").read_text("utf-8").splitlines()
        doc_header = list(itertools.takewhile(lambda line: line.startswith("#"), document))
        assert len(doc_header) == 3 and not document[3].startswith(("import", " ")), document[:5]
        with detect.Watch("PWNED", tmp_path, compiles=False) as watch:
            _import_file(kernel, tmp_path / "d_kernel.py")
        watch.assert_nothing_ran()
        count("hostile_strings")
    capsys.readouterr()


DOCUMENT_DESCRIPTIONS = ["line one\nimport os; os.system('touch PWNED')",
                         "--> <script>alert(1)</script> <!--", r"\input{/etc/passwd} \write18{ls}"]


def test_a_description_cannot_break_out_of_markdown_latex_or_svg_headers(tmp_path, monkeypatch,
                                                                          capsys):
    monkeypatch.chdir(tmp_path)
    for i, description in enumerate(DOCUMENT_DESCRIPTIONS):
        spec = tmp_path / f"d{i}.json"
        spec.write_text(__import__("json").dumps(_base(name=f"d{i}", description=description)))
        assert main(["derive", str(spec), "-o", f"d{i}.md"]) == 0
        assert main(["derive", str(spec), "-o", f"d{i}.tex"]) == 0
        for suffix in (".md", ".tex"):
            text = (tmp_path / f"d{i}{suffix}").read_text("utf-8")
            if suffix == ".tex":
                header = list(itertools.takewhile(lambda line: line.startswith("%"), text.splitlines()))
                assert len(header) == 3, text[:300]
            else:
                # The first "-->" is the one that closes the three-line header comment.
                comment = text[:text.index("-->") + 3]
                assert comment.startswith("<!--") and comment.count("\n") == 2, comment
        for svg in tmp_path.glob(f"d{i}*.svg"):
            text = svg.read_text("utf-8")
            comment = text[text.index("<!--"):text.index("-->") + 3]
            assert comment.count("\n") == 2 and "--" not in comment[4:-3], comment  # valid XML
        count("hostile_strings")
    capsys.readouterr()


def _import_file(text: str, path):
    path.write_text(text, "utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop(path.stem, None)
    spec.loader.exec_module(module)
    assert hasattr(module, "loss_and_grad")
    return module


@pytest.mark.parametrize("argv", [
    ["emit", "spec\nimport os\nos.system('touch PWNED')\n.toml", "-o", "k.py"],
    ["emit", "mazur", "-o", "k\nimport os\nos.system('touch PWNED')\n.py"],
    ["emit", "mazur", "-o", "k\u2028import os.py"],
    ["derive", "mazur", "-o", "d\rimport os.txt"],
    ["run", "mazur", "-o", "out\nimport os"],
    ["emit", "spec\x00.toml", "-o", "k.py"],
], ids=["spec-path", "output-path", "line-separator", "carriage-return", "run-folder", "nul"])
def test_paths_with_control_characters_never_reach_a_header(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if argv[1].startswith("spec\n"):
        (tmp_path / argv[1]).write_text('inputs = 2\n[[layers]]\nsize = 1\n')
    before = {p.name for p in tmp_path.iterdir()}
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "control characters" in err, err
    assert {p.name for p in tmp_path.iterdir()} == before
    count("hostile_strings")


def test_formulas_reach_the_kernel_only_as_printed_numpy_expressions():
    """The helper for a formula activation is NumPy code printed from the parsed expression: the
    user's text itself (spacing, ^, constants written as e or pi) never appears as code."""
    for text, expect in [("x * e^(-x^2)", "np.exp"), ("max(x, 0.2*x)", "np.maximum"),
                         ("x/(1+exp(-x))", "np.exp"), ("pi*atan(x)", "np.arctan"),
                         ("x*tanh(softplus(x))", "np.logaddexp")]:
        net = symbp.Network.from_dict(_base(
            activations={"act": {"formula": text}},
            layers=[{"size": 2, "activation": "act"}, {"size": 2, "activation": "sigmoid"}]))
        kernel = emit_numpy(net)
        tree = ast.parse(kernel)
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        helper = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "act")
        code = ast.unparse(helper.body[-1])
        assert any(e in code for e in expect) and "^" not in code and text not in code, code
        names = {n.id for n in ast.walk(helper) if isinstance(n, ast.Name)}
        assert names <= {"np", "z", "out"} | functions, names
        z = np.array([[-3.0, -0.5], [0.25, 2.0]])
        got = _load(kernel).act(z)
        want = [[float(net.activation_expr(1).subs(symbp.core.activations.x, v)) for v in row] for row in z]
        np.testing.assert_allclose(got, want, rtol=1e-13)
        attrs = {n.attr for n in ast.walk(helper) if isinstance(n, ast.Attribute)}
        assert all(hasattr(np, a) or a in ("T",) for a in attrs), attrs
        count("hostile_strings")


def test_spec_errors_are_symbp_errors_with_one_line():
    for name in HOSTILE_NAMES:
        for build, _ in POSITIONS.values():
            try:
                symbp.Network.from_dict(build(name))
            except SymbpError as exc:
                assert len(str(exc).splitlines()) == 1, str(exc)
