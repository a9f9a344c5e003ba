/**
 * autorubric SDK. Every capability of the `arr` CLI is a typed function exported here first.
 */

export * from "./config/schema.js";
export * from "./errors.js";
export { VERSION } from "./version.js";
