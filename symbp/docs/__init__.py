"""Documents: LaTeX/Markdown/text derivations, figures, worked examples, PDF."""
