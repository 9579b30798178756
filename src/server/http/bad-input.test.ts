/**
 * Bad input on every route family (users, groups, grants, access keys, login/setup, audit), sent
 * as raw HTTP so the exact bytes are under control:
 *
 * - unknown fields, wrong types, empty strings, over-long values, control characters, malformed
 *   ids, ids of another kind and page/limit out of range are each a 400 `bad_request` whose
 *   `fieldErrors` names the offending field, and a write that is refused changes nothing (the
 *   audit log's head and the lists of users, groups, members, grants and keys are compared);
 * - bodies that are not a JSON object (malformed, wrong content type, too large) get the
 *   standard JSON error shape with 400, 415 or 413;
 * - tampered, truncated, padded, expired and revoked keys get exactly
 *   `{"code":"unauthenticated","message":"unauthenticated"}` on a route of each family, before
 *   any input is looked at;
 * - requests malformed below the API (percent-encoding, over-long URLs and headers, methods that
 *   are not HTTP, duplicated or missing headers, invalid UTF-8, aborted uploads), on every
 *   endpoint, never get a 5xx, and every refusal is in the same JSON error shape.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApiClient } from '../../api/client.js';
import type { Endpoint } from '../../api/endpoint.js';
import { endpoints } from '../../api/endpoints.js';
import type { ApiErrorBody } from '../../api/errors.js';
import { TestClock } from '../../../test/clock.js';
import { engines } from '../../../test/engines.js';
import {
  rawConnection,
  rawExchange,
  rawRequest,
  type RawResponse,
  type WireResponse,
} from '../../../test/http.js';
import { ADMIN, createSignedInUser, startAdminServer } from '../../../test/identity.js';
import type { TestServer } from '../../../test/server.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Family = 'users' | 'groups' | 'grants' | 'access-keys' | 'login/setup' | 'audit';
const families: Family[] = ['users', 'groups', 'grants', 'access-keys', 'login/setup', 'audit'];

/**
 * Existing objects the cases point at. In a case's path and in the strings of its body,
 * `{user}`, `{group}`, `{grant}`, `{key}` and `{keyName}` stand for them.
 */
interface Fixtures {
  user: string;
  group: string;
  grant: string;
  key: string;
  keyName: string;
}

interface BadCase {
  family: Family;
  /** The class of bad input, for the test name. */
  what: string;
  method: Method;
  path: string;
  /** A JSON body (for POST, PUT and PATCH). */
  body?: unknown;
  /** Public endpoints are called without credentials. */
  anonymous?: boolean;
  /** The field `fieldErrors` must name, and optionally one of its errors. */
  field: string;
  error?: string | RegExp;
}

const UNAUTHENTICATED = '{"code":"unauthenticated","message":"unauthenticated"}';
const MiB = 1024 * 1024;
const long = (n: number, ch = 'a') => ch.repeat(n);
/** A well-formed user id that names nobody. */
const NOBODY = `usr_${'0'.repeat(24)}`;
const WRONG_TYPE = /expected (string|array|object)/;
const UNKNOWN = 'unknown field';

/** The id in a path (`:id`) in several malformed forms. */
function malformedIds(prefix: string, own: string): Array<[what: string, id: string]> {
  return [
    ['malformed id: too short', `${prefix}_123`],
    ['malformed id: letters outside the alphabet', `${prefix}_${long(24, 'u')}`],
    ['malformed id: upper case', `${prefix}_${long(24, 'A')}`],
    ['malformed id: wrong separator', `${prefix}-${long(24, '0')}`],
    ['malformed id: one character too many', `${own}0`],
    ['control character: newline after the id', `${own}%0A`],
    ['over-long id (100 characters)', `${prefix}_${long(96)}`],
    ['over-long id (300 characters)', `${prefix}_${long(296)}`],
  ];
}

/** Ids of every other kind, for a route that takes `own`. */
function otherKinds(own: string): Array<[what: string, id: string]> {
  return ['{user}', '{group}', '{grant}', '{key}']
    .filter((id) => id !== own)
    .map((id) => [`id of another kind: ${id.slice(1, -1)} id`, id]);
}

/** Malformed ids and ids of other kinds for `:id` in `template`. */
function idCases(
  family: Family,
  method: Method,
  template: string,
  prefix: string,
  own: string,
  error: string | RegExp,
  body?: unknown,
): BadCase[] {
  return [...malformedIds(prefix, own), ...otherKinds(own)].map(([what, id]) => ({
    family,
    what,
    method,
    path: template.replace(':id', id),
    body,
    field: 'id',
    // An over-long id may be turned away before it reaches the schema; the field is enough.
    error: what.startsWith('over-long') ? undefined : error,
  }));
}

/** Page and cursor inputs out of range on a list. */
function pagingCases(family: Family, path: string): BadCase[] {
  const c = (what: string, query: string, field: string, error?: string | RegExp): BadCase => ({
    family,
    what,
    method: 'GET',
    path: `${path}?${query}`,
    field,
    error,
  });
  return [
    c('page out of range: limit=0', 'limit=0', 'limit', 'must be at least 1'),
    c('page out of range: limit=-1', 'limit=-1', 'limit', 'must be at least 1'),
    c('page out of range: limit=1001', 'limit=1001', 'limit', 'must be at most 1000'),
    c('page out of range: limit=1e9', 'limit=1e9', 'limit', 'must be at most 1000'),
    c('wrong type: limit=abc', 'limit=abc', 'limit', 'must be a number'),
    c('wrong type: limit=1.5', 'limit=1.5', 'limit', 'must be a whole number'),
    c('wrong type: limit given twice', 'limit=1&limit=2', 'limit'),
    c('empty string: limit=', 'limit=', 'limit'),
    c('control character: limit=%0A', 'limit=%0A', 'limit'),
    c(
      'malformed cursor: after=!!',
      'after=!!',
      'after',
      'must be the next value of a previous page',
    ),
    c('empty string: after=', 'after=', 'after'),
    c('control character: after=a%0Ab', 'after=a%0Ab', 'after'),
    c('over-long cursor (701 characters)', `after=${long(701, 'A')}`, 'after'),
    c('wrong type: after given twice', 'after=AAAA&after=BBBB', 'after'),
    c(
      'cursor the server did not make',
      'after=zz',
      'after',
      'is not the next value of a previous page',
    ),
    // "AA" is base64url for a single NUL byte: no page of ours ends there.
    c('cursor holding a control character (NUL)', 'after=AA', 'after'),
    c('unknown field: page=2', 'page=2', 'page', UNKNOWN),
  ];
}

function post(
  family: Family,
  what: string,
  method: Method,
  path: string,
  body: unknown,
  field: string,
  error?: string | RegExp,
): BadCase {
  return { family, what, method, path, body, field, error };
}

function get(
  family: Family,
  what: string,
  method: Method,
  path: string,
  field: string,
  error?: string | RegExp,
): BadCase {
  return { family, what, method, path, field, error };
}

const grantBase = { user: '{user}', privilege: 'edit', resource: 'cluster1' };

