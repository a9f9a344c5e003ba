/**
 * Config keys that moved to another place. Files written before the move (user configs and the
 * config.yaml of existing run directories) keep loading: the value is carried to its new key
 * unless that key is set too, in which case the new key wins.
 */
import { isPlain, type Plain } from "./layer.js";

/** old dotted path -> new dotted path */
export const MOVED_KEYS: Readonly<Record<string, string>> = {
  // One knob for comparisons in flight, shared by `arr judge`, `arr eval` and training.
  "train.service.judge_concurrency": "judge.concurrency",
};

function parentOf(data: Plain, path: string[], create: boolean): Plain | undefined {
  let node: Plain = data;
  for (const key of path.slice(0, -1)) {
    if (!isPlain(node[key])) {
      if (!create) return undefined;
      node[key] = {};
    }
    node = node[key] as Plain;
  }
  return node;
}

/** Moves every old key found in `data` (in place); returns the [old, new] pairs that were moved. */
export function moveKeys(data: Plain): [string, string][] {
  const moved: [string, string][] = [];
  for (const [from, to] of Object.entries(MOVED_KEYS)) {
    const oldPath = from.split(".");
    const oldParent = parentOf(data, oldPath, false);
    const oldKey = oldPath[oldPath.length - 1] as string;
    if (!oldParent || !(oldKey in oldParent)) continue;
    const value = oldParent[oldKey];
    delete oldParent[oldKey];
    const newPath = to.split(".");
    const newParent = parentOf(data, newPath, true) as Plain;
    const newKey = newPath[newPath.length - 1] as string;
    if (!(newKey in newParent)) newParent[newKey] = value;
    moved.push([from, to]);
  }
  return moved;
}
