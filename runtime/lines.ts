/** Calls `onLine` for every non-empty line a child process writes to `stream`. */
export function forEachLine(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    const lines = buf.split(/\r?\n/);
    buf = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) onLine(l);
  });
  stream.on('end', () => {
    if (buf.trim()) onLine(buf);
  });
}
