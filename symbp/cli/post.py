"""The ``check-post`` subcommand: every equation and number of a Markdown or LaTeX post.

Without --spec the network is inferred from the post (symbp.check.post_infer), printed with the
assumptions made, and written with --save-spec. Exit codes: 0 every checked line holds, 1 some
line is wrong, 2 bad input (unreadable post or spec, a network the post does not state).
``--annotate OUT`` writes a copy of the post, Markdown or LaTeX as the post is, with each checked
line marked (✓ holds, ✗ wrong, ~ truncated) and a footnote per wrong or truncated line
(symbp.check.post_annotate).
"""

from __future__ import annotations

import argparse
import tomllib

from ..check.notation import PRESETS
from ..core.errors import SymbpError
from ..core.files import write_outputs
from ..core.spec import Network, load_spec

EPILOG = """
Each math span ($…$, $$…$$, \\[…\\], equation/align) is read row by row (rows split at \\\\;
'& =' continues the row above). A row L = A = … = 0.3775 is checked side by side: names as
'symbp check' does, printed numbers as 'symbp check-example' does (rounded to the digits printed;
truncated values are marked), arithmetic on printed numbers to 6 digits, update rules
(w_5^+ = w_5 - \\eta …) with the learning rate. Tables '| $w_1$ | 0.15 |' and figures in prose
('after 10000 iterations the total error is …') are checked too. Every span gets a verdict:
holds, wrong (with the reason), or not checked (with the reason; --verbose lists them).
The post is data: it is never executed, and macros (\\def, \\input …) are never expanded.
exit codes: 0 every checked line holds, 1 some line is wrong, 2 bad input
"""


def cmd_check_post(args: argparse.Namespace) -> int:
    from ..check.post import read_post
    from ..check.post_annotate import annotate
    from ..check.post_check import check_post

    post = read_post(args.post)
    if args.annotate:
        _check_annotate_suffix(args.annotate, post.kind)
    if args.save_spec and args.spec is not None:
        raise SymbpError("--save-spec writes the network inferred from the post: leave out --spec")
    net = load_spec(args.spec) if args.spec is not None else _inferred(args)
    lr = args.lr
    if lr is None and "learning_rate" in net.example:
        lr = repr(float(net.example["learning_rate"]))
    report = check_post(post, net, lr=lr, strict=args.strict_rounding, numbering=args.layer_numbering,
                        notation=args.notation)
    if lr is not None:
        report.notes.append(f"update rules and values after a step use the learning rate {lr}"
                            + ("" if args.lr else " (the spec's example; --lr to change it)"))
    print(report.render(verbose=args.verbose))
    if args.annotate:
        for path in write_outputs([(args.annotate, annotate(report, args.post))], force=args.force):
            print(f"wrote {path}")
    return report.exit_code


def _check_annotate_suffix(path: str, kind: str) -> None:
    """The annotated copy is of the post's kind: OUT.md for a Markdown post, OUT.tex for LaTeX."""
    from ..check.post_annotate import FLAVOURS

    suffixes = FLAVOURS[kind].suffixes
    if not path.lower().endswith(suffixes):
        raise SymbpError(f"--annotate {path}: the copy of a {kind} post is {kind} too; "
                         f"give a file ending in {' or '.join(suffixes)}")


def _inferred(args: argparse.Namespace) -> Network:
    """The network inferred from the post, printed (and written with --save-spec)."""
    from ..check.post import read_post
    from ..check.post_infer import infer_network

    inferred = infer_network(read_post(args.post))
    text = inferred.toml(args.post)
    print("no --spec: the network inferred from the post (--save-spec FILE writes it):")
    print("\n".join("  " + line if line else "" for line in text.splitlines()))
    if args.save_spec:
        for path in write_outputs([(args.save_spec, text)], force=args.force):
            print(f"wrote {path}")
    return load_spec(tomllib.loads(text))


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register check-post on the ``symbp`` parser."""
    p = sub.add_parser("check-post", help="check every equation and number of a Markdown or LaTeX post",
                       description="Check a whole post (.md or .tex) against a network.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("post", metavar="POST", help="the post: Markdown (.md, .txt) or LaTeX (.tex)")
    p.add_argument("--spec", help="a spec file (.toml/.json) or a bundled network name (e.g. mazur); "
                                  "default: the network inferred from the post")
    p.add_argument("--save-spec", metavar="FILE.toml", help="write the network inferred from the post")
    p.add_argument("--lr", help="learning rate of update rules (default: the spec's example)")
    p.add_argument("--strict-rounding", action="store_true",
                   help="count truncated values (0.751365069 for 0.7513650695) as wrong")
    p.add_argument("--notation", choices=list(PRESETS), default="symbp",
                   help="the post's conventions: " + "; ".join(x.description for x in PRESETS.values()))
    p.add_argument("--layer-numbering", choices=["from0", "from1"], default=None,
                   help="from0: a^0 = x; from1: the input is layer 1 (default: the notation's)")
    p.add_argument("--annotate", metavar="OUT.md|OUT.tex",
                   help="write a copy of the post (Markdown or LaTeX, as the post is) with each checked "
                        "line marked and a footnote per wrong line")
    p.add_argument("--force", action="store_true", help="overwrite a file symbp did not write")
    p.add_argument("--verbose", action="store_true", help="also list the lines not checked, with the reason")
    p.set_defaults(func=cmd_check_post)
