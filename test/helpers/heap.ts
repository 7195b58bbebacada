import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

// A real gc() for memory checks, without a command-line flag on the test runner.
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use once everything unreachable is collected. */
export function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
