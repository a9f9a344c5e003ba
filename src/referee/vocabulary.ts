/**
 * The referee's fixed criteria vocabulary. The referee is a rule-based reference judge, not a VLM:
 * it only "understands" a rubric through these criteria. Each criterion has
 *
 * - canonical sentences (English and Chinese, two phrasings each) that it writes as induced criteria,
 * - keywords it recognises in rubric text (prefix matches at word starts; substrings for Chinese),
 * - a pixel feature (src/referee/features.ts), higher = better under that criterion.
 *
 * | id            | theme       | feature                                                  | example keywords                         |
 * |---------------|-------------|----------------------------------------------------------|------------------------------------------|
 * | warmth        | colour      | mean red minus mean blue                                 | warm, golden, amber, colour temperature  |
 * | colourfulness | colour      | Hasler-Süsstrunk colourfulness                           | vivid, saturated, colourful, vibrant     |
 * | brightness    | light       | mean luma                                                | bright, well lit, luminous               |
 * | contrast      | light       | standard deviation of luma                               | contrast, tonal range, punchy            |
 * | exposure      | light       | -(distance of mean luma from 0.5) - clipped fraction     | exposure, overexposed, clipped, blown    |
 * | detail        | surface     | mean absolute luma gradient                              | detail, sharp, crisp, texture, clarity   |
 * | cleanliness   | surface     | -median absolute Laplacian                               | noise, grain, artefact, clean, speckle   |
 * | centred       | layout      | salience in the central half relative to the whole       | centred, framing, focal, composition     |
 * | preservation  | edit (only) | -mean change from the base over the least-changed 75%    | preserve, unchanged, faithful, Image BASE|
 * | edit_strength | edit (only) | mean change from the base over the most-changed 25%      | clearly visible, carried out, noticeable |
 *
 * When a rubric names none of these, ranking falls back to `detail` (a weak, generic default that
 * says so in its reason). Sentences are written so that each one is recognised as exactly its own
 * criterion, and theme names as none; a test holds them to that.
 */
import {
  brightness,
  centredness,
  cleanliness,
  colourfulness,
  contrast,
  detail,
  editStrength,
  exposure,
  type Pixels,
  preservation,
  warmth,
} from "./features.js";

export type CriterionId =
  | "warmth"
  | "colourfulness"
  | "brightness"
  | "contrast"
  | "exposure"
  | "detail"
  | "cleanliness"
  | "centred"
  | "preservation"
  | "edit_strength";

export type ThemeId = "colour" | "light" | "surface" | "layout" | "edit";

export type Language = "en" | "zh";

export interface Criterion {
  id: CriterionId;
  theme: ThemeId;
  /** "edit": only meaningful when a base image is given. */
  task: "any" | "edit";
  /** Two phrasings per language; the first is canonical. */
  sentences: Record<Language, readonly [string, string]>;
  /** Lowercase keyword stems (ASCII: matched at a word start; CJK: anywhere). */
  keywords: readonly string[];
  /** Higher is better; `base` is the edit's source image when there is one. */
  feature(p: Pixels, base: Pixels | undefined): number;
}

