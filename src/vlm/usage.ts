/**
 * Token, call and cost accounting with budget caps. One meter is shared by everything that spends
 * on the same budget (the VLM client records, the judge or induction reserves before each call).
 */
import type { Budget, Price } from "../config/schema.js";
import { BudgetExceededError } from "../errors.js";

/** Token counts of one call, as the server reported them (0 when it reported nothing). */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/** Running totals of a meter. */
export interface UsageTotals {
  /** Completed calls (successful replies). */
  calls: number;
  promptTokens: number;
  completionTokens: number;
  /** promptTokens + completionTokens. */
  totalTokens: number;
  /** Money spent, from the price table (same currency as the table). */
  cost: number;
  /** Calls that failed after every retry and endpoint (not charged tokens). */
  failedCalls: number;
}

export interface UsageMeterOptions {
  /** Per-million-token prices; absent: cost stays 0. */
  price?: Price | null;
  /** Caps; absent or null fields: unlimited. */
  budget?: Budget | null;
}

/** Cost of one call under a price table. */
export function callCost(usage: TokenUsage, price: Price | null | undefined): number {
  if (!price) return 0;
  return (usage.promptTokens * price.input_per_mtok + usage.completionTokens * price.output_per_mtok) / 1e6;
}

export class UsageMeter {
  readonly price: Price | null;
  readonly budget: Budget | null;
  private promptTokens = 0;
  private completionTokens = 0;
  private calls = 0;
  private failed = 0;
  private cost = 0;
  /** Calls reserved but not yet recorded; counted against `max_calls` so concurrency cannot overshoot. */
  private inFlight = 0;

  constructor(options: UsageMeterOptions = {}) {
    this.price = options.price ?? null;
    this.budget = options.budget ?? null;
  }

  /**
   * Claims one call against the budget, or throws `BudgetExceededError` without spending anything.
   * Calls count in-flight reservations (a hard cap); tokens and cost are only known afterwards, so
   * they stop new calls once the spent amount has reached the cap.
   * Returns a release function: call it with the usage when the call succeeded, or with nothing when it failed.
   */
  reserve(): (usage?: TokenUsage) => void {
    const b = this.budget;
    if (b?.max_calls != null && this.calls + this.inFlight >= b.max_calls) {
      throw new BudgetExceededError("calls", b.max_calls);
    }
    if (b?.max_tokens != null && this.promptTokens + this.completionTokens >= b.max_tokens) {
      throw new BudgetExceededError("tokens", b.max_tokens);
    }
    if (b?.max_cost != null && this.cost >= b.max_cost) {
      throw new BudgetExceededError("cost", b.max_cost);
    }
    this.inFlight++;
    let released = false;
    return (usage?: TokenUsage) => {
      if (released) return;
      released = true;
      this.inFlight--;
      if (usage) this.record(usage);
      else this.failed++;
    };
  }

  /** Adds a completed call's usage (use `reserve()` instead when budgets must hold). */
  record(usage: TokenUsage): void {
    this.calls++;
    this.promptTokens += usage.promptTokens;
    this.completionTokens += usage.completionTokens;
    this.cost += callCost(usage, this.price);
  }

  get totals(): UsageTotals {
    return {
      calls: this.calls,
      promptTokens: this.promptTokens,
      completionTokens: this.completionTokens,
      totalTokens: this.promptTokens + this.completionTokens,
      cost: this.cost,
      failedCalls: this.failed,
    };
  }
}