// prettier-ignore
const userCases: BadCase[] = [
  ...pagingCases('users', '/api/users'),
  get('users', 'unknown field', 'GET', '/api/users?role=admin', 'role', UNKNOWN),
  get('users', 'empty string', 'GET', '/api/users?name=', 'name'),
  get('users', 'control character', 'GET', '/api/users?name=a%01b%40example.com', 'name'),
  get('users', 'over-long name', 'GET', `/api/users?name=${long(300)}%40example.com`, 'name'),
  get('users', 'wrong type: name twice', 'GET', '/api/users?name=a%40x.io&name=b%40x.io', 'name'),
  get('users', 'id of another kind', 'GET', '/api/users?group={user}', 'group', 'must be a group id'),
  get('users', 'malformed id', 'GET', '/api/users?group=grp_123', 'group', 'must be a group id'),
  get('users', 'id of another kind', 'GET', '/api/users?ids={group}', 'ids.0', 'must be a user id'),
  get('users', 'malformed id', 'GET', '/api/users?ids={user}&ids=usr_bad', 'ids.1'),
  get('users', 'wrong type', 'GET', '/api/users?showSystem=yes', 'showSystem', 'must be true or false'),

  post('users', 'missing field', 'POST', '/api/users', {}, 'name', WRONG_TYPE),
  post('users', 'wrong type: number', 'POST', '/api/users', { name: 42 }, 'name', WRONG_TYPE),
  post('users', 'wrong type: null', 'POST', '/api/users', { name: null }, 'name', WRONG_TYPE),
  post('users', 'wrong type: array', 'POST', '/api/users', { name: ['a@x.io'] }, 'name'),
  post('users', 'empty string', 'POST', '/api/users', { name: '' }, 'name'),
  post('users', 'only spaces', 'POST', '/api/users', { name: '   ' }, 'name'),
  post('users', 'over-long name (262 characters)', 'POST', '/api/users', { name: `${long(250)}@example.com` }, 'name', 'must be at most 254 characters'),
  post('users', 'control character: newline', 'POST', '/api/users', { name: 'a\nb@x.io' }, 'name'),
  post('users', 'control character: NUL', 'POST', '/api/users', { name: 'a\u0000b@x.io' }, 'name'),
  post('users', 'unknown field', 'POST', '/api/users', { name: 'n@x.io', role: 'admin' }, 'role', UNKNOWN),

  ...idCases('users', 'GET', '/api/users/:id', 'usr', '{user}', /must be a user id/),
  get('users', 'malformed id: SELF', 'GET', '/api/users/SELF', 'id', /must be a user id/),
  get('users', 'unknown field', 'GET', '/api/users/self?expand=groups', 'expand', UNKNOWN),

  post('users', 'missing field', 'PUT', '/api/users/{user}', {}, 'password', WRONG_TYPE),
  post('users', 'empty string', 'PUT', '/api/users/{user}', { password: '' }, 'password', 'must not be empty'),
  post('users', 'wrong type', 'PUT', '/api/users/{user}', { password: 12345678 }, 'password', WRONG_TYPE),
  post('users', 'over-long password (2000 characters)', 'PUT', '/api/users/{user}', { password: long(2000) }, 'password', 'must be at most 1024 characters'),
  post('users', 'over-long old password (2000 characters)', 'PUT', '/api/users/{user}', { password: 'new-password-123', oldPassword: long(2000) }, 'oldPassword'),
  post('users', 'wrong type', 'PUT', '/api/users/{user}', { password: 'new-password-123', oldPassword: 5 }, 'oldPassword', WRONG_TYPE),
  post('users', 'unknown field', 'PUT', '/api/users/{user}', { password: 'new-password-123', oneTime: false }, 'oneTime', UNKNOWN),
  ...idCases('users', 'PUT', '/api/users/:id', 'usr', '{user}', /must be a user id/, {
    password: 'new-password-123',
  }),

  ...idCases('users', 'DELETE', '/api/users/:id', 'usr', '{user}', 'must be a user id'),
  get('users', 'self where a user id is required', 'DELETE', '/api/users/self', 'id', 'must be a user id'),
  get('users', 'unknown field', 'DELETE', '/api/users/{user}?force=true', 'force', UNKNOWN),
];

// prettier-ignore
const groupCases: BadCase[] = [
  ...pagingCases('groups', '/api/groups'),
  get('groups', 'empty string', 'GET', '/api/groups?name=', 'name', 'must not be empty'),
  get('groups', 'only spaces', 'GET', '/api/groups?name=%20%20', 'name', 'must not be empty'),
  get('groups', 'control character: newline', 'GET', '/api/groups?name=a%0Ab', 'name', 'must not contain control characters'),
  get('groups', 'control character: leading SOH', 'GET', '/api/groups?name=%01ab', 'name', 'must not contain control characters'),
  get('groups', 'control character: DEL', 'GET', '/api/groups?name=a%7Fb', 'name', 'must not contain control characters'),
  get('groups', 'over-long name', 'GET', `/api/groups?name=${long(300)}`, 'name', 'must be at most 256 characters'),
  get('groups', 'wrong type: name twice', 'GET', '/api/groups?name=a&name=b', 'name', WRONG_TYPE),
  get('groups', 'id of another kind', 'GET', '/api/groups?userID={group}', 'userID', /must be a user id/),
  get('groups', 'malformed id', 'GET', '/api/groups?userID={user}0', 'userID', /must be a user id/),
  get('groups', 'empty string', 'GET', '/api/groups?userID=', 'userID'),
  get('groups', 'unknown field', 'GET', '/api/groups?members=true', 'members', UNKNOWN),

  post('groups', 'missing field', 'POST', '/api/groups', {}, 'name', WRONG_TYPE),
  post('groups', 'wrong type: number', 'POST', '/api/groups', { name: 123 }, 'name', WRONG_TYPE),
  post('groups', 'wrong type: null', 'POST', '/api/groups', { name: null }, 'name', WRONG_TYPE),
  post('groups', 'wrong type: array', 'POST', '/api/groups', { name: ['a'] }, 'name', WRONG_TYPE),
  post('groups', 'wrong type: object', 'POST', '/api/groups', { name: { en: 'a' } }, 'name', WRONG_TYPE),
  post('groups', 'empty string', 'POST', '/api/groups', { name: '' }, 'name', 'must not be empty'),
  post('groups', 'only spaces', 'POST', '/api/groups', { name: '   ' }, 'name', 'must not be empty'),
  post('groups', 'over-long name (300 characters)', 'POST', '/api/groups', { name: long(300) }, 'name', 'must be at most 256 characters'),
  post('groups', 'control character: NUL', 'POST', '/api/groups', { name: 'a\u0000b' }, 'name', 'must not contain control characters'),
  post('groups', 'control character: newline', 'POST', '/api/groups', { name: 'a\nb' }, 'name', 'must not contain control characters'),
  post('groups', 'control character: escape sequence', 'POST', '/api/groups', { name: 'a\u001b[31mred' }, 'name', 'must not contain control characters'),
  post('groups', 'control character: DEL', 'POST', '/api/groups', { name: 'a\u007fb' }, 'name', 'must not contain control characters'),
  post('groups', 'control character: C1 (NEL)', 'POST', '/api/groups', { name: '\u0085ab' }, 'name', 'must not contain control characters'),
  post('groups', 'unknown field', 'POST', '/api/groups', { name: 'ok', extra: 1 }, 'extra', UNKNOWN),

  ...idCases('groups', 'GET', '/api/groups/:id', 'grp', '{group}', 'must be a group id'),
  get('groups', 'unknown field', 'GET', '/api/groups/{group}?users=true', 'users', UNKNOWN),
  ...idCases('groups', 'DELETE', '/api/groups/:id', 'grp', '{group}', 'must be a group id'),
  get('groups', 'unknown field', 'DELETE', '/api/groups/{group}?cascade=true', 'cascade', UNKNOWN),

  ...idCases('groups', 'PATCH', '/api/groups/:id/users', 'grp', '{group}', 'must be a group id', {
    usersToAdd: ['{user}'],
  }),
  post('groups', 'id of another kind', 'PATCH', '/api/groups/{group}/users', { usersToAdd: ['{group}'] }, 'usersToAdd.0', 'must be a user id'),
  post('groups', 'malformed id', 'PATCH', '/api/groups/{group}/users', { usersToRemove: ['usr_123'] }, 'usersToRemove.0', 'must be a user id'),
  post('groups', 'empty string', 'PATCH', '/api/groups/{group}/users', { usersToAdd: [''] }, 'usersToAdd.0', 'must be a user id'),
  post('groups', 'wrong type: string for a list', 'PATCH', '/api/groups/{group}/users', { usersToAdd: '{user}' }, 'usersToAdd', WRONG_TYPE),
  post('groups', 'wrong type: number in a list', 'PATCH', '/api/groups/{group}/users', { usersToAdd: [1] }, 'usersToAdd.0'),
  post('groups', 'over-long list (1001 ids)', 'PATCH', '/api/groups/{group}/users', { usersToAdd: Array<string>(1001).fill('{user}') }, 'usersToAdd'),
  post('groups', 'id of a user that does not exist', 'PATCH', '/api/groups/{group}/users', { usersToAdd: ['{user}', NOBODY] }, 'usersToAdd', `no user with id ${NOBODY}`),
  post('groups', 'unknown field', 'PATCH', '/api/groups/{group}/users', { usersToAdd: ['{user}'], replace: true }, 'replace', UNKNOWN),
];

