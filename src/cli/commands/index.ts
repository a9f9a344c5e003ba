import type { Command } from "commander";
import { register as registerConfig } from "./config.js";
import { register as registerDemo } from "./demo.js";
import { register as registerDoctor } from "./doctor.js";
import { register as registerEval } from "./eval.js";
import { register as registerJudge } from "./judge.js";
import { register as registerPlan } from "./plan.js";
import { register as registerReferee } from "./referee.js";
import { register as registerRubrics } from "./rubrics.js";
import { register as registerSample } from "./sample.js";
import { register as registerSetup } from "./setup.js";
import { register as registerTrain } from "./train.js";
import { register as registerWinrate } from "./winrate.js";

/** Every command module exports `register(program)`; add new ones here (one line each). */
export function registerCommands(program: Command): void {
  registerConfig(program);
  registerDemo(program);
  registerJudge(program);
  registerDoctor(program);
  registerEval(program);
  registerPlan(program);
  registerReferee(program);
  registerRubrics(program);
  registerSample(program);
  registerSetup(program);
  registerTrain(program);
  registerWinrate(program);
}
