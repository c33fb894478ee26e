/** What an in-process storage node is built with when a test is not about auth: no capability checks, a fresh receipt key. */
import { type KeyObject, generateKeyPairSync } from 'node:crypto';
import { CapabilityGuard } from '../../storage-node/capability-guard.js';

export function openAuth(): { guard: CapabilityGuard; receiptKey: KeyObject } {
  return { guard: new CapabilityGuard('open'), receiptKey: generateKeyPairSync('ed25519').privateKey };
}
