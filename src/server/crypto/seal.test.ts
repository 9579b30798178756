import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { openWith, sealWith, sealedKeyId } from './seal.js';

describe('sealWith / openWith', () => {
  const key = randomBytes(32);
  const secret = Buffer.from('the signing key');

  it('round-trips and names the key', () => {
    const sealed = sealWith(key, 'dk1', secret, 'signing_keys.private_jwk:abc');
    assert.match(sealed, /^v1:dk1:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/);
    assert.equal(sealedKeyId(sealed), 'dk1');
    assert.deepEqual(openWith(key, sealed, 'signing_keys.private_jwk:abc'), secret);
    assert.equal(sealed.includes(secret.toString('base64url')), false);
  });

  it('uses a fresh nonce every time', () => {
    assert.notEqual(sealWith(key, 'dk1', secret, 'c'), sealWith(key, 'dk1', secret, 'c'));
  });

  it('refuses another key, another row or column, and tampered bytes', () => {
    const sealed = sealWith(key, 'dk1', secret, 'signing_keys.private_jwk:abc');
    assert.throws(
      () => openWith(randomBytes(32), sealed, 'signing_keys.private_jwk:abc'),
      /unable to authenticate/,
    );
    assert.throws(
      () => openWith(key, sealed, 'signing_keys.private_jwk:xyz'),
      /unable to authenticate/,
    );
    const parts = sealed.split(':');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[3] = body.toString('base64url');
    assert.throws(
      () => openWith(key, parts.join(':'), 'signing_keys.private_jwk:abc'),
      /unable to authenticate/,
    );
    assert.throws(() => openWith(key, 'v1:dk1:AAAA:AAAA', 'c'), /truncated/);
    assert.throws(() => openWith(key, 'plain text', 'c'), /not a sealed value/);
  });
});
