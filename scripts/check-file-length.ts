/**
 * No file of code over 450 lines: past that a file holds more than one concept (the developers'
 * guide). Exits 1 listing the files over the limit. Every file git knows (tracked, or new and not
 * ignored) counts, except data and prose, which DATA lists explicitly.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const MAX_LINES = 450;

/** Data and prose, not code: datasets, lock files, fixtures, word lists, configs, docs, images. */
const DATA: RegExp[] = [
  /\.(json|jsonl|ya?ml|toml|txt|lock|md|png|jpe?g|webp)$/,
  /(^|\/)\.gitignore$/,
  /^test\/fixtures\//,
];

const root = join(import.meta.dirname, "..");
const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], {
  cwd: root,
  encoding: "utf8",
  maxBuffer: 64 * 1024 * 1024,
})
  .split("\0")
  .filter((file) => file !== "" && !DATA.some((pattern) => pattern.test(file)));

const tooLong: string[] = [];
for (const file of new Set(files)) {
  let text: string;
  try {
    text = readFileSync(join(root, file), "utf8");
  } catch {
    continue; // deleted in the work tree but not yet in the index
  }
  const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
  if (lines > MAX_LINES) tooLong.push(`  ${file}: ${lines} lines`);
}
if (tooLong.length > 0) {
  process.stderr.write(
    `file length: ${tooLong.length} file(s) over ${MAX_LINES} lines (split them by concept)\n`,
  );
  process.stderr.write(`${tooLong.join("\n")}\n`);
  process.exit(1);
}
process.stderr.write(`file length: ${files.length} files, none over ${MAX_LINES} lines\n`);
