/**
 * Which images the reward service may hand to the judge. The service listens on a port every
 * process of the machine can reach (every node's, when bound beyond loopback): without this check a
 * token holder could make the VLM read, and describe, any file on the machine. Candidates must be
 * existing files under the run directory (symlinks resolved), and a source image one of the run's
 * own prompts' source images.
 */
import { realpathSync } from "node:fs";
import { isAbsolute, relative, sep } from "node:path";

/** Why a submission's images may not be judged, or null when they may. */
export function refuseImages(
  images: readonly string[],
  source: string | null,
  roots: readonly string[] | undefined,
  sources: ReadonlySet<string> | undefined,
): string | null {
  if (!roots) return null;
  const real = (path: string): string | null => {
    try {
      return realpathSync(path);
    } catch {
      return null;
    }
  };
  const realRoots = roots.map((root) => real(root) ?? root);
  const inside = (path: string) =>
    realRoots.some((root) => {
      const rel = relative(root, path);
      return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
    });
  for (const image of images) {
    const path = isAbsolute(image) ? real(image) : null;
    if (path === null) return `images: ${image} is not an existing file given by an absolute path`;
    if (!inside(path))
      return `images: ${image} is outside the run directory; only sampled candidates are judged`;
  }
  if (source !== null && !sources?.has(source)) {
    return `source_image: ${source} is not one of the run's source images`;
  }
  return null;
}
