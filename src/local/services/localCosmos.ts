/**
 * A Cosmos-protocol server in process (@vercel/cosmosdb-server) with the database and containers
 * created, and the store on it: what the local runtime and the tests use when no Cosmos account is
 * configured. The app talks to it with the real @azure/cosmos SDK, over HTTPS.
 *
 * The server keeps documents in memory only. Given a journal path, every document write it makes is
 * journaled (the whole document, before the response leaves) and the documents are loaded back on the
 * next start, so the store survives `kill -9`. The hook sits on the server's document collection,
 * the one place every write path (create, replace, upsert, patch, bulk, delete) ends; requests are
 * tagged with their server's journal, so servers in one process never write into each other's.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import https from 'node:https';
import { AddressInfo } from 'node:net';
import { Database } from '@azure/cosmos';
import { CosmosJobStore, createCosmosClient, createCosmosJobStore, ensureCosmosContainers } from '../../lib/store/cosmosJobStore.js';
import { Journal } from '../persistence/journal.js';

/** The well-known Cosmos DB emulator key (public, not a secret). */
export const EMULATOR_KEY = 'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nqAX4ZHl0r6bVaRH4v3u2SqwAtK26ReBiMedBgPgw==';

export interface LocalCosmos {
  readonly endpoint: string;
  readonly database: Database;
  readonly store: CosmosJobStore;
  /** Documents loaded back from the journal at start. */
  readonly restored: number;
  close(): Promise<void>;
}

type Document = Record<string, unknown> & { readonly id: string };
type CosmosRecord =
  | { readonly c: string; readonly pk: unknown; readonly doc: Document }
  | { readonly c: string; readonly pk: unknown; readonly del: string };

/** The server's document collection, as far as the hook uses it. */
interface DocumentsInternals {
  _parent: { read(): { id: string } | undefined };
  _item(keyPath: string, value: unknown, partition: unknown): { read(): Document | undefined };
  _getPartition(data: Document): unknown;
  _set(data: Document): Document;
  delete(idOrRid: string, partition: unknown): void;
}

const journals = new AsyncLocalStorage<Journal<CosmosRecord>>();
let hooked = false;

function hookDocumentWrites(): void {
  if (hooked) return;
  hooked = true;
  const Documents = (require('@vercel/cosmosdb-server/lib/account/documents') as { default: { prototype: DocumentsInternals } }).default;
  const { _set, delete: remove } = Documents.prototype;
  Documents.prototype._set = function (this: DocumentsInternals, data: Document) {
    const result = _set.call(this, data);
    journals.getStore()?.append({ c: this._parent.read()?.id ?? '', pk: this._getPartition(data) ?? null, doc: data });
    return result;
  };
  Documents.prototype.delete = function (this: DocumentsInternals, idOrRid: string, partition: unknown) {
    const existing = this._item('/id', idOrRid, partition).read();
    remove.call(this, idOrRid, partition);
    if (existing) journals.getStore()?.append({ c: this._parent.read()?.id ?? '', pk: this._getPartition(existing) ?? null, del: existing.id });
  };
}

const SYSTEM_PROPERTIES = ['_rid', '_self', '_etag', '_ts', '_attachments'];

/** The documents a journal ends with, per container. */
function finalDocuments(records: readonly CosmosRecord[]): Map<string, CosmosRecord & { doc: Document }> {
  const docs = new Map<string, CosmosRecord & { doc: Document }>();
  for (const record of records) {
    const key = JSON.stringify([record.c, record.pk, 'doc' in record ? record.doc.id : record.del]);
    if ('doc' in record) docs.set(key, record);
    else docs.delete(key);
  }
  return docs;
}

export async function startLocalCosmos(databaseId: string, options: { journalPath?: string } = {}): Promise<LocalCosmos> {
  const { createHttpsServer } = await import('@vercel/cosmosdb-server');
  let journal: Journal<CosmosRecord> | undefined;
  let saved: (CosmosRecord & { doc: Document })[] = [];
  if (options.journalPath) {
    hookDocumentWrites();
    const opened = Journal.open<CosmosRecord>(options.journalPath, (records) => {
      saved = [...finalDocuments(records).values()];
      return saved;
    });
    journal = opened.journal;
  }
  let restoring = true;
  // keepAlive: without it the server closes every connection, and each request pays a new TLS handshake.
  const server = createHttpsServer({ keepAlive: true });
  const handlers = server.listeners('request') as ((req: unknown, res: unknown) => void)[];
  server.removeAllListeners('request');
  server.on('request', (req, res) => {
    const run = () => handlers.forEach((handle) => handle.call(server, req, res));
    // While the saved documents are loaded back they are already in the journal: nothing to write.
    if (journal && !restoring) journals.run(journal, run);
    else run();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // The server's certificate is self-signed; this agent is only ever used for it, on loopback.
  const agent = new https.Agent({ rejectUnauthorized: false, keepAlive: true });
  const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const database = await ensureCosmosContainers(createCosmosClient({ endpoint, key: EMULATOR_KEY, agent }), databaseId);
  for (let i = 0; i < saved.length; i += 100) {
    const chunk = saved.slice(i, i + 100);
    await Promise.all(
      chunk.map(({ c, doc }) => {
        const body = Object.fromEntries(Object.entries(doc).filter(([k]) => !SYSTEM_PROPERTIES.includes(k)));
        return database.container(c).items.create(body);
      }),
    );
  }
  restoring = false;
  const store = await createCosmosJobStore({ endpoint, databaseId, key: EMULATOR_KEY, agent });
  return {
    endpoint,
    database,
    store,
    restored: saved.length,
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      journal?.close();
    },
  };
}