// prettier-ignore
const grantCases: BadCase[] = [
  ...pagingCases('grants', '/api/grants'),
  get('grants', 'id of another kind', 'GET', '/api/grants?user={group}', 'user', /must be a user id/),
  get('grants', 'id of another kind', 'GET', '/api/grants?group={user}', 'group', 'must be a group id'),
  get('grants', 'malformed id', 'GET', '/api/grants?group=grp_', 'group', 'must be a group id'),
  get('grants', 'user and group both given', 'GET', '/api/grants?user=self&group={group}', 'group', 'give user or group, not both'),
  get('grants', 'empty string', 'GET', '/api/grants?resource=', 'resource'),
  get('grants', 'malformed resource', 'GET', '/api/grants?resource=a.b.c', 'resource'),
  get('grants', 'control character', 'GET', '/api/grants?resource=cluster1.kube%0Asystem', 'resource'),
  get('grants', 'empty string', 'GET', '/api/grants?privilege=', 'privilege'),
  get('grants', 'control character', 'GET', '/api/grants?privilege=a%0Ab', 'privilege'),
  get('grants', 'over-long privilege', 'GET', `/api/grants?privilege=${long(300)}`, 'privilege'),
  get('grants', 'malformed destination', 'GET', '/api/grants?destination=a.b', 'destination'),
  get('grants', 'wrong type', 'GET', '/api/grants?showInherited=maybe', 'showInherited', 'must be true or false'),
  get('grants', 'unknown field', 'GET', '/api/grants?role=admin', 'role', UNKNOWN),

  ...idCases('grants', 'GET', '/api/grants/:id', 'gnt', '{grant}', 'must be a grant id'),
  get('grants', 'unknown field', 'GET', '/api/grants/{grant}?expand=1', 'expand', UNKNOWN),
  ...idCases('grants', 'DELETE', '/api/grants/:id', 'gnt', '{grant}', 'must be a grant id'),
  get('grants', 'unknown field', 'DELETE', '/api/grants/{grant}?force=1', 'force', UNKNOWN),

  post('grants', 'missing fields', 'POST', '/api/grants', {}, 'privilege', WRONG_TYPE),
  post('grants', 'missing fields', 'POST', '/api/grants', {}, 'resource', WRONG_TYPE),
  post('grants', 'no subject', 'POST', '/api/grants', { ...grantBase, user: undefined }, 'user', 'give exactly one of user, userName, group or groupName'),
  post('grants', 'two subjects', 'POST', '/api/grants', { ...grantBase, group: '{group}' }, 'group', 'give exactly one of user, userName, group or groupName'),
  post('grants', 'id of another kind', 'POST', '/api/grants', { ...grantBase, user: '{group}' }, 'user', 'must be a user id'),
  post('grants', 'id of another kind', 'POST', '/api/grants', { ...grantBase, user: undefined, group: '{user}' }, 'group', 'must be a group id'),
  post('grants', 'malformed id', 'POST', '/api/grants', { ...grantBase, user: 'usr_123' }, 'user', 'must be a user id'),
  post('grants', 'wrong type', 'POST', '/api/grants', { ...grantBase, user: 7 }, 'user'),
  post('grants', 'malformed user name', 'POST', '/api/grants', { ...grantBase, user: undefined, userName: 'admin' }, 'userName'),
  post('grants', 'empty string', 'POST', '/api/grants', { ...grantBase, user: undefined, groupName: '' }, 'groupName', 'must not be empty'),
  post('grants', 'over-long group name', 'POST', '/api/grants', { ...grantBase, user: undefined, groupName: long(300) }, 'groupName', 'must be at most 256 characters'),
  post('grants', 'control character', 'POST', '/api/grants', { ...grantBase, user: undefined, groupName: 'a\u0000b' }, 'groupName', 'must not contain control characters'),
  post('grants', 'empty string', 'POST', '/api/grants', { ...grantBase, privilege: '' }, 'privilege'),
  post('grants', 'wrong type', 'POST', '/api/grants', { ...grantBase, privilege: 7 }, 'privilege', WRONG_TYPE),
  post('grants', 'over-long privilege', 'POST', '/api/grants', { ...grantBase, privilege: long(300) }, 'privilege'),
  post('grants', 'control character', 'POST', '/api/grants', { ...grantBase, privilege: 'view\n' }, 'privilege'),
  post('grants', 'role infra does not have', 'POST', '/api/grants', { ...grantBase, privilege: 'cluster-admin', resource: 'infra' }, 'privilege', 'on infra, the role must be admin, view or auditor'),
  post('grants', 'empty string', 'POST', '/api/grants', { ...grantBase, resource: '' }, 'resource'),
  post('grants', 'malformed resource', 'POST', '/api/grants', { ...grantBase, resource: 'a.b.c' }, 'resource'),
  post('grants', 'over-long resource', 'POST', '/api/grants', { ...grantBase, resource: long(300) }, 'resource'),
  post('grants', 'control character', 'POST', '/api/grants', { ...grantBase, resource: 'cluster1.kube\u0000system' }, 'resource'),
  post('grants', 'malformed time', 'POST', '/api/grants', { ...grantBase, expiresAt: 'tomorrow' }, 'expiresAt'),
  post('grants', 'wrong type', 'POST', '/api/grants', { ...grantBase, expiresAt: 1893456000000 }, 'expiresAt', WRONG_TYPE),
  post('grants', 'unknown field', 'POST', '/api/grants', { ...grantBase, role: 'admin' }, 'role', UNKNOWN),

  post('grants', 'wrong type: object for a list', 'PATCH', '/api/grants', { grantsToAdd: grantBase }, 'grantsToAdd', WRONG_TYPE),
  post('grants', 'id of another kind', 'PATCH', '/api/grants', { grantsToAdd: [{ ...grantBase, user: '{group}' }] }, 'grantsToAdd.0.user', 'must be a user id'),
  post('grants', 'unknown field', 'PATCH', '/api/grants', { grantsToAdd: [{ ...grantBase, extra: 1 }] }, 'grantsToAdd.0.extra', UNKNOWN),
  post('grants', 'empty string', 'PATCH', '/api/grants', { grantsToAdd: [{ ...grantBase, privilege: '' }] }, 'grantsToAdd.0.privilege'),
  post('grants', 'control character', 'PATCH', '/api/grants', { grantsToAdd: [{ ...grantBase, resource: 'cluster1.a\nb' }] }, 'grantsToAdd.0.resource'),
  post('grants', 'id of another kind (after a good addition)', 'PATCH', '/api/grants', { grantsToAdd: [grantBase], grantsToRemove: [{ id: '{user}' }] }, 'grantsToRemove.0.id', 'must be a grant id'),
  post('grants', 'malformed id', 'PATCH', '/api/grants', { grantsToRemove: [{ id: 'gnt_123' }] }, 'grantsToRemove.0.id', 'must be a grant id'),
  post('grants', 'unknown field', 'PATCH', '/api/grants', { grantsToRemove: [{ id: '{grant}', extra: 1 }] }, 'grantsToRemove.0.extra', UNKNOWN),
  post('grants', 'wrong type: string for an object', 'PATCH', '/api/grants', { grantsToRemove: ['{grant}'] }, 'grantsToRemove.0'),
  post('grants', 'over-long list (1001 grants)', 'PATCH', '/api/grants', { grantsToAdd: Array<unknown>(1001).fill(grantBase) }, 'grantsToAdd'),
  post('grants', 'unknown field (after a good addition)', 'PATCH', '/api/grants', { grantsToAdd: [grantBase], dryRun: true }, 'dryRun', UNKNOWN),
];