export const VOCABULARY: readonly Criterion[] = [
  {
    id: "warmth",
    theme: "colour",
    task: "any",
    sentences: {
      en: [
        "The palette leans warm: reds and oranges outweigh blues, giving a golden tone.",
        "Warm colour temperature: the image reads amber rather than cold blue.",
      ],
      zh: ["整体色调偏暖：红色和橙色多于蓝色，呈现金黄的暖调。", "色温温暖，画面偏琥珀色而非冷蓝色。"],
    },
    keywords: ["warm", "golden", "amber", "colour temperature", "color temperature", "暖", "金黄", "色温"],
    feature: (p) => warmth(p),
  },
  {
    id: "colourfulness",
    theme: "colour",
    task: "any",
    sentences: {
      en: [
        "Colours are vivid and saturated rather than washed out or grey.",
        "The image is colourful, with vibrant, rich hues.",
      ],
      zh: ["色彩鲜艳饱和，而不是发灰褪色。", "画面色彩丰富、浓郁。"],
    },
    keywords: ["vivid", "saturat", "colourful", "colorful", "vibrant", "鲜艳", "饱和", "色彩丰富"],
    feature: (p) => colourfulness(p),
  },
  {
    id: "brightness",
    theme: "light",
    task: "any",
    sentences: {
      en: [
        "The scene is bright and well lit, not dim or murky.",
        "Overall brightness is high: the image looks luminous.",
      ],
      zh: ["画面明亮、光线充足，不昏暗。", "整体亮度高，画面通透。"],
    },
    keywords: ["bright", "well lit", "well-lit", "luminous", "明亮", "亮度"],
    feature: (p) => brightness(p),
  },
  {
    id: "contrast",
    theme: "light",
    task: "any",
    sentences: {
      en: [
        "Strong contrast: clear separation between light and dark areas.",
        "A wide tonal range with punchy highlights and deep shadows.",
      ],
      zh: ["对比强烈：亮部与暗部分明。", "影调范围宽，高光与阴影层次分明。"],
    },
    keywords: ["contrast", "tonal range", "punchy", "对比", "影调"],
    feature: (p) => contrast(p),
  },
  {
    id: "exposure",
    theme: "light",
    task: "any",
    sentences: {
      en: [
        "Balanced exposure: midtones sit near the middle, with no blown or clipped regions.",
        "The image is neither overexposed nor underexposed.",
      ],
      zh: ["曝光均衡：没有过曝或死黑的区域。", "画面既不过度曝光也不欠曝。"],
    },
    keywords: ["exposure", "exposed", "overexpos", "underexpos", "clipped", "clipping", "blown", "曝"],
    feature: (p) => exposure(p),
  },
  {
    id: "detail",
    theme: "surface",
    task: "any",
    sentences: {
      en: [
        "Rich fine detail: crisp edges and visible texture.",
        "The image is sharp, with clarity in small structures.",
      ],
      zh: ["细节丰富：边缘锐利，纹理可见。", "画面清晰锐利，小结构清楚。"],
    },
    keywords: [
      "detail",
      "sharp",
      "crisp",
      "texture",
      "fine structure",
      "edges",
      "clarity",
      "细节",
      "锐利",
      "清晰",
      "纹理",
    ],
    feature: (p) => detail(p),
  },
  {
    id: "cleanliness",
    theme: "surface",
    task: "any",
    sentences: {
      en: [
        "Clean surfaces free of noise, grain or speckle artefacts.",
        "Smooth regions stay clean rather than noisy.",
      ],
      zh: ["画面干净，没有噪点、颗粒或伪影。", "平滑区域干净，没有噪声。"],
    },
    keywords: [
      "noise",
      "noisy",
      "grain",
      "artefact",
      "artifact",
      "speckle",
      "clean",
      "噪",
      "伪影",
      "干净",
      "颗粒",
    ],
    feature: (p) => cleanliness(p),
  },
  {
    id: "centred",
    theme: "layout",
    task: "any",
    sentences: {
      en: [
        "The main subject is centred and clearly framed, drawing the eye to the middle.",
        "Composition puts the focal point in the centre of the frame.",
      ],
      zh: ["主体居中且构图清楚，视线集中在画面中央。", "构图将视觉焦点放在画面中心。"],
    },
    keywords: [
      "centred",
      "centered",
      "centre",
      "center",
      "framing",
      "framed",
      "focal",
      "composition",
      "居中",
      "构图",
      "中心",
      "中央",
    ],
    feature: (p) => centredness(p),
  },
  {
    id: "preservation",
    theme: "edit",
    task: "edit",
    sentences: {
      en: [
        "Regions the instruction does not mention are preserved, faithful to Image BASE.",
        "Everything outside the edited area is left unchanged from the original image.",
      ],
      zh: ["指令未提及的区域保持不变，忠实于原图。", "编辑区域以外的内容与原图一致、未被改动。"],
    },
    keywords: [
      "preserv",
      "unchanged",
      "untouched",
      "faithful",
      "fidelity",
      "retain",
      "intact",
      "image base",
      "base image",
      "original image",
      "保持不变",
      "原图",
      "一致",
      "未被改动",
    ],
    feature: (p, base) => preservation(p, base),
  },
  {
    id: "edit_strength",
    theme: "edit",
    task: "edit",
    sentences: {
      en: [
        "The requested change is carried out fully and is clearly visible.",
        "The edit is applied with enough strength to be noticeable at a glance.",
      ],
      zh: ["所要求的修改执行到位，效果明显可见。", "编辑力度足够，一眼就能看出变化。"],
    },
    keywords: [
      "clearly visible",
      "carried out",
      "noticeab",
      "strength",
      "fully applied",
      "执行到位",
      "明显",
      "力度",
    ],
    feature: (p, base) => editStrength(p, base),
  },
];

/** Theme names the referee writes when it categorizes; deliberately free of any keyword. */
export const THEMES: Record<ThemeId | "other", Record<Language, string>> = {
  colour: { en: "Colour palette", zh: "色彩" },
  light: { en: "Light and tonality", zh: "光影" },
  surface: { en: "Surface quality", zh: "画面质感" },
  layout: { en: "Layout", zh: "布局" },
  edit: { en: "Edit outcome", zh: "编辑结果" },
  other: { en: "Other criteria", zh: "其他" },
};

/** The criterion used when a rubric names none the referee knows. */
export const DEFAULT_CRITERION: CriterionId = "detail";

const CJK = /[\u3400-\u9fff]/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const MATCHERS: ReadonlyArray<{ id: CriterionId; patterns: RegExp[] }> = VOCABULARY.map((c) => ({
  id: c.id,
  patterns: c.keywords.map((k) =>
    CJK.test(k)
      ? new RegExp(escapeRegExp(k))
      : new RegExp(`(?<![a-z])${escapeRegExp(k).replace(/ /g, "[\\s-]+")}`),
  ),
}));

/** The criteria whose keywords appear in `text`, in vocabulary order. */
export function recognise(text: string): CriterionId[] {
  const lower = text.toLowerCase();
  return MATCHERS.filter((m) => m.patterns.some((p) => p.test(lower))).map((m) => m.id);
}

export function criterion(id: CriterionId): Criterion {
  const c = VOCABULARY.find((v) => v.id === id);
  if (!c) throw new Error(`unknown referee criterion ${id}`);
  return c;
}

/** The criteria that apply to a task: edit-only ones need a base image. */
export function criteriaFor(task: "t2i" | "edit"): Criterion[] {
  return VOCABULARY.filter((c) => c.task === "any" || task === "edit");
}
