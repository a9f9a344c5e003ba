/**
 * The TypeScript import rules (.dependency-cruiser.cjs) over src/; exits 1 listing every violation.
 * dependency-cruiser's CLI refuses Node 20 (its engines field says ^22), its API runs fine on it,
 * so scripts/test.sh calls this instead of `depcruise`.
 */
import { join } from "node:path";
import { cruise, type IViolation } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";

const root = join(import.meta.dirname, "..");
process.chdir(root);
const options = await extractDepcruiseOptions("./.dependency-cruiser.cjs");
const tsConfig = extractTSConfig("tsconfig.json");
const { output } = await cruise(["src"], { ...options, validate: true }, undefined, { tsConfig });
if (typeof output === "string") throw new Error("dependency-cruiser returned text; expected its JSON result");

function describe(v: IViolation): string {
  const path = v.cycle?.length
    ? `${v.from} -> ${v.cycle.map((step) => step.name).join(" -> ")}`
    : `${v.from} -> ${v.to}`;
  return `  ${v.rule.name}: ${path}`;
}

const { violations, totalCruised } = output.summary;
if (violations.length > 0) {
  process.stderr.write(`import rules: ${violations.length} violation(s) in ${totalCruised} modules\n`);
  for (const v of violations) process.stderr.write(`${describe(v)}\n`);
  process.stderr.write("the rules and why: .dependency-cruiser.cjs, docs/ARCHITECTURE.md (Guard rails)\n");
  process.exit(1);
}
process.stderr.write(`import rules: ${totalCruised} modules, no violations\n`);
