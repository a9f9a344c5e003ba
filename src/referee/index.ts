/**
 * The offline reference judge ("referee"): an OpenAI-compatible endpoint on loopback that decides by
 * explicit, rule-based pixel criteria. It is not a VLM and says so in every answer. See
 * vocabulary.ts for the criteria it understands.
 */
export { answerCategories, answerCriteria, answerRank, DISCLAIMER } from "./decide.js";
export { parseChatRequest } from "./request.js";
export { REFEREE_MODEL, type Referee, type RefereeOptions, startReferee } from "./server.js";
export { type CriterionId, recognise, VOCABULARY } from "./vocabulary.js";
