/** Server-wide running totals since start: they only grow, so /metrics can report them as counters. */
export class Totals {
  framesIn = 0;
  bytesIn = 0;
  framesOut = 0;
  bytesOut = 0;
  framesDropped = 0;
}
