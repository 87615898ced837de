/** Reading `text/event-stream` (GET /api/task-changes) in tests and the benchmark's reader. */

export interface StreamEvent {
  event: string;
  data: any;
}

/**
 * The complete events at the start of `buffer` (each ends with a blank line; `:` comment lines,
 * the keep-alives, are skipped), with `data` parsed as JSON, and what is left of an incomplete one.
 */
export function takeEvents(buffer: string): { events: StreamEvent[]; rest: string } {
  const events: StreamEvent[] = [];
  let rest = buffer;
  let end: number;
  while ((end = rest.indexOf('\n\n')) >= 0) {
    const lines = rest.slice(0, end).split('\n');
    rest = rest.slice(end + 2);
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
    const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
    if (event) events.push({ event, data: JSON.parse(data) });
  }
  return { events, rest };
}
