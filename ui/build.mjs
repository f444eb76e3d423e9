// Bundles the UI into content-hashed assets and writes index.html pointing at them (the runtime fills in %ROLE%).
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";

const out = process.argv[2] ?? "../.artifacts/ui";
await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, "assets"), { recursive: true });
const result = await build({
  entryPoints: ["src/main.ts", "src/styles.css"],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: "esm",
  target: "es2022",
  outdir: path.join(out, "assets"),
  entryNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});
const outputs = Object.keys(result.metafile.outputs).map((o) => "/assets/" + path.basename(o));
const js = outputs.find((o) => o.endsWith(".js"));
const css = outputs.find((o) => o.endsWith(".css"));
const page = (await readFile("index.html", "utf8")).replace("%JS%", js).replace("%CSS%", css);
await writeFile(path.join(out, "index.html"), page);
console.log(`ui: ${outputs.join(", ")} → ${out}`);
