import type { Message } from '../../protocol/index.js';
import type { Publisher, Stream } from '../core/stream.js';

/**
 * The publisher of a pushed stream. Its frames come from a demuxer, so it has no way back to the encoder:
 * keyframe requests are logged once and otherwise ignored (keyframes come as often as the encoder's -g).
 */
export class IngestPublisher implements Publisher {
  readonly published = new Map<number, Stream>();
  private told = false;

  constructor(private readonly onKeyframeRequest: () => void) {}

  send(message: Message): void {
    if (message.type !== 'keyframe-request' || this.told) return;
    this.told = true;
    this.onKeyframeRequest();
  }
}
