/** Package version, also written into rubric provenance, verdicts and run manifests. */
export const VERSION = "0.1.0";
