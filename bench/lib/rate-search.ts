/**
 * `--find-rate`: the highest offered rate a system keeps up with (lib/verdict.ts: "keeps up", not
 * saturated), each step a short run. The rate doubles from `from` until a step fails (or `max` is
 * reached), then the interval between the last rate that kept up and the first that did not is
 * bisected until it is narrower than `precisionPercent` of the lower end (at least 1/s). When even
 * `from` fails, the rate is halved (not below from/8) until a step keeps up. Rates are whole
 * messages per second.
 */
export interface RateSearchOptions<T> {
  from: number;
  max: number;
  precisionPercent: number;
  /** Stops the search after this many steps (the interval found so far is reported). */
  maxSteps: number;
  /** One short run at `rate`. */
  tryRate(rate: number, step: number): Promise<T & { keepsUp: boolean }>;
}

export interface RateSearchResult<T> {
  /** Highest rate that kept up (undefined: not even the lowest tried). */
  sustained?: number;
  /** Lowest rate that did not (undefined: every rate up to `max` kept up). */
  failed?: number;
  steps: Array<{ rate: number } & T & { keepsUp: boolean }>;
}

export async function findSustainableRate<T>(o: RateSearchOptions<T>): Promise<RateSearchResult<T>> {
  const steps: RateSearchResult<T>['steps'] = [];
  let lo: number | undefined;
  let hi: number | undefined;
  const attempt = async (rate: number) => {
    const r = await o.tryRate(rate, steps.length);
    steps.push({ ...r, rate });
    if (r.keepsUp) lo = rate;
    else hi = rate;
    return r.keepsUp;
  };
  // Ramp: from, 2·from, 4·from … until one fails.
  for (let rate = Math.round(o.from); steps.length < o.maxSteps; rate = Math.min(o.max, rate * 2)) {
    if (!(await attempt(rate)) || rate >= o.max) break;
  }
  // Even `from` failed: halve, down to from/8, until one keeps up.
  const floor = Math.max(1, Math.round(o.from / 8));
  while (lo === undefined && hi !== undefined && hi > floor && steps.length < o.maxSteps) await attempt(Math.max(floor, Math.round(hi / 2)));
  // Bisect [lo, hi].
  while (lo !== undefined && hi !== undefined && steps.length < o.maxSteps) {
    if (hi - lo <= Math.max(1, (lo * o.precisionPercent) / 100)) break;
    const mid = Math.round((lo + hi) / 2);
    if (mid <= lo || mid >= hi) break;
    await attempt(mid);
  }
  return { sustained: lo, failed: hi, steps };
}
