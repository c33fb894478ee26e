/**
 * The Python reader (python/granary) against a real `granary up`: its pytest suite, python/tests,
 * starts the cluster (from dist/), writes a table of every scalar and list type with `granary
 * ingest`, and reads it through the gateway value for value, by splits, and through a PyTorch
 * DataLoader with 2 workers (skipped by pytest where PyTorch is missing).
 *
 * Python comes from GRANARY_PYTHON (.ci/run sets it to a venv where it could install pyarrow and
 * pytest; then the suite must run and pass), else `python3`. Without pyarrow and pytest the test
 * is skipped, and says why.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PYTHON_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'python');
const required = process.env.GRANARY_PYTHON !== undefined && process.env.GRANARY_PYTHON !== '';
const python = required ? (process.env.GRANARY_PYTHON as string) : 'python3';
const probe = spawnSync(python, ['-c', 'import pyarrow, pytest'], { encoding: 'utf8' });
const available = probe.status === 0;
if (!available && !required) {
  console.warn(`python reader tests skipped: ${python} cannot import pyarrow and pytest (${(probe.stderr || probe.error?.message || '').trim().split('\n').at(-1)})`);
}
/** Tests in python/tests that run without PyTorch; fewer passing means some were skipped or lost. */
const TESTS_WITHOUT_TORCH = 16;

describe.skipIf(!available && !required)('python reader', () => {
  it('passes its pytest suite against a real granary up', () => {
    expect(available, `GRANARY_PYTHON=${python} cannot import pyarrow and pytest: ${probe.stderr}`).toBe(true);
    const run = spawnSync(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests'], {
      cwd: PYTHON_DIR,
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.status, output).toBe(0);
    const passed = Number(/(\d+) passed/.exec(run.stdout)?.[1] ?? 0);
    expect(passed, output).toBeGreaterThanOrEqual(TESTS_WITHOUT_TORCH);
    // Say in the log whether the DataLoader tests ran here.
    console.log(run.stdout.trim().split('\n').at(-1));
  }, 900_000);
});
