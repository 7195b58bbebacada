import type { Outgoing } from './transport.js';

/**
 * An in-process consumer of one stream's frames (a live HTTP viewer, a recording). It sees each
 * frame as the shared wire encoding, in decode order, starting with the cached GOP; it applies its own
 * bound and drops to the next keyframe when it falls behind, like a viewer queue.
 */
export interface StreamTap {
  /** One relayed frame: `frame.body` decodes to a frame message whose payload is a view, not a copy. */
  frame(frame: Outgoing, key: boolean): void;
  /** The stream ended (`reason` as in stream-removed); no frame follows. */
  end(reason: string): void;
}
