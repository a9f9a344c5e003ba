/**
 * The package a user installs, tried as a user would: a clean copy of the checkout (no dist/, no
 * venv) is packed with `npm pack` (which builds through `prepack`), the tarball is checked for size
 * and contents, installed into an empty project, and used there: the README's SDK example is
 * type-checked against the shipped .d.ts files and run against the offline referee, `npx arr --help`
 * and `npx arr doctor --json` run, and pythonia starts the shipped Python facade.
 *
 * npm resolves the tarball's dependencies from its cache (`--prefer-offline`): after `npm ci` the
 * cache holds their tarballs; package metadata it lacks comes from the registry, as for `npm ci`.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DoctorReport } from "../../src/runtime/doctor.js";

const root = join(import.meta.dirname, "..", "..");
const venvPython = join(root, "py-runtime", ".venv", "bin", "python");
const MAX_TARBALL_BYTES = 2 * 1024 * 1024;

interface PackResult {
  filename: string;
  size: number;
  files: { path: string; size: number }[];
}

let work: string;
let consumer: string;
let packed: PackResult;
let install: { exitCode?: number | undefined; all: string };
/** The environment of every command run in the consumer: no ARR_PYTHON, an empty ARR_HOME. */
let userEnv: Record<string, string | undefined>;

/** Files a clean clone would have: tracked plus new, not ignored (no dist/, venv, caches, runs). */
async function copyCheckout(to: string): Promise<void> {
  const listed = await execa("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: root,
  });
  for (const path of new Set(listed.stdout.split("\0").filter(Boolean))) {
    const from = join(root, path);
    try {
      mkdirSync(dirname(join(to, path)), { recursive: true });
      copyFileSync(from, join(to, path));
    } catch (error) {
      // deleted in the working tree but still in the index: a clean clone of the change lacks it too
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  // The dependencies `npm ci` installed (prepack needs tsc); never written to.
  symlinkSync(realpathSync(join(root, "node_modules")), join(to, "node_modules"));
}

/** The first ```ts block after the README's `## SDK` heading. */
function readmeExample(): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const sdk = readme.slice(readme.indexOf("\n## SDK"));
  const match = /```ts\n([\s\S]*?)```/.exec(sdk);
  if (!match?.[1]) throw new Error("README.md: no ```ts block in the SDK section");
  return match[1];
}

/** `^x.y.z` (the only form pythonia uses) against a version. */
function satisfiesCaret(version: string, range: string): boolean {
  const [min, v] = [range.replace(/^\^/, ""), version].map((s) => s.split(".").map(Number)) as [
    number[],
    number[],
  ];
  if (v[0] !== min[0]) return false;
  for (let i = 1; i < 3; i++) if ((v[i] ?? 0) !== (min[i] ?? 0)) return (v[i] ?? 0) > (min[i] ?? 0);
  return true;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "arr-package-"));
  const checkout = join(work, "checkout");
  await copyCheckout(checkout);
  const pack = await execa("npm", ["pack", "--json", "--pack-destination", work], {
    cwd: checkout,
    all: true,
  });
  packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as PackResult[])[0] as PackResult;

  consumer = join(work, "consumer");
  mkdirSync(consumer);
  await writeFile(
    join(consumer, "package.json"),
    '{ "name": "consumer", "private": true, "type": "module" }\n',
  );
  userEnv = { ...process.env, ARR_PYTHON: undefined, ARR_HOME: join(work, "arr-home") };
  install = await execa(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, packed.filename)],
    { cwd: consumer, all: true, reject: false, env: userEnv },
  );
}, 600_000);

