// Builds src/widget.js into the file the Python package ships (toucan_nb/notebook/static/widget.js).
// `node scripts/build.mjs --check` rebuilds in memory and fails when the committed file is stale.
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outfile = resolve(here, "../../toucan_nb/notebook/static/widget.js");
const banner = "// Generated from js/src/widget.js by `npm run build` (js/scripts/build.mjs). Do not edit.";

const result = await build({
  entryPoints: [resolve(here, "../src/widget.js")],
  bundle: true,
  format: "esm",
  target: "es2020",
  legalComments: "none",
  banner: { js: banner },
  write: false,
  outfile,
});
const text = result.outputFiles[0].text;

if (process.argv.includes("--check")) {
  const committed = await readFile(outfile, "utf8").catch(() => "");
  if (committed !== text) {
    console.error(`${outfile} is out of date: run \`npm run build\` in js/ and commit it`);
    process.exit(1);
  }
  console.log("widget.js is up to date");
} else {
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, text);
  console.log(`wrote ${outfile} (${text.length} bytes)`);
}
