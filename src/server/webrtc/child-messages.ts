import type { TrickledCandidate } from './sdp-fragment.js';
import type { ChosenTrack } from './sdp-offer.js';

/**
 * The messages between the server and its WebRTC child process (child.ts), over the fork IPC channel with
 * advanced serialization, so frames travel as Uint8Arrays. Sessions are named by the server's id.
 */

/** What the server tells the child when it starts it. */
export interface ChildOptions {
  /** The UDP port every session shares (ICE UDP mux). */
  port: number;
  /** The address to bind; '0.0.0.0' gathers every interface. */
  bindAddress: string;
  /** An address to advertise first, for a server behind NAT; null: none. */
  publicIp: string | null;
}

/** Server → child. */
export type ToChild =
  | {
      type: 'open';
      id: string;
      /** `whep`: we send the tracks; `whip`: we receive them. */
      role: 'whep' | 'whip';
      offer: string;
      video: ChosenTrack | null;
      audio: ChosenTrack | null;
    }
  | {
      type: 'frame';
      id: string;
      audio: boolean;
      key: boolean;
      timestamp: number;
      captureTime: number;
      data: Uint8Array;
    }
  | { type: 'keyframe'; id: string }
  /** Remote candidates a trickle ICE PATCH brought, already checked (sdp-fragment.ts). */
  | { type: 'candidates'; id: string; candidates: TrickledCandidate[] }
  | { type: 'close'; id: string };

/** Child → server. */
export type FromChild =
  /** The child listens: messages sent before this would be lost (its module loads asynchronously). */
  | { type: 'ready'; id: '' }
  | { type: 'answer'; id: string; sdp: string }
  | { type: 'failed'; id: string; message: string }
  | { type: 'connected'; id: string }
  | { type: 'closed'; id: string; reason: string }
  | { type: 'keyframe-request'; id: string }
  /** WHEP: one frame handed to libdatachannel (its bytes and capture time, for the bound and latency). */
  | { type: 'sent'; id: string; bytes: number; captureTime: number }
  /** WHIP: one depacketized frame; `timestamp` in µs on the session's clock. */
  | { type: 'frame'; id: string; audio: boolean; key: boolean; timestamp: number; data: Uint8Array };