// prettier-ignore
const accessKeyCases: BadCase[] = [
  ...pagingCases('access-keys', '/api/access-keys'),
  get('access-keys', 'id of another kind', 'GET', '/api/access-keys?userID={group}', 'userID', /must be a user id/),
  get('access-keys', 'malformed id', 'GET', '/api/access-keys?userID=usr_123', 'userID', /must be a user id/),
  get('access-keys', 'empty string', 'GET', '/api/access-keys?name=', 'name'),
  get('access-keys', 'control character: newline', 'GET', '/api/access-keys?name=a%0Ab', 'name'),
  get('access-keys', 'control character: NUL', 'GET', '/api/access-keys?name=a%00b', 'name'),
  get('access-keys', 'over-long name', 'GET', `/api/access-keys?name=${long(300)}`, 'name'),
  get('access-keys', 'wrong type: name twice', 'GET', '/api/access-keys?name=a&name=b', 'name', WRONG_TYPE),
  get('access-keys', 'wrong type', 'GET', '/api/access-keys?showExpired=yes', 'showExpired', 'must be true or false'),
  get('access-keys', 'unknown field', 'GET', '/api/access-keys?secret=1', 'secret', UNKNOWN),

  post('access-keys', 'id of another kind', 'POST', '/api/access-keys', { userID: '{group}' }, 'userID', /must be a user id/),
  post('access-keys', 'malformed id', 'POST', '/api/access-keys', { userID: 'usr_123' }, 'userID', /must be a user id/),
  post('access-keys', 'empty string', 'POST', '/api/access-keys', { name: '' }, 'name'),
  post('access-keys', 'space in name', 'POST', '/api/access-keys', { name: 'has space' }, 'name'),
  post('access-keys', 'over-long name (300 characters)', 'POST', '/api/access-keys', { name: long(300) }, 'name'),
  post('access-keys', 'control character', 'POST', '/api/access-keys', { name: 'a\nb' }, 'name'),
  post('access-keys', 'wrong type', 'POST', '/api/access-keys', { name: 5 }, 'name', WRONG_TYPE),
  post('access-keys', 'empty string', 'POST', '/api/access-keys', { expiry: '' }, 'expiry', 'must be a duration such as 72h or 30m'),
  post('access-keys', 'malformed duration', 'POST', '/api/access-keys', { expiry: 'forever' }, 'expiry', 'must be a duration such as 72h or 30m'),
  post('access-keys', 'wrong type', 'POST', '/api/access-keys', { expiry: 30 }, 'expiry', WRONG_TYPE),
  post('access-keys', 'over-long duration (300 digits)', 'POST', '/api/access-keys', { expiry: `${long(300, '9')}h` }, 'expiry'),
  post('access-keys', 'duration out of range (11 million years)', 'POST', '/api/access-keys', { expiry: '99999999999h' }, 'expiry'),
  post('access-keys', 'malformed duration', 'POST', '/api/access-keys', { inactivityTimeout: 'x' }, 'inactivityTimeout', 'must be a duration such as 72h or 30m'),
  post('access-keys', 'over-long duration (300 digits)', 'POST', '/api/access-keys', { inactivityTimeout: `${long(300, '9')}h` }, 'inactivityTimeout'),
  post('access-keys', 'unknown field', 'POST', '/api/access-keys', { scopes: ['admin'] }, 'scopes', UNKNOWN),

  // The wording is checked once, on the next line; in the id cases the field is what matters.
  ...idCases('access-keys', 'DELETE', '/api/access-keys/:id', 'key', '{key}', /^must be an? access key id$/),
  get('access-keys', 'malformed id (error wording)', 'DELETE', '/api/access-keys/key_123', 'id', 'must be an access key id'),
  get('access-keys', 'unknown field', 'DELETE', '/api/access-keys/{key}?name={keyName}', 'name', UNKNOWN),
  get('access-keys', 'missing field', 'DELETE', '/api/access-keys', 'name', WRONG_TYPE),
  get('access-keys', 'empty string', 'DELETE', '/api/access-keys?name=', 'name'),
  get('access-keys', 'control character', 'DELETE', '/api/access-keys?name=a%0Ab', 'name'),
  get('access-keys', 'over-long name', 'DELETE', `/api/access-keys?name=${long(300)}`, 'name'),
  get('access-keys', 'wrong type: name twice', 'DELETE', '/api/access-keys?name={keyName}&name=b', 'name', WRONG_TYPE),
  get('access-keys', 'id of another kind', 'DELETE', '/api/access-keys?name={keyName}&userID={group}', 'userID', /must be a user id/),
  get('access-keys', 'unknown field', 'DELETE', '/api/access-keys?name={keyName}&all=true', 'all', UNKNOWN),
];

const password = (name: string, pw: string, extra: object = {}) => ({
  passwordCredentials: { name, password: pw, ...extra },
});
const goodSetup = { token: 'some-token', name: 'first@example.com', password: 'first-password-1' };
const anonymous = (c: BadCase): BadCase => ({ ...c, anonymous: true });

// prettier-ignore
const loginCases: BadCase[] = [
  ...[
    post('login/setup', 'missing fields', 'POST', '/api/login', {}, 'passwordCredentials', 'give exactly one of passwordCredentials, accessKey or oidc'),
    post('login/setup', 'password and key both given', 'POST', '/api/login', { ...password(ADMIN.name, ADMIN.password), accessKey: '{adminKey}' }, 'passwordCredentials', 'give exactly one of passwordCredentials, accessKey or oidc'),
    post('login/setup', 'wrong type', 'POST', '/api/login', { passwordCredentials: 'admin:pw' }, 'passwordCredentials', WRONG_TYPE),
    post('login/setup', 'malformed user name', 'POST', '/api/login', password('admin', 'x'), 'passwordCredentials.name', 'must be an email address'),
    post('login/setup', 'wrong type', 'POST', '/api/login', password(42 as unknown as string, 'x'), 'passwordCredentials.name', WRONG_TYPE),
    post('login/setup', 'control character', 'POST', '/api/login', password('ad\u0000min@example.com', 'x'), 'passwordCredentials.name'),
    post('login/setup', 'over-long user name', 'POST', '/api/login', password(`${long(300)}@example.com`, 'x'), 'passwordCredentials.name'),
    post('login/setup', 'empty string', 'POST', '/api/login', password(ADMIN.name, ''), 'passwordCredentials.password', 'must not be empty'),
    post('login/setup', 'over-long password (2000 characters)', 'POST', '/api/login', password(ADMIN.name, long(2000)), 'passwordCredentials.password', 'must be at most 1024 characters'),
    post('login/setup', 'unknown field', 'POST', '/api/login', password(ADMIN.name, ADMIN.password, { otp: '123456' }), 'passwordCredentials.otp', UNKNOWN),
    post('login/setup', 'empty string', 'POST', '/api/login', { accessKey: '' }, 'accessKey'),
    post('login/setup', 'over-long key (101 characters)', 'POST', '/api/login', { accessKey: long(101) }, 'accessKey'),
    post('login/setup', 'wrong type', 'POST', '/api/login', { accessKey: 12 }, 'accessKey', WRONG_TYPE),
    post('login/setup', 'unknown field', 'POST', '/api/login', { accessKey: '{adminKey}', remember: true }, 'remember', UNKNOWN),

    post('login/setup', 'missing fields', 'POST', '/api/setup', {}, 'token', WRONG_TYPE),
    post('login/setup', 'empty string', 'POST', '/api/setup', { ...goodSetup, token: '' }, 'token', 'must not be empty'),
    post('login/setup', 'over-long token (101 characters)', 'POST', '/api/setup', { ...goodSetup, token: long(101) }, 'token'),
    post('login/setup', 'wrong type', 'POST', '/api/setup', { ...goodSetup, token: 123 }, 'token', WRONG_TYPE),
    post('login/setup', 'malformed user name', 'POST', '/api/setup', { ...goodSetup, name: 'first' }, 'name', 'must be an email address'),
    post('login/setup', 'control character', 'POST', '/api/setup', { ...goodSetup, name: 'fi\nrst@example.com' }, 'name'),
    post('login/setup', 'over-long password (2000 characters)', 'POST', '/api/setup', { ...goodSetup, password: long(2000) }, 'password', 'must be at most 1024 characters'),
    post('login/setup', 'unknown field', 'POST', '/api/setup', { ...goodSetup, admin: true }, 'admin', UNKNOWN),
    get('login/setup', 'unknown field', 'GET', '/api/setup?token=x', 'token', UNKNOWN),
    get('login/setup', 'unknown field', 'GET', '/api/settings?x=1', 'x', UNKNOWN),
  ].map(anonymous),
  post('login/setup', 'unknown field', 'POST', '/api/logout', { all: true }, 'all', UNKNOWN),
];

