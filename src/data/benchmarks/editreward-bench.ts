/**
 * EditReward-Bench (TIGER-Lab/EditReward), the 2-, 3- and 4-candidate JSON files.
 *
 * Verified against the authors' evaluation code (EditReward/evaluate/eval_bench.py, which reads
 * `EditReward_Bench_{2,3,4}pair.json`): a JSON array of
 *   `{ prompt, path_src, paths_generated: [..], human_vote: { ranking: "A>B" | "B>A" | "A<B" |
 *      "A=B=Good" | "A=B=Bad" | "C>A>B" | ... } }`
 * where letters name `paths_generated` in order and ">" reads "better than". Tie labels
 * (A=B=...) cannot be matched by a judge that must rank strictly, so such items are excluded and
 * counted, never scored. Multi-candidate items are scored by exact ranking equality, like the
 * authors' "strict ranking accuracy".
 * NOT verified: the Hugging Face release is parquet with embedded images and its column names
 * could not be confirmed; a per-item subtask field is also unconfirmed, so `category`,
 * `task_type`, `subtask` or `edit_type` is used when present (none of them may exist), and
 * `instruction` is accepted as an alias of `prompt`. Paths are relative to the JSON's folder
 * (or --image-root).
 */
import {
  type AdapterOptions,
  type AdapterResult,
  BadField,
  collect,
  imageRootOf,
  readRecords,
  resolveImage,
} from "../records.js";

/** Parses a ranking string into ranks aligned with the candidates; null for a tie label. */
export function parseVoteRanking(ranking: string, candidates: number): number[] | null {
  const s = ranking.replace(/\s+/g, "");
  if (/^[A-Z](=[A-Z])+(=\w+)?$/i.test(s) || s.includes("=")) return null;
  const worseFirst = s.includes("<");
  if (worseFirst && s.includes(">"))
    throw new BadField("human_vote.ranking", `mixed "<" and ">" in "${ranking}"`);
  const letters = s.split(worseFirst ? "<" : ">");
  if (worseFirst) letters.reverse();
  if (letters.length !== candidates || letters.some((l) => !/^[A-Z]$/i.test(l))) {
    throw new BadField("human_vote.ranking", `"${ranking}" does not rank ${candidates} candidates`);
  }
  const ranks = new Array<number>(candidates).fill(0);
  letters.forEach((letter, position) => {
    const index = letter.toUpperCase().charCodeAt(0) - 65;
    if (index >= candidates || ranks[index] !== 0) {
      throw new BadField("human_vote.ranking", `"${ranking}" names a candidate twice or out of range`);
    }
    ranks[index] = position + 1;
  });
  return ranks;
}

export async function loadEditRewardBench(
  file: string,
  options: AdapterOptions = {},
): Promise<AdapterResult> {
  const root = imageRootOf(file, options);
  const records = await readRecords(file);
  return collect(file, records, options, async (r, id) => {
    const promptField = typeof r.prompt === "string" ? "prompt" : "instruction";
    const prompt = r[promptField];
    if (typeof prompt !== "string" || prompt.trim() === "")
      throw new BadField("prompt", "missing instruction");
    const sourceImage = await resolveImage(r.path_src, "path_src", root);
    if (!Array.isArray(r.paths_generated) || r.paths_generated.length < 2) {
      throw new BadField("paths_generated", "expected a list of at least 2 edited images");
    }
    const images: string[] = [];
    for (const [i, p] of r.paths_generated.entries())
      images.push(await resolveImage(p, `paths_generated[${i}]`, root));
    const vote = r.human_vote;
    const ranking =
      typeof vote === "object" && vote !== null ? (vote as Record<string, unknown>).ranking : undefined;
    if (typeof ranking !== "string") throw new BadField("human_vote.ranking", "missing ranking string");
    const labelRank = parseVoteRanking(ranking, images.length);
    if (labelRank === null) {
      return { excluded: { id, field: "human_vote.ranking", reason: `human label is a tie (${ranking})` } };
    }
    const categoryKey = ["category", "task_type", "subtask", "edit_type"].find(
      (k) => typeof r[k] === "string" && r[k],
    );
    return {
      pair: {
        id,
        task: "edit",
        prompt,
        sourceImage,
        images,
        labelRank,
        ...(categoryKey ? { category: r[categoryKey] as string } : {}),
        meta: { candidates: images.length, human_vote: vote },
      },
    };
  });
}
