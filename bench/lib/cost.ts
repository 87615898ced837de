/**
 * What a message costs on Temporal Cloud: billable actions (the dev server's `action` counter,
 * lib/temporal-metrics.ts) per message × the list price per million actions.
 *
 * The default price: Temporal Cloud Pay-As-You-Go, "Actions pricing starts at $50 per million
 * Actions"; the Developer plan pays $50 at every volume, Business and up get volume tiers ($50 for
 * the first 5M a month, down to $25 from 100M). Plans add a fee (Developer: 10 % of usage spend),
 * not included here. Source: https://docs.temporal.io/cloud/pricing (temporalio/documentation,
 * docs/evaluate/cloud/pricing.mdx at 0217b71), read 2026-12-01. Override with
 * `--action-price-per-million`.
 */
export const ACTION_PRICE_PER_MILLION_USD = 50;
export const ACTION_PRICE_SOURCE = 'Temporal Cloud Pay-As-You-Go list price (first 5M actions a month; Developer plan at every volume), docs.temporal.io/cloud/pricing, read 2026-12-01';

/** US dollars per million messages: actions per message × price per million actions. */
export function costPerMillionMessages(actionsPerMessage: number, pricePerMillionActions: number): number {
  return actionsPerMessage * pricePerMillionActions;
}

/** "3.10 actions/message = $155 per million messages at $50 per million actions". */
export function costText(actionsPerMessage: number | undefined, pricePerMillionActions: number): string {
  if (actionsPerMessage === undefined || !Number.isFinite(actionsPerMessage)) return 'actions unavailable';
  const usd = costPerMillionMessages(actionsPerMessage, pricePerMillionActions);
  return `${actionsPerMessage.toFixed(2)} actions/message = $${usd.toFixed(usd < 10 ? 2 : 0)} per million messages at $${pricePerMillionActions} per million actions`;
}
