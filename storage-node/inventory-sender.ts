/**
 * Sends the node's chunk inventory when the metadata service asks for it (a round id in a
 * heartbeat answer): every chunk id, sorted, in bounded pages, so the service can compare them
 * with what its catalog places here without holding the whole listing. See metadata/inventory.ts.
 */
import type { InventoryPage, InventoryPageAnswer } from '../protocol/index.js';
import type { LinkLogger } from './metadata-link.js';

/** Chunk ids per page (the service accepts up to 10,000). */
export const INVENTORY_PAGE_CHUNKS = 5_000;

export interface InventorySenderOptions {
  /** Every chunk id the node holds now. */
  readonly chunkIds: () => readonly string[];
  /** Posts one page to the metadata service. */
  readonly send: (page: InventoryPage) => Promise<InventoryPageAnswer>;
  readonly logger: LinkLogger;
}

export class InventorySender {
  private sending: Promise<void> | undefined;
  private roundsSent = 0;

  constructor(private readonly options: InventorySenderOptions) {}

  /** Starts sending a round unless one is being sent. */
  start(round: string): void {
    if (this.sending !== undefined) return;
    this.sending = this.send(round)
      .catch((error: unknown) => this.options.logger.warn({ err: error, round }, 'inventory round not finished; the metadata service will ask again'))
      .finally(() => {
        this.sending = undefined;
      });
  }

  status(): { sending: boolean; roundsSent: number } {
    return { sending: this.sending !== undefined, roundsSent: this.roundsSent };
  }

  async stop(): Promise<void> {
    await this.sending;
  }

  private async send(round: string): Promise<void> {
    // Plain code-unit order: the order the service's snapshot is sorted in.
    const ids = [...this.options.chunkIds()].sort();
    for (let start = 0; ; start += INVENTORY_PAGE_CHUNKS) {
      const chunks = ids.slice(start, start + INVENTORY_PAGE_CHUNKS);
      const done = start + INVENTORY_PAGE_CHUNKS >= ids.length;
      const answer = await this.options.send({ round, chunks, done });
      if (done) break;
      if (!answer.roundOpen) return;
    }
    this.roundsSent++;
    this.options.logger.info({ round, chunks: ids.length }, 'inventory sent to metadata service');
  }
}