afterAll(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

describe("npm pack", () => {
  it("ships the built SDK, CLI and Python runtime in a tarball under 2 MB", () => {
    expect(packed.size).toBeLessThan(MAX_TARBALL_BYTES);
    const paths = packed.files.map((f) => f.path);
    for (const path of [
      "LICENSE",
      "README.md",
      "package.json",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/cli/main.js",
      "configs/tiny-cpu.yaml",
      "assets/seeds/seeds.jsonl",
      "py-runtime/requirements.lock",
      "py-runtime/autorubric_runtime/facade.py",
    ]) {
      expect(paths, path).toContain(path);
    }
  });

  it("ships no venv, tests, sources, scripts, caches or source maps", () => {
    const unwanted = [
      /(^|\/)\.venv\//,
      /(^|\/)__pycache__\//,
      /\.pyc$/,
      /\.map$/,
      /^(src|test|bench|scripts|docs|runs)\//,
      /^py-runtime\/tests\//,
      /(^|\/)\.(cache|arr-cache|pytest_cache|ruff_cache)\//,
    ];
    const bad = packed.files.map((f) => f.path).filter((p) => unwanted.some((re) => re.test(p)));
    expect(bad).toEqual([]);
  });

  it("links from the README only to shipped files or absolute URLs", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const shipped = new Set(packed.files.map((f) => f.path));
    const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter((l) => !/^https?:\/\//.test(l) && !shipped.has(l.replace(/^\.\//, "")))).toEqual([]);
  });
});

describe("npm install <tarball> into an empty project", () => {
  it("installs without install scripts, with every peer dependency met (pythonia's ws included)", async () => {
    expect(install.exitCode, install.all).toBe(0);
    const pkg = JSON.parse(readFileSync(join(consumer, "node_modules/autorubric/package.json"), "utf8"));
    for (const script of ["preinstall", "install", "postinstall", "prepare"]) {
      expect(pkg.scripts?.[script], script).toBeUndefined();
    }
    // `npm ls` exits non-zero on a missing or invalid (peer) dependency anywhere in the tree.
    const ls = await execa("npm", ["ls", "--all"], { cwd: consumer, reject: false, all: true });
    expect(ls.exitCode, ls.all).toBe(0);
    // pythonia's peer `ws` range against the ws Node finds at run time: pythonia as autorubric
    // resolves it, then ws as pythonia resolves it.
    const resolveFrom = async (from: string, name: string): Promise<string> => {
      const request = JSON.stringify(`${name}/package.json`);
      const r = await execa(process.execPath, [
        "-p",
        `require.resolve(${request}, { paths: [${JSON.stringify(from)}] })`,
      ]);
      return dirname(r.stdout.trim());
    };
    const pythonia = await resolveFrom(join(consumer, "node_modules/autorubric"), "pythonia");
    const range = JSON.parse(readFileSync(join(pythonia, "package.json"), "utf8")).peerDependencies
      .ws as string;
    const ws = await resolveFrom(pythonia, "ws");
    const version = JSON.parse(readFileSync(join(ws, "package.json"), "utf8")).version as string;
    expect(satisfiesCaret(version, range), `ws ${version} (${ws}) vs ${range}`).toBe(true);
  });

  it("type-checks the README's SDK example against the shipped types and runs it on the referee", async () => {
    await writeFile(join(consumer, "example.mts"), readmeExample());
    await writeFile(
      join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noUncheckedIndexedAccess: true,
          outDir: "out",
          types: ["node"],
          typeRoots: [join(root, "node_modules", "@types")],
          // The libraries' .d.ts need no checking here (ten times slower); what ours import is
          // checked below.
          skipLibCheck: true,
        },
        files: ["example.mts"],
      }),
    );
    const tsc = await execa(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "."], {
      cwd: consumer,
      reject: false,
      all: true,
    });
    expect(tsc.exitCode, tsc.all).toBe(0);
    const run = await execa(process.execPath, ["out/example.mjs"], {
      cwd: consumer,
      reject: false,
      env: userEnv,
    });
    expect(run.exitCode, run.stderr).toBe(0);
    const criteria = Number(/rubric: (\d+) verified criteria/.exec(run.stdout)?.[1]);
    expect(criteria).toBeGreaterThan(0);
    const agreed = /agrees with (\d+) of (\d+) human labels/.exec(run.stdout);
    expect(Number(agreed?.[2])).toBe(8);
    expect(readFileSync(join(consumer, "rubric.yaml"), "utf8")).toContain("criteria:");
  });

  it("ships .d.ts files that import only Node built-ins and its own dependencies", async () => {
    const installed = join(consumer, "node_modules/autorubric");
    const deps = Object.keys(JSON.parse(readFileSync(join(installed, "package.json"), "utf8")).dependencies);
    const dts = packed.files.map((f) => f.path).filter((p) => p.endsWith(".d.ts"));
    expect(dts.length).toBeGreaterThan(10);
    const foreign = new Set<string>();
    for (const file of dts) {
      const text = readFileSync(join(installed, file), "utf8");
      for (const m of text.matchAll(/(?:from\s+|import\()"([^"]+)"/g)) {
        const spec = m[1] as string;
        if (spec.startsWith(".") || spec.startsWith("node:")) continue;
        const name = spec.startsWith("@")
          ? spec.split("/").slice(0, 2).join("/")
          : (spec.split("/")[0] as string);
        if (!deps.includes(name)) foreign.add(`${file}: ${spec}`);
      }
    }
    expect([...foreign]).toEqual([]);
  });

  it("runs `npx arr --help` and `npx arr doctor --json`, which names `npx arr setup` until the runtime exists", async () => {
    const help = await execa("npx", ["--no-install", "arr", "--help"], { cwd: consumer, env: userEnv });
    expect(help.stdout).toMatch(/^\s+setup\b/m);
    expect(help.stdout).toMatch(/^\s+doctor\b/m);

    const doctor = await execa("npx", ["--no-install", "arr", "doctor", "--json"], {
      cwd: consumer,
      env: userEnv,
      reject: false,
    });
    expect(doctor.exitCode).toBe(1);
    const report = JSON.parse(doctor.stdout) as DoctorReport;
    const python = report.checks.find((c) => c.name === "Python");
    expect(python?.ok).toBe(false);
    expect(python?.problem).toContain(join(userEnv.ARR_HOME as string, "py-"));
    expect(python?.fix).toMatch(/^run `npx arr setup`/);
  });

  it("runs the shipped Python runtime: doctor passes with a set-up interpreter, and pythonia starts the facade", async () => {
    const env = { ...userEnv, ARR_PYTHON: venvPython };
    const doctor = await execa("npx", ["--no-install", "arr", "doctor", "--json"], {
      cwd: consumer,
      env,
      reject: false,
    });
    const report = JSON.parse(doctor.stdout) as DoctorReport;
    expect(report.ok, doctor.stdout).toBe(true);
    expect(report.checks.find((c) => c.name === "autorubric_runtime")?.ok).toBe(true);

    const script =
      'import { createBridge } from "autorubric"; const b = await createBridge(); ' +
      'try { console.log(JSON.stringify(await b.call("ping", { echo: 1 }))); } finally { await b.close(); }';
    const bridge = await execa(process.execPath, ["--input-type=module", "-e", script], {
      cwd: consumer,
      env,
      reject: false,
    });
    expect(bridge.exitCode, bridge.stderr).toBe(0);
    expect(bridge.stdout.trim().length).toBeGreaterThan(0);
  });
});
