/**
 * Registers taskwire's custom search attributes in a namespace and checks their types.
 *
 * `addSearchAttributes` skips a name that already exists silently, even when its type differs,
 * so the types are compared afterwards and a mismatch is an error: a wrongly typed attribute makes
 * every upsert fail the workflow task (BAD_SEARCH_ATTRIBUTES) over and over.
 * Called by the worker at start (any server) and after the dev server starts (the dev server's
 * `--search-attribute` flags are ignored for a namespace that already exists in its SQLite file).
 */
import type { Connection } from '@temporalio/client';
// Default import: the package is CommonJS built by protobufjs, and Node's ESM loader cannot see
// its named exports (`import { temporal }` type-checks but fails at run time under tsx/node).
import proto from '@temporalio/proto';
import type { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/shared/temporal.js';

const T = proto.temporal.api.enums.v1.IndexedValueType;
type IndexedValueType = temporal.api.enums.v1.IndexedValueType;

export type SearchAttributeTypeName = 'Text' | 'Keyword' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

const TYPE_BY_NAME: Record<SearchAttributeTypeName, IndexedValueType> = {
  Text: T.INDEXED_VALUE_TYPE_TEXT,
  Keyword: T.INDEXED_VALUE_TYPE_KEYWORD,
  Int: T.INDEXED_VALUE_TYPE_INT,
  Double: T.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: T.INDEXED_VALUE_TYPE_BOOL,
  Datetime: T.INDEXED_VALUE_TYPE_DATETIME,
  KeywordList: T.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

export function indexedValueTypeName(t: IndexedValueType | string | number | null | undefined): string {
  // protobufjs may hand enums over as numbers or as their proto names.
  if (typeof t === 'string') {
    const byProto = Object.entries(TYPE_BY_NAME).find(([, v]) => T[v] === t);
    return byProto ? byProto[0] : t;
  }
  const byNumber = Object.entries(TYPE_BY_NAME).find(([, v]) => v === t);
  return byNumber ? byNumber[0] : `unknown(${String(t)})`;
}

export class SearchAttributeMismatchError extends Error {
  override name = 'SearchAttributeMismatchError';
}

/**
 * Makes sure every wanted attribute exists in `namespace` with the wanted type. Idempotent;
 * safe when several workers start at once. Throws SearchAttributeMismatchError when a name is
 * registered with another type (the fix is an operator's decision: rename or recreate it).
 */
export async function ensureSearchAttributes(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
  wanted: ReadonlyArray<{ name: string; type: SearchAttributeTypeName }> = SEARCH_ATTRIBUTES,
): Promise<{ added: string[] }> {
  const existing = await listCustom(connection, namespace);
  checkTypes(existing, wanted, namespace);
  const missing = wanted.filter((a) => !(a.name in existing));
  if (missing.length > 0) {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((a) => [a.name, TYPE_BY_NAME[a.type]])),
    });
    // Another process may have added one of them with another type in the meantime.
    const after = await listCustom(connection, namespace);
    checkTypes(after, wanted, namespace);
    const stillMissing = wanted.filter((a) => !(a.name in after)).map((a) => a.name);
    if (stillMissing.length > 0) {
      throw new Error(`search attributes not registered in namespace ${namespace}: ${stillMissing.join(', ')}`);
    }
  }
  return { added: missing.map((a) => a.name) };
}

async function listCustom(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
): Promise<Record<string, IndexedValueType>> {
  const res = await connection.operatorService.listSearchAttributes({ namespace });
  return (res.customAttributes ?? {}) as Record<string, IndexedValueType>;
}

function checkTypes(
  existing: Record<string, IndexedValueType>,
  wanted: ReadonlyArray<{ name: string; type: SearchAttributeTypeName }>,
  namespace: string,
): void {
  const wrong = wanted
    .filter((a) => a.name in existing && indexedValueTypeName(existing[a.name]) !== a.type)
    .map((a) => `${a.name} is ${indexedValueTypeName(existing[a.name])}, expected ${a.type}`);
  if (wrong.length > 0) {
    throw new SearchAttributeMismatchError(
      `search attributes in namespace ${namespace} have the wrong type: ${wrong.join('; ')}. ` +
        'An existing attribute cannot change its type: remove it (temporal operator search-attribute remove) ' +
        'or use another name.',
    );
  }
}
