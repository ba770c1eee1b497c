/**
 * A fix for the local Cosmos server's query engine (@zeit/cosmosdb-query, under @vercel/cosmosdb-server):
 * the code it generates for `FROM c` gathers the documents with `reduce(($, c) => [...$, { c }], [])`,
 * which copies the accumulator once per document, so one query over n documents costs O(n²). A COUNT
 * over a 20,000-job batch took 24 s, and `saveResult` counts a batch's open jobs after every job. The
 * fix rewrites that one pattern to push into the accumulator (the same array, built in O(n)); queries
 * whose code has another shape are left as they are.
 */

interface CompiledQuery {
  readonly code: string;
  _code: string | null;
  linear?: boolean;
}

interface ItemsInternals {
  _getQuery(sql: string): CompiledQuery;
}

/** `[...$, { c: c }] : $, []` → `($.push({ c: c }), $) : $, []`. */
const QUADRATIC_FROM = /\[\.\.\.\$, (\{[^{}]*\})\] : \$, \[\]\)/g;

export function linearizeQuery(code: string): string {
  return code.replace(QUADRATIC_FROM, '($.push($1), $) : $, [])');
}

let installed = false;

export function installLinearQueries(): void {
  if (installed) return;
  installed = true;
  const Items = (require('@vercel/cosmosdb-server/lib/account/items') as { default: { prototype: ItemsInternals } }).default;
  const getQuery = Items.prototype._getQuery;
  // Queries are cached per SQL text by the server, so each is rewritten once.
  Items.prototype._getQuery = function (this: ItemsInternals, sql: string) {
    const query = getQuery.call(this, sql);
    if (!query.linear) {
      query._code = linearizeQuery(query.code);
      query.linear = true;
    }
    return query;
  };
}