// prettier-ignore
const auditCases: BadCase[] = [
  ...pagingCases('audit', '/api/audit'),
  get('audit', 'id of another kind', 'GET', '/api/audit?actor={group}', 'actor', 'must be a user id'),
  get('audit', 'self where a user id is required', 'GET', '/api/audit?actor=self', 'actor', 'must be a user id'),
  get('audit', 'malformed id', 'GET', '/api/audit?actor=usr_123', 'actor', 'must be a user id'),
  get('audit', 'empty string', 'GET', '/api/audit?action=', 'action', 'must not be empty'),
  get('audit', 'control character', 'GET', '/api/audit?action=create%0AGroup', 'action', 'must not contain control characters'),
  get('audit', 'over-long action', 'GET', `/api/audit?action=${long(65)}`, 'action', 'must be at most 64 characters'),
  get('audit', 'empty string', 'GET', '/api/audit?target=', 'target', 'must not be empty'),
  get('audit', 'control character', 'GET', '/api/audit?target=a%00b', 'target', 'must not contain control characters'),
  get('audit', 'over-long target', 'GET', `/api/audit?target=${long(65)}`, 'target', 'must be at most 64 characters'),
  get('audit', 'malformed time', 'GET', '/api/audit?since=yesterday', 'since'),
  get('audit', 'wrong type: milliseconds for a time', 'GET', '/api/audit?since=1700000000000', 'since'),
  get('audit', 'malformed time', 'GET', '/api/audit?until=2024-13-01T00:00:00Z', 'until'),
  get('audit', 'empty string', 'GET', '/api/audit?until=', 'until'),
  get('audit', 'unknown field', 'GET', '/api/audit?order=asc', 'order', UNKNOWN),
  get('audit', 'unknown field', 'GET', '/api/audit/verify?full=1', 'full', UNKNOWN),
];

const casesByFamily: Record<Family, BadCase[]> = {
  users: userCases,
  groups: groupCases,
  grants: grantCases,
  'access-keys': accessKeyCases,
  'login/setup': loginCases,
  audit: auditCases,
};

/** One write and one read route per family, each sent a body that would work. */
const keyRoutes: Array<{ family: Family; method: Method; path: string; body?: unknown }> = [
  { family: 'users', method: 'GET', path: '/api/users' },
  { family: 'users', method: 'POST', path: '/api/users', body: { name: 'never-made@example.com' } },
  { family: 'groups', method: 'GET', path: '/api/groups' },
  { family: 'groups', method: 'DELETE', path: '/api/groups/{group}' },
  { family: 'grants', method: 'GET', path: '/api/grants' },
  {
    family: 'grants',
    method: 'PATCH',
    path: '/api/grants',
    body: { grantsToRemove: [{ id: '{grant}' }] },
  },
  { family: 'access-keys', method: 'GET', path: '/api/access-keys' },
  { family: 'access-keys', method: 'POST', path: '/api/access-keys', body: { name: 'never-made' } },
  { family: 'login/setup', method: 'POST', path: '/api/logout', body: {} },
  { family: 'audit', method: 'GET', path: '/api/audit' },
  { family: 'audit', method: 'GET', path: '/api/audit/verify' },
];

/** Write routes with a body that would work, to send in the wrong shape. */
const bodyRoutes: Array<{
  family: Family;
  method: Method;
  path: string;
  valid: unknown;
  anonymous?: boolean;
}> = [
  { family: 'users', method: 'POST', path: '/api/users', valid: { name: 'body@example.com' } },
  {
    family: 'users',
    method: 'PUT',
    path: '/api/users/{user}',
    valid: { password: 'body-password-1' },
  },
  { family: 'groups', method: 'POST', path: '/api/groups', valid: { name: 'body-group' } },
  {
    family: 'groups',
    method: 'PATCH',
    path: '/api/groups/{group}/users',
    valid: { usersToAdd: ['{user}'] },
  },
  {
    family: 'grants',
    method: 'POST',
    path: '/api/grants',
    valid: { ...grantBase, resource: 'body' },
  },
  {
    family: 'grants',
    method: 'PATCH',
    path: '/api/grants',
    valid: { grantsToRemove: [{ id: '{grant}' }] },
  },
  { family: 'access-keys', method: 'POST', path: '/api/access-keys', valid: { name: 'body-key' } },
  {
    family: 'login/setup',
    method: 'POST',
    path: '/api/login',
    valid: password(ADMIN.name, ADMIN.password),
    anonymous: true,
  },
  { family: 'login/setup', method: 'POST', path: '/api/setup', valid: goodSetup, anonymous: true },
];

const JSON_TYPE = 'application/json';
const bodyClasses: Array<{
  what: string;
  contentType?: string;
  body: (valid: unknown) => string;
  status: number;
  code: string;
  message: string;
}> = [
  {
    what: 'malformed JSON (last brace missing)',
    contentType: JSON_TYPE,
    body: (v) => JSON.stringify(v).slice(0, -1),
    status: 400,
    code: 'bad_request',
    message: 'the request body is not valid JSON',
  },
  {
    what: 'JSON followed by garbage',
    contentType: JSON_TYPE,
    body: (v) => `${JSON.stringify(v)} x`,
    status: 400,
    code: 'bad_request',
    message: 'the request body is not valid JSON',
  },
  {
    what: 'a JSON array',
    contentType: JSON_TYPE,
    body: (v) => JSON.stringify([v]),
    status: 400,
    code: 'bad_request',
    message: 'the request body must be a JSON object',
  },
  {
    what: 'a JSON string',
    contentType: JSON_TYPE,
    body: (v) => JSON.stringify(JSON.stringify(v)),
    status: 400,
    code: 'bad_request',
    message: 'the request body must be a JSON object',
  },
  {
    what: 'an empty body said to be JSON',
    contentType: JSON_TYPE,
    body: () => '',
    status: 400,
    code: 'bad_request',
    message: 'the request body is empty but Content-Type says JSON; send {} or no Content-Type',
  },
  {
    what: 'JSON sent as text/plain',
    contentType: 'text/plain',
    body: (v) => JSON.stringify(v),
    status: 415,
    code: 'unsupported_media_type',
    message: 'send the request body as JSON with Content-Type: application/json',
  },
  {
    what: 'a form',
    contentType: 'application/x-www-form-urlencoded',
    body: () => 'name=form-value',
    status: 415,
    code: 'unsupported_media_type',
    message: 'send the request body as JSON with Content-Type: application/json',
  },
  {
    what: 'JSON without a Content-Type',
    body: (v) => JSON.stringify(v),
    status: 415,
    code: 'unsupported_media_type',
    message: 'send the request body as JSON with Content-Type: application/json',
  },
  {
    what: 'a body over 1 MiB',
    contentType: JSON_TYPE,
    body: (v) => JSON.stringify({ ...(v as object), padding: long(MiB) }),
    status: 413,
    code: 'payload_too_large',
    message: 'the request body is too large',
  },
];

function shorten(text: string): string {
  return text.length <= 90 ? text : `${text.slice(0, 70)}…(${text.length} characters)`;
}

function assertFieldError(
  res: RawResponse,
  field: string,
  error: string | RegExp | undefined,
  context: string,
): void {
  assert.equal(res.status, 400, `${context}: expected 400, got ${res.status} ${shorten(res.body)}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, context);
  const body = res.json<ApiErrorBody>();
  assert.deepEqual(Object.keys(body).sort(), ['code', 'fieldErrors', 'message'], context);
  assert.equal(body.code, 'bad_request', context);
  assert.match(body.message, /^validation failed: /, context);
  assert.ok(Array.isArray(body.fieldErrors) && body.fieldErrors.length > 0, context);
  for (const fe of body.fieldErrors) {
    assert.equal(typeof fe.field, 'string', context);
    assert.ok(fe.errors.length > 0, context);
    for (const e of fe.errors) assert.ok(typeof e === 'string' && e.length > 0, context);
  }
  const entry = body.fieldErrors.find((f) => f.field === field);
  assert.ok(entry, `${context}: no field error for "${field}" in ${shorten(res.body)}`);
  assert.ok(body.message.includes(`${field}: `), `${context}: message ${body.message}`);
  if (error !== undefined) {
    assert.ok(
      entry.errors.some((e) => (typeof error === 'string' ? e === error : error.test(e))),
      `${context}: errors for ${field} are ${JSON.stringify(entry.errors)}, expected ${String(error)}`,
    );
  }
}

function assertUnauthenticated(res: RawResponse, context: string, body = UNAUTHENTICATED): void {
  assert.equal(res.status, 401, `${context}: expected 401, got ${res.status} ${shorten(res.body)}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, context);
  assert.equal(res.body, body, context);
}

function flip(text: string, index: number): string {
  const i = index < 0 ? text.length + index : index;
  return `${text.slice(0, i)}${text[i] === 'a' ? 'b' : 'a'}${text.slice(i + 1)}`;
}

