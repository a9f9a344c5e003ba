/**
 * The import rules that keep the TypeScript side's shape (run by scripts/test.sh over src/):
 * no cycles, the runtime and data layers below training and the CLI, and the CLI on top of
 * everything (the SDK never reaches into it). docs/ARCHITECTURE.md, "Guard rails", says why.
 * @type {import("dependency-cruiser").IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "An import cycle makes load order matter and the modules impossible to understand alone.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "runtime-and-data-below-train",
      comment: "src/runtime and src/data serve training and the CLI; they never import either.",
      severity: "error",
      from: { path: "^src/(runtime|data)/" },
      to: { path: "^src/(train|cli)/" },
    },
    {
      name: "library-never-imports-cli",
      comment: "The CLI is a thin layer over the SDK: nothing outside src/cli imports it.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
