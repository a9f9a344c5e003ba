import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbortError, BridgeError } from "../../src/errors.js";
import { type Bridge, createBridge } from "../../src/runtime/bridge.js";
import { testFacade } from "./fixtures/test-facade.js";

const root = join(import.meta.dirname, "..", "..");
const tsx = join(root, "node_modules", ".bin", "tsx");

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject");
}

describe("bridge", () => {
  let bridge: Bridge;

  beforeAll(async () => {
    bridge = await createBridge(testFacade);
  });
  afterAll(async () => {
    await bridge?.close();
  });

  it("round-trips JSON arguments and results", async () => {
    const reply = await bridge.call<{ pong: boolean; pid: number; echo: unknown }>("ping", {
      echo: { a: [1, 2.5, "x", null, true] },
    });
    expect(reply).toEqual({ pong: true, pid: bridge.pid, echo: { a: [1, 2.5, "x", null, true] } });
  });

  it("delivers a Python exception as a BridgeError with type, message and traceback", async () => {
    const error = await rejectionOf(bridge.call("raise", { message: "the rubric is empty" }));
    expect(error).toBeInstanceOf(BridgeError);
    const e = error as BridgeError;
    expect(e.pythonType).toBe("ValueError");
    expect(e.message).toContain("the rubric is empty");
    expect(e.traceback).toMatch(/Traceback \(most recent call last\)/);
    expect(e.traceback).toContain("facade.py");
    // The bridge is still usable afterwards.
    expect((await bridge.call<{ pong: boolean }>("ping")).pong).toBe(true);
  });

  it("turns NaN and infinities into null instead of crashing Node", async () => {
    const reply = await bridge.call("nonfinite");
    expect(reply).toEqual({ nan: null, inf: null, ninf: null, list: [1, null], ok: 1.5 });
  });

  it("rejects an aborted call at once", async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = bridge.call("sleep", { ms: 60_000 }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect(await rejectionOf(pending)).toBeInstanceOf(AbortError);
    // Well short of the minute Python sleeps: the call did not wait for it (closing ends the sleep).
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

describe("bridge lifecycle", () => {
  it("rejects pending calls promptly when Python is killed, and can start again", async () => {
    const bridge = await createBridge(testFacade);
    const started = Date.now();
    const slow = bridge.call("sleep", { ms: 60_000 });
    const queued = bridge.call("ping");
    setTimeout(() => process.kill(bridge.pid, "SIGKILL"), 100);
    const [e1, e2] = await Promise.all([rejectionOf(slow), rejectionOf(queued)]);
    expect(Date.now() - started).toBeLessThan(30_000); // not the minute of the sleep
    for (const e of [e1, e2]) {
      expect(e).toBeInstanceOf(BridgeError);
      expect((e as BridgeError).pythonType).toBe("ProcessExited");
      expect((e as BridgeError).message).toContain("SIGKILL");
    }
    expect(bridge.alive).toBe(false);
    // Later calls fail fast too.
    expect(((await rejectionOf(bridge.call("ping"))) as BridgeError).pythonType).toBe("ProcessExited");
    await bridge.close();

    const again = await createBridge(testFacade);
    try {
      expect(again.pid).not.toBe(bridge.pid);
      // No time bound: a call that outlived its interpreter would hang until the test's timeout.
      const error = (await rejectionOf(again.call("exit_hard", { code: 7 }))) as BridgeError;
      expect(error.message).toContain("exited with code 7");
    } finally {
      await again.close();
    }
  });

  it("stops the interpreter when a call misses its deadline", async () => {
    const bridge = await createBridge(testFacade);
    const t0 = Date.now();
    const error = (await rejectionOf(
      bridge.call("sleep", { ms: 120_000 }, { timeoutMs: 300 }),
    )) as BridgeError;
    expect(error.pythonType).toBe("Timeout");
    expect(Date.now() - t0).toBeLessThan(60_000); // the deadline, not the two minutes of the sleep
    await bridge.close();
    expect(isAlive(bridge.pid)).toBe(false);
  });

  it("allows one open bridge per process", async () => {
    const bridge = await createBridge();
    try {
      expect(((await rejectionOf(createBridge())) as BridgeError).pythonType).toBe("BridgeBusy");
    } finally {
      await bridge.close();
    }
    expect(isAlive(bridge.pid)).toBe(false);
    expect(((await rejectionOf(bridge.call("ping"))) as BridgeError).pythonType).toBe("BridgeClosed");
  });

  it("refuses a missing interpreter with a hint instead of crashing", async () => {
    const error = (await rejectionOf(createBridge({ python: "/nonexistent/python3" }))) as BridgeError;
    expect(error).toBeInstanceOf(BridgeError);
    expect(error.message).toContain("/nonexistent/python3");
    expect(error.hint).toBeTruthy();
  });
});

describe("bridge in a child Node process", () => {
  it("keeps Python's prints off stdout, and Node exits by itself after close()", async () => {
    // A child kept alive after close() would run into execa's timeout, which only catches that hang.
    const child = await execa(tsx, [join(import.meta.dirname, "fixtures", "noisy-bridge.ts")], {
      cwd: root,
      timeout: 300_000,
      reject: false,
    });
    expect(child.timedOut).toBe(false);
    expect(child.exitCode).toBe(0);
    const out = JSON.parse(child.stdout);
    expect(out.printed).toBe("printed");
    expect(out.nonfinite.nan).toBeNull();
    // The prints went to stderr instead.
    expect(child.stderr).toContain("noisy print from Python");
    expect(child.stderr).toContain("noisy write to fd 1");
    expect(isAlive(out.pid)).toBe(false);
  });
});