for (const engine of engines) {
  describe(`bad input [${engine}]`, () => {
    const clock = new TestClock();
    let server: TestServer;
    let admin: ApiClient;
    let adminKey: string;
    const f = {} as Fixtures & { adminKey: string };

    before(async () => {
      const started = await startAdminServer(engine, { clock });
      server = started.server;
      admin = started.admin;
      adminKey = started.adminKey;
      f.adminKey = adminKey;
      f.user = (await admin.createUser({ name: 'target@example.com' })).id;
      f.group = (await admin.createGroup({ name: 'target-group' })).id;
      await admin.createGroup({ name: 'second-group' });
      f.grant = (
        await admin.createGrant({ user: f.user, privilege: 'view', resource: 'cluster1' })
      ).id;
      f.keyName = 'fixture-key';
      f.key = (await admin.createAccessKey({ name: f.keyName })).id;
    });
    after(() => server?.close());

    /** Replaces `{user}` and the like in every string of a path or body. */
    function fill<T>(value: T): T {
      if (typeof value === 'string') {
        return value.replace(
          /\{(user|group|grant|key|keyName|adminKey)\}/g,
          (_, name: keyof typeof f) => f[name],
        ) as T;
      }
      if (Array.isArray(value)) return value.map((v: unknown) => fill(v)) as T;
      if (value !== null && typeof value === 'object') {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)])) as T;
      }
      return value;
    }

    /**
     * A raw request. `authorization` is the whole header: the admin's key by default, `null`
     * for none. A `body` is sent as JSON; `raw` is sent as is, with `contentType` if given.
     */
    function call(
      method: Method,
      path: string,
      opts: {
        body?: unknown;
        raw?: string;
        contentType?: string;
        authorization?: string | null;
      } = {},
    ): Promise<RawResponse> {
      const headers: Record<string, string> = {};
      const authorization =
        opts.authorization === undefined ? `Bearer ${adminKey}` : opts.authorization;
      if (authorization !== null) headers.authorization = authorization;
      let body: string | undefined = opts.raw;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = JSON_TYPE;
      }
      if (opts.contentType !== undefined) headers['content-type'] = opts.contentType;
      return rawRequest(`${server.url}${path}`, { method, headers, body, ca: server.ca });
    }

    /** Everything a refused write could have changed, as the API shows it. */
    async function snapshot() {
      return {
        auditHead: (await admin.listAudit({ limit: 1 })).items,
        users: await admin.listUsers({ showSystem: true, limit: 1000 }),
        groups: await admin.listGroups({ limit: 1000 }),
        members: await admin.listUsers({ group: f.group, limit: 1000 }),
        grants: await admin.listGrants({ showSystem: true, limit: 1000 }),
        keys: await admin.listAccessKeys({ limit: 1000 }),
      };
    }

    it('accepts the good inputs the bad ones are variations of (control)', async () => {
      const ok = async (path: string) => {
        const res = await call('GET', fill(path));
        assert.equal(res.status, 200, `${path}: ${shorten(res.body)}`);
        return res.json<{ next?: string }>();
      };
      for (const path of [
        '/api/users/self',
        '/api/users/{user}',
        '/api/users?ids={user}&limit=1',
        '/api/users?limit=1000',
        '/api/groups/{group}',
        '/api/groups?userID=self&name=target-group',
        '/api/grants/{grant}',
        '/api/grants?user=self',
        '/api/grants?group={group}&resource=cluster1.kube-system&destination=cluster1',
        '/api/access-keys?userID=self&name={keyName}&showExpired=true',
        '/api/audit?actor={user}&action=createGroup&target={group}',
        '/api/audit?since=2020-01-01T00:00:00Z&until=2999-01-01T00:00:00Z',
        '/api/audit/verify',
        '/api/setup',
        '/api/settings',
      ]) {
        await ok(path);
      }
      // Page boundaries: 1 and 1000 are fine, and a real cursor is accepted.
      for (const list of ['/api/users', '/api/groups', '/api/grants', '/api/access-keys']) {
        const first = await ok(`${list}?limit=1`);
        assert.ok(first.next, `${list}?limit=1 has a next page`);
        await ok(`${list}?limit=1&after=${first.next}`);
      }
      const audit = await ok('/api/audit?limit=1');
      assert.ok(audit.next);
      await ok(`/api/audit?limit=1&after=${audit.next}`);
    });

    for (const family of families) {
      describe(family, () => {
        for (const c of casesByFamily[family]) {
          const title = `${c.method} ${shorten(c.path)}: ${c.what} → 400 on ${c.field}`;
          it(title, async () => {
            const writes = c.method !== 'GET';
            const before = writes ? await snapshot() : undefined;
            const res = await call(c.method, fill(c.path), {
              body: c.body === undefined ? undefined : fill(c.body),
              authorization: c.anonymous ? null : undefined,
            });
            assertFieldError(res, c.field, c.error, title);
            if (writes) assert.deepEqual(await snapshot(), before, `${title}: nothing changed`);
          });
        }
      });
    }

    describe('request bodies that are not a JSON object', () => {
      for (const r of bodyRoutes) {
        for (const b of bodyClasses) {
          const title = `${r.method} ${r.path} (${r.family}): ${b.what} → ${b.status} ${b.code}`;
          it(title, async () => {
            const before = await snapshot();
            const res = await call(r.method, fill(r.path), {
              raw: b.body(fill(r.valid)),
              contentType: b.contentType,
              authorization: r.anonymous ? null : undefined,
            });
            assert.equal(res.status, b.status, `${title}: ${shorten(res.body)}`);
            assert.match(String(res.headers['content-type']), /^application\/json/);
            assert.deepEqual(res.json(), { code: b.code, message: b.message });
            assert.deepEqual(await snapshot(), before, `${title}: nothing changed`);
          });
        }
      }
    });

    describe('keys that are not good: 401 on every family', () => {
      /**
       * Sends `authorization` to one read and one write route per family and checks each is
       * refused with exactly the unauthenticated body and changes nothing; then offers `key`
       * for exchange at POST /api/login, which must refuse it too.
       */
      async function assertRefused(
        authorization: string,
        key: string | undefined,
        label: string,
        body = UNAUTHENTICATED,
      ) {
        const before = await snapshot();
        for (const r of keyRoutes) {
          const res = await call(r.method, fill(r.path), {
            body: r.body === undefined ? undefined : fill(r.body),
            authorization,
          });
          assertUnauthenticated(res, `${label}: ${r.method} ${r.path} (${r.family})`, body);
        }
        assert.deepEqual(await snapshot(), before, `${label}: nothing changed`);
        if (key !== undefined) {
          const res = await call('POST', '/api/login', {
            body: { accessKey: key },
            authorization: null,
          });
          assertUnauthenticated(res, `${label}: POST /api/login (login/setup)`, body);
        }
      }

      /** The key works before it is spoiled, so a 401 after says something. */
      async function assertWorks(key: string) {
        const res = await call('GET', '/api/users/self', { authorization: `Bearer ${key}` });
        assert.equal(res.status, 200, shorten(res.body));
      }

      let good: string;
      let other: string;
      before(async () => {
        good = (await admin.createAccessKey({ name: 'spoiled' })).accessKey;
        other = (await admin.createAccessKey({ name: 'other' })).accessKey;
      });

      it('the unspoiled key works on every read route (control)', async () => {
        for (const r of keyRoutes.filter((r) => r.method === 'GET')) {
          const res = await call('GET', r.path, { authorization: `Bearer ${good}` });
          assert.equal(res.status, 200, `${r.path}: ${shorten(res.body)}`);
        }
        // Lower-case scheme and extra spaces are still a bearer token.
        const res = await call('GET', '/api/users', { authorization: `bearer   ${good}` });
        assert.equal(res.status, 200, shorten(res.body));
      });

      const spoilt: Array<[string, (k: string, other: string) => string]> = [
        ['tampered: one character of the secret changed', (k) => flip(k, -1)],
        ['tampered: first character of the secret changed', (k) => flip(k, 11)],
        ['tampered: one character of the key id changed', (k) => flip(k, 0)],
        [
          'tampered: key id of one key, secret of another',
          (k, o) => `${k.split('.')[0]}.${o.split('.')[1]}`,
        ],
        ['tampered: key id and secret swapped', (k) => k.split('.').reverse().join('.')],
        ['truncated: last character dropped', (k) => k.slice(0, -1)],
        ['truncated: half the secret', (k) => k.slice(0, 23)],
        ['truncated: key id and dot only', (k) => k.slice(0, 11)],
        ['truncated: key id only', (k) => k.split('.')[0]!],
        ['extra characters: one appended', (k) => `${k}a`],
        ['extra characters: one prepended', (k) => `a${k}`],
        ['extra characters: a second dot and part', (k) => `${k}.abc`],
        ['well-formed but never issued', () => `${long(10, 'A')}.${long(24, 'B')}`],
      ];
      for (const [label, spoil] of spoilt) {
        it(label, async () => {
          await assertWorks(good);
          const key = spoil(good, other);
          assert.notEqual(key, good);
          await assertRefused(`Bearer ${key}`, key, label);
        });
      }

      const headers: Array<[string, (k: string) => string]> = [
        ['no key after Bearer', () => 'Bearer '],
        [
          'Basic credentials',
          () => `Basic ${Buffer.from(`${ADMIN.name}:${ADMIN.password}`).toString('base64')}`,
        ],
        ['the key without the Bearer scheme', (k) => k],
        ['two keys', (k) => `Bearer ${k} ${k}`],
      ];
      for (const [label, header] of headers) {
        it(`malformed Authorization header: ${label}`, async () => {
          await assertWorks(good);
          await assertRefused(header(good), undefined, label);
        });
      }

      it('no credentials at all', async () => {
        const before = await snapshot();
        for (const r of keyRoutes) {
          const res = await call(r.method, fill(r.path), {
            body: r.body === undefined ? undefined : fill(r.body),
            authorization: null,
          });
          assertUnauthenticated(res, `anonymous: ${r.method} ${r.path}`);
        }
        assert.deepEqual(await snapshot(), before);
      });

      it('authentication comes before input validation: bad key and bad input is a 401', async () => {
        const bad = `Bearer ${flip(good, -1)}`;
        const samples = families
          .map((family) => casesByFamily[family].filter((c) => !c.anonymous))
          .flatMap((cases) => [
            cases.find((c) => c.method === 'GET'),
            cases.find((c) => c.method !== 'GET'),
          ])
          .filter((c): c is BadCase => c !== undefined);
        assert.ok(samples.length >= 10);
        for (const c of samples) {
          const body = c.body === undefined ? undefined : fill(c.body);
          for (const authorization of [bad, null]) {
            const res = await call(c.method, fill(c.path), { body, authorization });
            assertUnauthenticated(
              res,
              `${c.method} ${c.path} (${c.what}), ${authorization ?? 'anonymous'}`,
            );
          }
        }
      });

      it('expired', async () => {
        const key = (await admin.createAccessKey({ name: 'short-lived', expiry: '1s' })).accessKey;
        await assertWorks(key);
        clock.advance(1000);
        await assertRefused(`Bearer ${key}`, key, 'expired');
      });

      it('unused past its inactivity timeout', async () => {
        const key = (await admin.createAccessKey({ name: 'idle', inactivityTimeout: '1m' }))
          .accessKey;
        await assertWorks(key);
        clock.advance(60_000);
        await assertRefused(`Bearer ${key}`, key, 'inactive');
      });

      it('revoked: deleted by id', async () => {
        const created = await admin.createAccessKey({ name: 'revoked-by-id' });
        await assertWorks(created.accessKey);
        assert.equal((await call('DELETE', `/api/access-keys/${created.id}`)).status, 204);
        await assertRefused(`Bearer ${created.accessKey}`, created.accessKey, 'deleted by id');
      });

      it('revoked: deleted by name', async () => {
        const created = await admin.createAccessKey({ name: 'revoked-by-name' });
        await assertWorks(created.accessKey);
        const res = await call('DELETE', '/api/access-keys?name=revoked-by-name');
        assert.equal(res.status, 204, res.body);
        await assertRefused(`Bearer ${created.accessKey}`, created.accessKey, 'deleted by name');
      });

      it('revoked: session ended by POST /api/logout', async () => {
        const session = await server.client().login({ passwordCredentials: ADMIN });
        await assertWorks(session.accessKey);
        const res = await call('POST', '/api/logout', {
          body: {},
          authorization: `Bearer ${session.accessKey}`,
        });
        assert.equal(res.status, 204, res.body);
        await assertRefused(`Bearer ${session.accessKey}`, session.accessKey, 'logged out');
      });

      it("revoked: the key's user was deleted", async () => {
        const doomed = await createSignedInUser(server, admin, 'doomed@example.com', 'admin');
        await assertWorks(doomed.key);
        assert.equal((await call('DELETE', `/api/users/${doomed.id}`)).status, 204);
        // Its holder is told why, as nobody else is: logging in again cannot help them.
        await assertRefused(
          `Bearer ${doomed.key}`,
          doomed.key,
          'user deleted',
          JSON.stringify({
            code: 'user_removed',
            message: 'your Infra user was removed by an admin',
          }),
        );
      });

      it('revoked: sessions ended by an admin resetting the password', async () => {
        const reset = await createSignedInUser(server, admin, 'reset@example.com', 'admin');
        await assertWorks(reset.key);
        const res = await call('PUT', `/api/users/${reset.id}`, {
          body: { password: 'reset-by-admin-1' },
        });
        assert.equal(res.status, 200, res.body);
        await assertRefused(`Bearer ${reset.key}`, reset.key, 'password reset');
      });
    });
  });
}

