import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpoints } from '../../src/api/endpoints.js';
import { endpointRoutes } from '../../dashboard/src/lib/endpoints.js';

describe('dashboard endpoint table', () => {
  it('has the method and path of every operation in the API contract, and nothing else', () => {
    const fromContract = Object.fromEntries(
      Object.entries(endpoints).map(([name, e]) => [name, [e.method, e.path]]),
    );
    assert.deepEqual(endpointRoutes, fromContract);
  });
});
