// Render every math span of the given Markdown files with KaTeX, failing on the first error of
// each span: throwOnError, and strict mode "error" so that anything KaTeX only tolerates
// (and other renderers may reject) fails too.
//
// Usage: node tests/katex_check.js FILE.md ...
// Prints one JSON object: {"spans": N, "errors": [{"file", "line", "tex", "message"}, ...]}.
// Exit status 0 when every span rendered, 1 otherwise.
"use strict";

const fs = require("fs");
const katex = require("katex");

// Display math is $$ on its own lines; inline math is $...$ within one line, outside code spans.
function spans(text) {
  const out = [];
  const lines = text.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, " ")).split("\n");
  let display = null;
  let fence = false;
  lines.forEach((line, i) => {
    if (/^\s*```/.test(line)) {
      fence = !fence;
      return;
    }
    if (fence) return;
    if (line.trim() === "$$") {
      if (display === null) {
        display = { line: i + 1, body: [] };
      } else {
        out.push({ line: display.line, tex: display.body.join("\n"), display: true });
        display = null;
      }
      return;
    }
    if (display !== null) {
      display.body.push(line);
      return;
    }
    const prose = line.replace(/`[^`]*`/g, (c) => " ".repeat(c.length));
    const inline = /(?<![\\$])\$(?!\$)([^$]+?)(?<!\\)\$/g;
    let m;
    while ((m = inline.exec(prose)) !== null) {
      out.push({ line: i + 1, tex: m[1], display: false });
    }
  });
  if (display !== null) {
    out.push({ line: display.line, tex: null, display: true, unclosed: true });
  }
  return out;
}

const errors = [];
let count = 0;
for (const file of process.argv.slice(2)) {
  for (const span of spans(fs.readFileSync(file, "utf8"))) {
    count += 1;
    if (span.unclosed) {
      errors.push({ file, line: span.line, tex: "", message: "unclosed $$ block" });
      continue;
    }
    try {
      katex.renderToString(span.tex, { displayMode: span.display, throwOnError: true, strict: "error" });
    } catch (e) {
      errors.push({ file, line: span.line, tex: span.tex.slice(0, 200), message: String(e.message) });
    }
  }
}
process.stdout.write(JSON.stringify({ spans: count, errors }) + "\n");
process.exit(errors.length ? 1 : 0);
