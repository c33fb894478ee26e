/** The CLI's progress: when it is shown, what a line says, and how often it is written. */
import { describe, expect, it } from 'vitest';
import { Progress, type ProgressMode, type ProgressUnit, formatEta, progressMode } from '../../../../client/cli/progress.js';

function harness(mode: ProgressMode, unit: ProgressUnit, total?: number, columns = 120) {
  let clock = 1_000_000;
  const writes: string[] = [];
  const progress = new Progress({
    label: 'ingest t ds=1',
    unit,
    mode,
    ...(total === undefined ? {} : { total }),
    target: { write: (text: string) => writes.push(text), isTTY: mode === 'bar', columns },
    now: () => clock,
  });
  return {
    progress,
    writes,
    advance(ms: number) {
      clock += ms;
    },
  };
}

describe('progressMode', () => {
  it('draws a bar on a terminal, lines only when asked elsewhere, and nothing with --json', () => {
    expect(progressMode({ json: false }, { write: () => true, isTTY: true })).toBe('bar');
    expect(progressMode({ json: false, progress: true }, { write: () => true, isTTY: true })).toBe('bar');
    expect(progressMode({ json: false }, { write: () => true, isTTY: false })).toBe('off');
    expect(progressMode({ json: false, progress: true }, { write: () => true })).toBe('lines');
    expect(progressMode({ json: true, progress: true }, { write: () => true, isTTY: true })).toBe('off');
  });
});

describe('Progress', () => {
  it('shows done of total, throughput over the recent past and an ETA', () => {
    const h = harness('lines', 'bytes', 100 * 1024 * 1024);
    h.advance(2000);
    h.progress.update(20 * 1024 * 1024, '1,000 rows');
    // 20 MiB in 2 s: 10 MiB/s, 80 MiB left: 8 s.
    expect(h.writes).toEqual(['ingest t ds=1  20% · 20.0 MiB of 100.0 MiB · 1,000 rows · 10.0 MiB/s · ETA 8 s\n']);
  });

  it('measures the rate over the last seconds, so a stall shows', () => {
    const h = harness('lines', { noun: 'chunks' }, 1000);
    for (let i = 1; i <= 10; i++) {
      h.advance(1000);
      h.progress.update(i * 50);
    }
    // The last five seconds: 250 chunks, 50 a second, 500 left.
    expect(h.writes.at(-1)).toBe('ingest t ds=1  50% · 500 of 1,000 chunks · 50 chunks/s · ETA 10 s\n');
    // Nothing moves for six seconds: the window holds only the stall.
    for (let i = 0; i < 6; i++) {
      h.advance(1000);
      h.progress.update(500);
    }
    expect(h.writes.at(-1)).toBe('ingest t ds=1  50% · 500 of 1,000 chunks · 0 chunks/s · 16 s elapsed\n');
  });

  it('counts without a total when it is unknown, with bytes per second when bytes are given', () => {
    const h = harness('lines', { noun: 'stripes' });
    h.advance(1000);
    h.progress.update(12, '48,000 rows', 12 * 1024 * 1024);
    expect(h.writes).toEqual(['ingest t ds=1 12 stripes · 48,000 rows · 12.0 MiB/s · 1 s elapsed\n']);
  });

  it('writes a line at most once a second, and the final figures at the end', () => {
    const h = harness('lines', { noun: 'rows' }, 100);
    for (let i = 1; i <= 25; i++) {
      h.advance(100);
      h.progress.update(i * 4);
    }
    // The first update at once, then at 1.1 s and 2.1 s.
    expect(h.writes).toHaveLength(3);
    h.progress.finish();
    expect(h.writes).toHaveLength(4);
    expect(h.writes.at(-1)).toMatch(/^ingest t ds=1 100% · 100 of 100 rows/);
    h.progress.update(100);
    h.progress.finish();
    expect(h.writes).toHaveLength(4);
  });

  it('redraws a bar in place on a terminal and ends its line when done', () => {
    const h = harness('bar', 'bytes', 1000);
    h.advance(1000);
    h.progress.update(250);
    h.advance(50);
    h.progress.update(300); // too soon to redraw
    h.advance(1000);
    h.progress.update(500);
    expect(h.writes).toHaveLength(2);
    for (const write of h.writes) {
      expect(write.startsWith('\r')).toBe(true);
      expect(write.endsWith('\x1b[K')).toBe(true);
    }
    expect(h.writes[1]).toMatch(/\[#+-+\]  50%/);
    h.progress.finish();
    expect(h.writes.at(-1)).toBe('\n');
    expect(h.writes.at(-2)).toMatch(/\[#+\]  50%|\[#+-+\]  50%/);
  });

  it('fits a terminal\'s width: the detail goes first, then the count, then the bar, so the line redraws in place', () => {
    const lines = new Map<number, string>();
    for (const columns of [200, 90, 70, 45, 30]) {
      const h = harness('bar', 'bytes', 10 * 1024 * 1024, columns);
      h.advance(1000);
      h.progress.update(3 * 1024 * 1024, '120,000 rows');
      const line = (h.writes[0] ?? '').slice(1, -3);
      expect(line.length, String(columns)).toBeLessThan(columns);
      lines.set(columns, line);
    }
    expect(lines.get(200)).toMatch(/^ingest t ds=1 \[#{12}-{28}\]  30% · 3\.0 MiB of 10\.0 MiB · 120,000 rows · 3\.0 MiB\/s · ETA 2 s$/);
    expect(lines.get(90)).toMatch(/^ingest t ds=1 \[#+-+\]  30% · 3\.0 MiB of 10\.0 MiB · 3\.0 MiB\/s · ETA 2 s$/);
    expect(lines.get(70)).toMatch(/^ingest t ds=1 \[#+-+\]  30% · 3\.0 MiB\/s · ETA 2 s$/);
    expect(lines.get(45)).toBe('ingest t ds=1  30% · 3.0 MiB/s · ETA 2 s');
    expect(lines.get(30)).toBe('ingest t ds=1  30% · 3.0 MiB/');
  });

  it('ends a drawn bar before an error, and writes nothing when off', () => {
    const bar = harness('bar', 'bytes', 1000);
    bar.advance(1000);
    bar.progress.update(10);
    bar.progress.interrupt();
    expect(bar.writes.at(-1)).toBe('\n');
    const off = harness('off', 'bytes', 1000);
    off.advance(5000);
    off.progress.update(10);
    off.progress.finish();
    off.progress.interrupt();
    expect(off.writes).toEqual([]);
  });

  it('follows a total that changes, never past 100%', () => {
    const h = harness('lines', 'bytes');
    h.progress.setTotal(100);
    h.advance(1000);
    h.progress.update(150);
    expect(h.writes.at(-1)).toMatch(/^ingest t ds=1 100% · 150 B of 100 B/);
  });
});

describe('formatEta', () => {
  it('reads as seconds, minutes or hours', () => {
    expect(formatEta(0)).toBe('0 s');
    expect(formatEta(42.4)).toBe('42 s');
    expect(formatEta(185)).toBe('3:05');
    expect(formatEta(3729)).toBe('1:02:09');
    expect(formatEta(-3)).toBe('0 s');
  });
});
