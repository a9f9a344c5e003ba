/**
 * Which configuration files describe a model's components: the model folder's own (a local
 * diffusers snapshot or the tiny model) when it has one, else the published configuration shipped
 * in `configs/models/<model>/` (nothing is downloaded). The judge's image processor is found the
 * same way from its model name.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ModelConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";

/** A component of a model family: its subfolder and what role it plays. */
export interface ComponentSpec {
  name: string;
  role: "transformer" | "text_encoder" | "vae";
  label: string;
}

/** The shipped published configurations per family (folder under configs/models/) and its components. */
export const FAMILY_MODELS: Record<
  ModelConfig["family"],
  { folder: string; hubId: string; components: ComponentSpec[] }
> = {
  flux: {
    folder: "flux.1-dev",
    hubId: "black-forest-labs/FLUX.1-dev",
    components: [
      { name: "transformer", role: "transformer", label: "FLUX.1-dev transformer" },
      { name: "text_encoder_2", role: "text_encoder", label: "T5-XXL encoder" },
      { name: "text_encoder", role: "text_encoder", label: "CLIP-L text encoder" },
      { name: "vae", role: "vae", label: "VAE" },
    ],
  },
  "qwen-edit": {
    folder: "qwen-image-edit-2509",
    hubId: "Qwen/Qwen-Image-Edit-2509",
    components: [
      { name: "transformer", role: "transformer", label: "Qwen-Image transformer" },
      { name: "text_encoder", role: "text_encoder", label: "Qwen2.5-VL text encoder" },
      { name: "vae", role: "vae", label: "VAE" },
    ],
  },
};

export interface ResolvedComponent extends ComponentSpec {
  configFile: string;
  source: "model" | "shipped";
}

/** `configs/models/` of this package. */
export function shippedModelsDir(root: string): string {
  return join(root, "configs", "models");
}

export function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/**
 * Config file per component: `<modelDir>/<name>/config.json` when modelDir has it, else the shipped
 * one. `modelDir` is null for a hub id (nothing local to read).
 */
export function resolveComponents(
  family: ModelConfig["family"],
  modelDir: string | null,
  root: string,
): ResolvedComponent[] {
  const spec = FAMILY_MODELS[family];
  return spec.components.map((c) => {
    const own = modelDir ? join(modelDir, c.name, "config.json") : null;
    if (own && existsSync(own)) return { ...c, configFile: own, source: "model" as const };
    return {
      ...c,
      configFile: join(shippedModelsDir(root), spec.folder, c.name, "config.json"),
      source: "shipped" as const,
    };
  });
}

/** The edit text encoder's image processor config (Qwen-Image-Edit's `processor/` folder). */
export function editProcessorFile(modelDir: string | null, root: string): string {
  const own = modelDir ? join(modelDir, "processor", "preprocessor_config.json") : null;
  if (own && existsSync(own)) return own;
  return join(
    shippedModelsDir(root),
    FAMILY_MODELS["qwen-edit"].folder,
    "processor",
    "preprocessor_config.json",
  );
}

/**
 * The judge's `preprocessor_config.json` by model family: Qwen3-VL ships its own; Qwen2-VL and
 * Qwen2.5-VL share one (the copy in Qwen-Image-Edit's processor folder). null: unknown family.
 */
export function judgeProcessorFile(model: string, root: string): string | null {
  const m = model.toLowerCase();
  if (/qwen3[-_.]?vl/.test(m))
    return join(shippedModelsDir(root), "qwen3-vl-8b-instruct", "preprocessor_config.json");
  if (/qwen2(\.5)?[-_.]?vl/.test(m)) return editProcessorFile(null, root);
  return null;
}

/** Reads a JSON file; a ConfigError naming the file when it is missing or malformed. */
export function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read ${what} ${file}`, {
      cause: error,
      hint: "the model folder or configs/models/ is incomplete; reinstall autorubric or fix the folder",
    });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file}: ${what} is not valid JSON`, { cause: error });
  }
}
