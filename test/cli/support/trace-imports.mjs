// Preloaded with --import: records every attempt to import pythonia into $ARR_TRACE_IMPORTS.
import { register } from "node:module";

register(new URL("./trace-imports-hooks.mjs", import.meta.url), {
  data: { marker: process.env.ARR_TRACE_IMPORTS },
});
