/**
 * What a failed `granary` command prints: `granary: <code>: <message>` on one line however the
 * message was written (a library's multi-line message, say), and with GRANARY_DEBUG=1 the stack
 * and causes after it, for a bug report. Shared by bin/granary.ts and tests that run the commands
 * in process.
 */

export function failureLine(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ').trim();
  const code = (error as { code?: unknown } | null)?.code;
  return `granary: ${typeof code === 'string' && code.startsWith('GRN_') ? `${code}: ` : ''}${message}`;
}

export function stackWithCauses(error: unknown): string {
  const lines: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    lines.push(`${depth === 0 ? '' : 'caused by: '}${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    if (!(e instanceof Error)) break;
  }
  return lines.join('\n');
}
