import { appendFileSync } from "node:fs";

let marker;

export function initialize(data) {
  marker = data?.marker;
}

export async function resolve(specifier, context, next) {
  if (marker && (specifier === "pythonia" || specifier.startsWith("pythonia/"))) {
    appendFileSync(marker, `import ${specifier}\n`);
  }
  return next(specifier, context);
}
