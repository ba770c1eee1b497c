/**
 * A Cosmos-protocol server in process (@vercel/cosmosdb-server) with the database and containers
 * created, and the store on it: what the local runtime and the tests use when no Cosmos account is
 * configured. The app talks to it with the real @azure/cosmos SDK: by default through the server's own
 * request handler in process (inProcessTransport.ts: the same requests and answers, without loopback
 * sockets and TLS), or over HTTPS with `transport: 'https'`. The server listens on its HTTPS endpoint
 * either way.
 *
 * The server keeps documents in memory only. Given a journal path, every document write it makes is
 * journaled (the whole document, before the response leaves) and the documents are loaded back on the
 * next start, so the store survives `kill -9`. The hook sits on the server's document collection,
 * the one place every write path (create, replace, upsert, patch, bulk, delete) ends. Each database
 * and container the server creates is tagged with its account, and an account is found by its
 * endpoint, so servers in one process never write into each other's journal.
 */
import https from 'node:https';
import { AddressInfo } from 'node:net';
import { Database } from '@azure/cosmos';
import { CosmosJobStore, createCosmosClient, createCosmosJobStore, ensureCosmosContainers } from '../../lib/store/cosmosJobStore.js';
import { Journal } from '../persistence/journal.js';
import { inProcessHttpClient } from './inProcessTransport.js';
import { installLinearQueries } from './linearQueries.js';

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
  replace(data: Document, original: Document): Document;
}

/** The server's databases and containers collections, as far as the tagging uses them. */
interface ContainerInternals {
  _parent: object;
  _newItem(data?: unknown): object;
}

interface AccountInternals {
  read(): { writableLocations: { databaseAccountEndpoint: string }[] };
}

/** Database and container items → the account they belong to. */
const accounts = new WeakMap<object, AccountInternals>();
/** Journals by account endpoint (`https://127.0.0.1:<port>/`), registered once a server has loaded its documents back. */
const journals = new Map<string, Journal<CosmosRecord>>();

function journalOf(documents: DocumentsInternals): Journal<CosmosRecord> | undefined {
  const account = accounts.get(documents._parent);
  return account && journals.get(account.read().writableLocations[0]?.databaseAccountEndpoint ?? '');
}

let hooked = false;
/** Inside a replace (the server's replace is a delete then a set): the delete is not journaled. */
let replacing = 0;

function hookDocumentWrites(): void {
  if (hooked) return;
  hooked = true;
  const Documents = (require('@vercel/cosmosdb-server/lib/account/documents') as { default: { prototype: DocumentsInternals } }).default;
  const { _set, delete: remove, replace } = Documents.prototype;
  const tag = (module: string, owner: (parent: object) => AccountInternals | undefined) => {
    const Items = (require(`@vercel/cosmosdb-server/lib/account/${module}`) as { default: { prototype: ContainerInternals } }).default;
    const newItem = Items.prototype._newItem;
    Items.prototype._newItem = function (this: ContainerInternals, data?: unknown) {
      const item = newItem.call(this, data);
      const account = owner(this._parent);
      if (account) accounts.set(item, account);
      return item;
    };
  };
  tag('databases', (account) => account as AccountInternals);
  tag('collections', (database) => accounts.get(database));
  // One record per replace (the new document): a crash between a `del` and its `doc` would lose it.
  Documents.prototype.replace = function (this: DocumentsInternals, data: Document, original: Document) {
    replacing += 1;
    try {
      return replace.call(this, data, original);
    } finally {
      replacing -= 1;
    }
  };
  Documents.prototype._set = function (this: DocumentsInternals, data: Document) {
    const result = _set.call(this, data);
    journalOf(this)?.append({ c: this._parent.read()?.id ?? '', pk: this._getPartition(data) ?? null, doc: data });
    return result;
  };
  Documents.prototype.delete = function (this: DocumentsInternals, idOrRid: string, partition: unknown) {
    const existing = this._item('/id', idOrRid, partition).read();
    remove.call(this, idOrRid, partition);
    if (existing && replacing === 0) journalOf(this)?.append({ c: this._parent.read()?.id ?? '', pk: this._getPartition(existing) ?? null, del: existing.id });
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

export interface LocalCosmosOptions {
  readonly journalPath?: string;
  /** How the returned database and store reach the server: its handler in process (default) or HTTPS on loopback. */
  readonly transport?: 'in-process' | 'https';
}

export async function startLocalCosmos(databaseId: string, options: LocalCosmosOptions = {}): Promise<LocalCosmos> {
  const { createHttpsServer } = await import('@vercel/cosmosdb-server');
  installLinearQueries();
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
  // keepAlive: without it the server closes every connection, and each request pays a new TLS handshake.
  const server = createHttpsServer({ keepAlive: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // The server's certificate is self-signed; this agent is only ever used for it, on loopback.
  const agent = new https.Agent({ rejectUnauthorized: false, keepAlive: true });
  const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // One region, one endpoint: the SDK need not discover endpoints (reading the account) on every request.
  const connectionPolicy = { enableEndpointDiscovery: false };
  const connection = options.transport === 'https' ? { agent, connectionPolicy } : { httpClient: inProcessHttpClient(server), connectionPolicy };
  const database = await ensureCosmosContainers(createCosmosClient({ endpoint, key: EMULATOR_KEY, ...connection }), databaseId);
  for (let i = 0; i < saved.length; i += 100) {
    const chunk = saved.slice(i, i + 100);
    await Promise.all(
      chunk.map(({ c, doc }) => {
        const body = Object.fromEntries(Object.entries(doc).filter(([k]) => !SYSTEM_PROPERTIES.includes(k)));
        return database.container(c).items.create(body);
      }),
    );
  }
  // Only now: the documents loaded back are already in the (compacted) journal.
  if (journal) journals.set(`${endpoint}/`, journal);
  const store = await createCosmosJobStore({ endpoint, databaseId, key: EMULATOR_KEY, ...connection });
  return {
    endpoint,
    database,
    store,
    restored: saved.length,
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      journals.delete(`${endpoint}/`);
      journal?.close();
    },
  };
}
