/**
 * JSON out of free-form model replies, shared by the judge and rubric induction. Real models wrap
 * JSON in code fences, think out loud in `<think>...</think>`, or put prose around the object.
 */

/** Drops reasoning blocks: `<think>...</think>`, and anything before a lone `</think>` (templates that eat the opening tag). */
export function stripThinking(raw: string): string {
  let s = raw.replace(/<think(?:ing)?>[\s\S]*?<\/think(?:ing)?>/gi, "");
  const close = s.search(/<\/think(?:ing)?>/i);
  if (close >= 0) s = s.slice(s.indexOf(">", close) + 1);
  // An unclosed <think> means the answer never came (cut off by max_tokens).
  const open = s.search(/<think(?:ing)?>/i);
  if (open >= 0) s = s.slice(0, open);
  return s.trim();
}

/** Balanced `{...}` substrings, outermost first, respecting JSON strings. */
function objectCandidates(s: string): string[] {
  const out: string[] = [];
  for (let start = s.indexOf("{"); start >= 0; start = s.indexOf("{", start + 1)) {
    let depth = 0;
    let inString = false;
    for (let i = start; i < s.length; i++) {
      const c = s[i];
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === "{") depth++;
      else if (c === "}") {
        depth--;
        if (depth === 0) {
          out.push(s.slice(start, i + 1));
          start = i; // continue after this object
          break;
        }
      }
    }
  }
  return out;
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Trailing commas are the common slip; anything worse is not repaired.
    try {
      return JSON.parse(text.replace(/,\s*([}\]])/g, "$1"));
    } catch {
      return undefined;
    }
  }
}

/**
 * The JSON object in a reply that has `key`: fenced blocks first, then the whole text, the last
 * such object in each. `anyJson` tells a reply without JSON from one whose JSON lacks `key`.
 * Strip reasoning first (`stripThinking`).
 */
export function findJsonObject(
  s: string,
  key: string,
): { obj: Record<string, unknown> } | { anyJson: boolean } {
  const fenced = [...s.matchAll(/```(?:json|JSON)?\s*([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  const pieces = [...fenced, s];
  let anyJson = false;
  for (const piece of pieces) {
    const cands = objectCandidates(piece);
    for (let i = cands.length - 1; i >= 0; i--) {
      const v = tryJson(cands[i] as string);
      if (v && typeof v === "object" && !Array.isArray(v)) {
        anyJson = true;
        if (key in v) return { obj: v as Record<string, unknown> };
      }
    }
  }
  return { anyJson };
}
