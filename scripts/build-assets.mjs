// Build Civicstack's front-end assets into src/civicstack/static/build/:
// govuk-frontend styles compiled with Civicstack's brand (system fonts, own colours,
// never the GOV.UK font or crown), govuk-frontend's script, htmx, and the bpmn-js viewer
// that draws a case's process in the back office.
import { mkdirSync, copyFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sass from "sass";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "src/civicstack/static/build");
mkdirSync(out, { recursive: true });

const css = sass.compile(join(root, "src/civicstack/static/scss/civicstack.scss"), {
  loadPaths: [join(root, "node_modules")],
  style: "compressed",
  quietDeps: true,
  silenceDeprecations: ["import"],
});
// The footer's copyright crest is GOV.UK's own mark: Civicstack never shows it.
writeFileSync(
  join(out, "civicstack.css"),
  css.css.replaceAll('url("/assets/images/govuk-crest.svg")', "none"),
);

copyFileSync(
  join(root, "node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js"),
  join(out, "govuk-frontend.min.js"),
);
copyFileSync(join(root, "node_modules/htmx.org/dist/htmx.min.js"), join(out, "htmx.min.js"));

// The viewer only (no modeler): the back office shows processes, it does not edit them.
// Its licence requires the bpmn.io watermark it draws to stay visible.
const bpmnDist = join(root, "node_modules/bpmn-js/dist");
copyFileSync(join(bpmnDist, "bpmn-viewer.production.min.js"), join(out, "bpmn-viewer.min.js"));
copyFileSync(join(bpmnDist, "assets/diagram-js.css"), join(out, "diagram-js.css"));
copyFileSync(join(bpmnDist, "assets/bpmn-js.css"), join(out, "bpmn-js.css"));
console.log(`assets built in ${out}`);
