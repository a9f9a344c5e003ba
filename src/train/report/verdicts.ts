/**
 * Verdict examples for the report: the eval points' pairs (current policy vs base, both orders) and
 * the training pairs of judgements.jsonl whose images are still on disk (the workers keep only the
 * last few batches of samples). Each card carries the attributes the page's filters match on.
 */
import { existsSync } from "node:fs";
import type { JudgementRecord } from "../reward-service.js";
import type { OrderVerdict } from "../winrate.js";
import type { RunData } from "./data.js";

export interface VerdictCard {
  source: "eval" | "training";
  /** The update the images come from (training: the update the pair trains). */
  update: number;
  prompt: string;
  /** Outcomes of the card's judgements (one per presentation order for eval pairs). */
  outcomes: string[];
  /** The two presentation orders named different winners. */
  split: boolean;
  images: Array<{ img: string | null; caption: string; win: boolean }>;
  verdicts: Array<{ title: string; reason: string | null }>;
  meta: string;
}

/** Most cards of each source on the page (the newest are kept): each embeds two images. */
const MAX_CARDS = 60;

/** `img` maps an image path to its id in the page's image table (null: the file is gone). */
export function verdictCards(run: RunData, img: (path: string) => string | null): VerdictCard[] {
  const evalCards: VerdictCard[] = run.evals.flatMap((record) =>
    record.pairs.map((pair) => {
      const forward = describe(pair.forward);
      const reverse = describe(pair.reverse);
      const preferredCurrent = pair.score > 0.5;
      const preferredBase = pair.score < 0.5;
      return {
        source: "eval" as const,
        update: record.update,
        prompt: pair.prompt,
        outcomes: [pair.forward.outcome, pair.reverse.outcome],
        split:
          pair.forward.preferred !== null &&
          pair.reverse.preferred !== null &&
          pair.forward.preferred !== pair.reverse.preferred,
        images: [
          {
            img: img(pair.current),
            caption: `current policy (update ${record.update})`,
            win: preferredCurrent,
          },
          { img: img(pair.base), caption: "base model (same seed)", win: preferredBase },
        ],
        verdicts: [
          { title: `current shown first: ${forward}`, reason: pair.forward.reason },
          { title: `base shown first: ${reverse}`, reason: pair.reverse.reason },
        ],
        meta: `eval at update ${record.update} · score ${pair.score} for the current policy`,
      };
    }),
  );
  const trainingCards = run.judgements
    .filter((j) => j.images.every((path) => existsSync(path)))
    .slice(-MAX_CARDS)
    .map((j) => trainingCard(j, img));
  return [...evalCards.slice(-MAX_CARDS), ...trainingCards];
}

function describe(verdict: OrderVerdict): string {
  if (verdict.outcome !== "decided") return verdict.outcome;
  return verdict.preferred === "a" ? "current preferred" : "base preferred";
}

function trainingCard(j: JudgementRecord, img: (path: string) => string | null): VerdictCard {
  const ranking = j.ranking ?? null;
  const title =
    j.outcome === "decided" && ranking
      ? `ranking ${ranking.map((r, i) => `image ${i + 1}: ${ordinal(r)}`).join(", ")}`
      : j.outcome;
  return {
    source: "training",
    update: j.step + 1,
    prompt: j.prompt,
    outcomes: [j.outcome],
    split: j.agreement === false,
    images: j.images.map((path, i) => ({
      img: img(path),
      caption: `image ${i + 1} · reward ${j.rewards[i] ?? "–"}`,
      win:
        j.outcome === "decided" &&
        (ranking ? ranking[i] === 1 : (j.rewards[i] ?? 0) === Math.max(...j.rewards)),
    })),
    verdicts: [{ title, reason: j.reason ?? j.error ?? null }],
    meta: `training pair · update ${j.step + 1} · rank ${j.rank}${j.agreement === null ? "" : j.agreement ? " · both orders agreed" : " · the orders disagreed"}${j.cached ? " · cached" : ""}`,
  };
}

function ordinal(rank: number): string {
  return rank === 1 ? "1st" : rank === 2 ? "2nd" : rank === 3 ? "3rd" : `${rank}th`;
}