describe('requests malformed below the API', () => {
  let server: TestServer;
  let adminKey: string;
  let port: number;
  before(async () => {
    ({ server, adminKey } = await startAdminServer('sqlite'));
    port = Number(new URL(server.url).port);
  });
  after(() => server?.close());

  const BAD_PERCENT = '%E0%A4%A';
  const HEAD = 'Host: localhost\r\nConnection: close\r\n';
  const send = (request: string | Buffer) => rawExchange(port, request, { ca: server.ca });

  /** A refusal in the one error shape, never a 5xx. */
  function assertRefusal(res: WireResponse, status: number, code: string, context: string) {
    assert.equal(res.status, status, `${context}: ${shorten(res.body)}`);
    assertErrorShape(res, context);
    assert.equal(JSON.parse(res.body).code, code, context);
  }

  function assertErrorShape(res: WireResponse, context: string) {
    assert.ok(
      res.status >= 400 && res.status < 500,
      `${context}: ${res.status} ${shorten(res.body)}`,
    );
    assert.match(res.headers['content-type'] ?? '', /^application\/json/, context);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    assert.equal(typeof body.code, 'string', context);
    assert.equal(typeof body.message, 'string', context);
    assert.deepEqual(
      Object.keys(body).filter((k) => !['code', 'message', 'fieldErrors'].includes(k)),
      [],
      context,
    );
  }

  /** Log lines at error level (pino's 50), or about a response with a 5xx status. */
  function serverErrors(): string[] {
    return server.logs.lines.filter((line) => {
      const entry = JSON.parse(line) as { level: number; status?: number };
      return entry.level >= 50 || (entry.status ?? 0) >= 500;
    });
  }

  it('a session cookie that is not valid percent-encoding is a failed credential, not a 500', async () => {
    const cookie = `Cookie: __Host-infra-session=${BAD_PERCENT}\r\n`;
    for (const path of ['/api/users', '/api/users/self', '/api/grants', '/api/audit']) {
      assertRefusal(
        await send(`GET ${path} HTTP/1.1\r\n${HEAD}${cookie}\r\n`),
        401,
        'unauthenticated',
        path,
      );
    }
    const logout = await send(
      `POST /api/logout HTTP/1.1\r\n${HEAD}${cookie}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    );
    assertRefusal(logout, 401, 'unauthenticated', 'POST /api/logout');
    // Public endpoints do not look at it, and a bad login binding is no binding.
    const version = await send(`GET /api/version HTTP/1.1\r\n${HEAD}${cookie}\r\n`);
    assert.equal(version.status, 200, version.body);
    const binding = await send(
      `GET /api/providers HTTP/1.1\r\n${HEAD}Cookie: __Host-infra-login=${BAD_PERCENT}; __Host-infra-session=${BAD_PERCENT}\r\n\r\n`,
    );
    assert.equal(binding.status, 200, binding.body);
    assert.deepEqual(serverErrors(), []);
  });

  const framing: Array<{ what: string; request: string | Buffer; status: number; code: string }> = [
    {
      what: 'bad percent-encoding in the path',
      request: `GET /api/users/${BAD_PERCENT} HTTP/1.1\r\n${HEAD}\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'bad percent-encoding outside the API',
      request: `GET /${BAD_PERCENT} HTTP/1.1\r\n${HEAD}Accept: text/html\r\n\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'percent-encoded bytes that are not UTF-8',
      request: `GET /api/users/%FF%FE HTTP/1.1\r\n${HEAD}\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'an over-long path segment (5 KB)',
      request: `GET /api/users/${long(5000)} HTTP/1.1\r\n${HEAD}\r\n`,
      status: 414,
      code: 'uri_too_long',
    },
    {
      what: 'an over-long URL (20 KB)',
      request: `GET /api/users?name=${long(20_000)} HTTP/1.1\r\n${HEAD}\r\n`,
      status: 431,
      code: 'headers_too_large',
    },
    {
      what: 'an over-long header (20 KB)',
      request: `GET /api/users HTTP/1.1\r\n${HEAD}X-Padding: ${long(20_000)}\r\n\r\n`,
      status: 431,
      code: 'headers_too_large',
    },
    {
      what: 'a method that is not HTTP',
      request: `FOO /api/users HTTP/1.1\r\n${HEAD}\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'a method with characters a method cannot have',
      request: `G@T /api/users HTTP/1.1\r\n${HEAD}\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'an HTTP method no route has',
      request: `PROPFIND /api/users HTTP/1.1\r\n${HEAD}\r\n`,
      status: 404,
      code: 'not_found',
    },
    {
      what: 'CONNECT (a tunnel: this server is no proxy)',
      request: `CONNECT localhost:443 HTTP/1.1\r\n${HEAD}\r\n`,
      status: 405,
      code: 'method_not_allowed',
    },
    { what: 'not HTTP at all', request: 'hello\r\n\r\n', status: 400, code: 'bad_request' },
    {
      what: 'an HTTP/2 preface without ALPN',
      request: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'no Host header (HTTP/1.1)',
      request: 'GET /api/version HTTP/1.1\r\nConnection: close\r\n\r\n',
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'no Host header (HTTP/1.0)',
      request: 'GET /api/version HTTP/1.0\r\n\r\n',
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'a malformed Host header',
      request: 'GET /api/version HTTP/1.1\r\nHost: local host:x\r\nConnection: close\r\n\r\n',
      status: 421,
      code: 'misdirected',
    },
    {
      what: 'Content-Length twice, differing',
      request: `POST /api/login HTTP/1.1\r\n${HEAD}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'Content-Length and Transfer-Encoding together',
      request: `POST /api/login HTTP/1.1\r\n${HEAD}Content-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'a malformed chunked body',
      request: `POST /api/login HTTP/1.1\r\n${HEAD}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'a control character in a header value',
      request: `GET /api/users HTTP/1.1\r\n${HEAD}X-Bad: a\x01b\r\n\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'a space before the colon of a header',
      request: `GET /api/users HTTP/1.1\r\n${HEAD}Authorization : Bearer x\r\n\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'a bare LF in the request line',
      request: `GET /api/users HTTP/1.1\n${HEAD}\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'JSON with bytes that are not UTF-8',
      request: Buffer.concat([
        Buffer.from(
          `POST /api/login HTTP/1.1\r\n${HEAD}Content-Type: application/json\r\nContent-Length: 10\r\n\r\n`,
        ),
        Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d, 0x20, 0x20]),
      ]),
      status: 400,
      code: 'bad_request',
    },
  ];
  for (const c of framing) {
    it(`${c.what} → ${c.status} ${c.code}`, async () => {
      assertRefusal(await send(c.request), c.status, c.code, c.what);
    });
  }

  it('a 404 quotes at most 200 characters of the path', async () => {
    const res = await send(`GET /api/${long(5000)} HTTP/1.1\r\n${HEAD}\r\n`);
    assertRefusal(res, 404, 'not_found', 'long unknown path');
    assert.ok(res.body.length < 300, shorten(res.body));
  });

  it('an upload the client abandons is not a server error', async () => {
    const conn = rawConnection(port, { ca: server.ca });
    await conn.secure;
    conn.socket.write(
      `POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"passwordCredentials":`,
    );
    // The server is reading the body when the client goes away.
    await new Promise((r) => setTimeout(r, 100));
    conn.socket.destroy();
    const said = 'the client closed the connection before the request was complete';
    for (let i = 0; i < 200 && !server.logs.text.includes(said); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok(server.logs.text.includes(said), 'the abandoned upload is logged as such');
    assert.deepEqual(serverErrors(), []);
  });

  it('no endpoint answers malformed input with a 5xx or an error in another shape', async () => {
    const variants: Array<{ what: string; request: (e: Endpoint) => string | undefined }> = [];
    const target = (e: Endpoint, value: string) => e.path.replace(/:([A-Za-z]+)/g, value);
    const hasBody = (e: Endpoint) => ['POST', 'PUT', 'PATCH'].includes(e.method);
    const auth = `Authorization: Bearer ${adminKey}\r\n`;
    const json = (body: string) =>
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const noBody = '\r\n';
    variants.push(
      {
        what: 'bad percent-encoding in the session cookie',
        request: (e) =>
          `${e.method} ${target(e, 'x')} HTTP/1.1\r\n${HEAD}Cookie: __Host-infra-session=${BAD_PERCENT}\r\n${hasBody(e) ? json('{}') : noBody}`,
      },
      {
        what: 'bad percent-encoding in a path parameter',
        request: (e) =>
          e.path.includes(':')
            ? `${e.method} ${target(e, BAD_PERCENT)} HTTP/1.1\r\n${HEAD}${auth}${hasBody(e) ? json('{}') : noBody}`
            : undefined,
      },
      {
        // Anonymous for writes: an admin's valid request must not run (logout, key rotation).
        what: 'bad percent-encoding in the query',
        request: (e) =>
          `${e.method} ${target(e, 'x')}?name=${BAD_PERCENT}&${BAD_PERCENT}=1 HTTP/1.1\r\n${HEAD}${e.method === 'GET' ? auth : ''}${hasBody(e) ? json('{}') : noBody}`,
      },
      {
        what: 'a path parameter of 5 KB',
        request: (e) =>
          e.path.includes(':')
            ? `${e.method} ${target(e, long(5000))} HTTP/1.1\r\n${HEAD}${auth}${hasBody(e) ? json('{}') : noBody}`
            : undefined,
      },
      {
        what: 'malformed JSON',
        request: (e) =>
          hasBody(e)
            ? `${e.method} ${target(e, 'x')} HTTP/1.1\r\n${HEAD}${auth}${json('{"a":')}`
            : undefined,
      },
      {
        what: 'a JSON body that is not an object',
        request: (e) =>
          hasBody(e)
            ? `${e.method} ${target(e, 'x')} HTTP/1.1\r\n${HEAD}${auth}${json('null')}`
            : undefined,
      },
      {
        what: 'a form instead of JSON',
        request: (e) =>
          hasBody(e)
            ? `${e.method} ${target(e, 'x')} HTTP/1.1\r\n${HEAD}${auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b`
            : undefined,
      },
      {
        what: 'a Content-Type that is not a media type',
        request: (e) =>
          hasBody(e)
            ? `${e.method} ${target(e, 'x')} HTTP/1.1\r\n${HEAD}${auth}Content-Type: ;;;\r\nContent-Length: 2\r\n\r\n{}`
            : undefined,
      },
      {
        what: 'a body sent with a GET',
        request: (e) =>
          e.method === 'GET'
            ? `GET ${target(e, 'x')} HTTP/1.1\r\n${HEAD}${auth}${json('{"a":')}`
            : undefined,
      },
      {
        what: 'Authorization twice',
        request: (e) =>
          `${e.method} ${target(e, 'x')} HTTP/1.1\r\n${HEAD}Authorization: Bearer a\r\nAuthorization: Bearer b\r\n${hasBody(e) ? json('{}') : noBody}`,
      },
      {
        what: 'Infra-Version twice',
        request: (e) =>
          `${e.method} ${target(e, 'x')} HTTP/1.1\r\n${HEAD}${auth}Infra-Version: 0.0.1\r\nInfra-Version: 0.0.2\r\n${hasBody(e) ? json('{}') : noBody}`,
      },
    );
    let sent = 0;
    for (const [name, e] of Object.entries(endpoints) as Array<[string, Endpoint]>) {
      for (const v of variants) {
        const request = v.request(e);
        if (request === undefined) continue;
        const res = await send(request);
        sent++;
        const context = `${name} (${e.method} ${e.path}), ${v.what}`;
        assert.ok(
          res.status > 0 && res.status < 500,
          `${context}: ${res.status} ${shorten(res.body)}`,
        );
        if (res.status >= 400) assertErrorShape(res, context);
      }
    }
    assert.ok(sent > 300, `${sent} requests`);
    assert.deepEqual(serverErrors(), []);
  });
});
