/**
 * The capacity counters of the openai-cookbook's api_request_parallel_processor.py: request and token
 * capacity per minute, starting full, refilled continuously in proportion to the time since the last
 * update and capped at one minute's worth. A request is sent only when at least one request and its
 * whole token estimate are available, and then takes both.
 */
export class CookbookCapacity {
  private requests: number;
  private tokens: number;
  private lastUpdate: number;

  constructor(
    private readonly maxRequestsPerMinute: number,
    private readonly maxTokensPerMinute: number,
    /** The minute (scaled with the bench window). */
    private readonly minuteMs: number,
    now: number,
  ) {
    this.requests = maxRequestsPerMinute;
    this.tokens = maxTokensPerMinute;
    this.lastUpdate = now;
  }

  /** `available_*_capacity = min(available + max × seconds_since_update / 60, max)`. */
  update(now: number): void {
    const elapsed = now - this.lastUpdate;
    this.requests = Math.min(this.requests + (this.maxRequestsPerMinute * elapsed) / this.minuteMs, this.maxRequestsPerMinute);
    this.tokens = Math.min(this.tokens + (this.maxTokensPerMinute * elapsed) / this.minuteMs, this.maxTokensPerMinute);
    this.lastUpdate = now;
  }

  /** Takes one request and `tokens` when both are available. */
  tryTake(tokens: number): boolean {
    if (this.requests >= 1 && this.tokens >= tokens) {
      this.requests -= 1;
      this.tokens -= tokens;
      return true;
    }
    return false;
  }

  available(): { readonly requests: number; readonly tokens: number } {
    return { requests: this.requests, tokens: this.tokens };
  }
}
