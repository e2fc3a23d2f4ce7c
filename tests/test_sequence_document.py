"""Documents of sequence specs: BPTT at the matrix level as courses write it, recognised from the
derived step (the δ_t recurrence, Σ_t of the weight gradients, the LSTM's cell path through the
forget gate, the GRU's reset gate); LaTeX compiles, Markdown renders in KaTeX."""

from __future__ import annotations

from symbp.cli.app import main
from symbp.core.graph_spec import from_dict
from symbp.core.spec import load_spec
from symbp.docs.graph_document import derive_document
from symbp.docs.pdf import made_by_symbp

RNN_RECURRENCE = (r"\delta h_{t} = \frac{\partial J}{\partial h_t}\Big|_{\text{layers above}} + "
                  r"W_{h}^{\top}\left(\delta h_{t+1} \odot \left(1 - h_{t+1}^{2}\right)\right)")


def test_char_rnn_shows_the_bptt_recurrence_and_the_sum_over_time_of_the_weight_gradient():
    tex = derive_document(load_spec("char_rnn", graphs=True)).latex()
    assert RNN_RECURRENCE in tex
    assert r"\frac{\partial J}{\partial W_{h}} = \sum_t \delta z_{t}\, h_{t-1}^{\top}" in tex


def test_the_recurrence_follows_the_activation_of_the_spec():
    """Derived, not typed in: a sigmoid rnn sends back σ' = h(1 − h) instead of 1 − h²."""
    spec = from_dict({"inputs": [3, 2], "loss": "mse",
                      "layers": [{"type": "rnn", "size": 2, "activation": "sigmoid"}, {"size": 1}]})
    tex = derive_document(spec).latex()
    assert (r"W_{h}^{\top}\left(\delta h_{t+1} \odot h_{t+1} \odot \left(1 - h_{t+1}\right)\right)") in tex
    assert RNN_RECURRENCE not in tex


def test_lstm_lm_shows_the_gates_one_by_one_and_the_cell_path_through_the_forget_gate():
    tex = derive_document(load_spec("lstm_lm", graphs=True)).latex()
    for line in [r"\delta c^{\to}_{t} = \delta c_{t+1} \odot f_{t+1}",
                 r"\delta c_{t-1} = \delta c_{t} \odot f_{t}",
                 r"\delta f_{t} = \delta c_{t} \odot c_{t-1}",
                 r"\delta o_{t} = \delta h_{t} \odot \tanh c_{t}",
                 r"\delta s_{t}^{\langle i_{t} \rangle} = \delta i_{t} \odot i_{t} \odot "
                 r"\left(1 - i_{t}\right)",
                 r"\delta h_{t} = \frac{\partial J}{\partial h_t}\Big|_{\text{layers above}} + "
                 r"W_{h}^{\top} \delta s_{t+1}"]:
        assert line in tex, line


def test_gru_seq_shows_the_reset_gate_on_the_recurrent_term_and_both_paths_of_h():
    tex = derive_document(load_spec("gru_seq", graphs=True)).latex()
    assert r"\delta r_{t} = \delta v_{t} \odot q_{t}^{(n)}" in tex
    assert (r"\delta h_{t} = \frac{\partial J}{\partial h_t}\Big|_{\text{layers above}} + "
            r"\delta h_{t+1} \odot z_{t+1} + W_{h}^{\top} \delta q_{t+1}") in tex


def test_symbp_derive_lstm_lm_writes_a_pdf(tmp_path, capsys):
    """(Markdown of every bundled graph network, these included, renders in KaTeX:
    tests/test_graph_document.py.)"""
    out = tmp_path / "lstm.pdf"
    assert main(["derive", "lstm_lm", "--pdf", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF") and made_by_symbp(out)
