// Parse Mermaid diagrams with Mermaid's own parser (mermaid.parse), no browser: jsdom gives it the DOM globals
// that its sanitizer needs. Reads a JSON list of diagram texts on stdin; prints a JSON list of
// {"ok": true, "type": "xychart"} or {"ok": false, "error": "Parse error on line 2: ..."}.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let input = "";
for await (const chunk of process.stdin) input += chunk;
const out = [];
for (const text of JSON.parse(input)) {
  try {
    const result = await mermaid.parse(text);
    out.push({ ok: true, type: result.diagramType });
  } catch (err) {
    out.push({ ok: false, error: String((err && err.message) || err) });
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
