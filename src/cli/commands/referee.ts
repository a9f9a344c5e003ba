/**
 * `arr referee serve [--port N]`: runs the offline rule-based reference judge on 127.0.0.1 until
 * interrupted, for pointing another tool (or a second `arr` process) at it with vlm.base_url.
 */
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { startReferee } from "../../referee/index.js";

export function register(program: Command): void {
  const referee = program
    .command("referee")
    .description("the offline rule-based reference judge (OpenAI-compatible, loopback; not a VLM)");
  referee
    .command("serve")
    .description("serve it on 127.0.0.1 until Ctrl-C; prints the base URL on stdout")
    .option("--port <n>", "TCP port (0: a free one)", "0")
    .action(async (flags: { port: string }) => {
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new UsageError(`--port must be an integer from 0 to 65535, got "${flags.port}"`);
      }
      const server = await startReferee({ port });
      process.stdout.write(`${server.baseUrl}\n`);
      process.stderr.write(
        `arr referee: rule-based reference judge (not a VLM) at ${server.baseUrl}, model "arr-referee"; Ctrl-C stops it\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await server.close();
      process.stderr.write(`arr referee: stopped after ${server.requests} request(s)\n`);
    });
}
