import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestClock } from '../../../test/clock.js';
import { AnswerCache } from './answers.js';

describe('reused answers', () => {
  it('are reused until a change or a second, whichever comes first', () => {
    const clock = new TestClock();
    const changes = { generation: 0 };
    const answers = new AnswerCache({ changes, clock });
    answers.keep('k /a', answers.generation, 200, '{"a":1}');
    assert.equal(answers.find('k /a')?.body, '{"a":1}');
    assert.equal(answers.find('other /a'), undefined);
    changes.generation++;
    assert.equal(answers.find('k /a'), undefined);

    answers.keep('k /a', answers.generation, 200, '{"a":2}');
    clock.advance(999);
    assert.equal(answers.find('k /a')?.body, '{"a":2}');
    clock.advance(1);
    assert.equal(answers.find('k /a'), undefined);
  });

  it('are not kept when a change came while they were read', () => {
    const changes = { generation: 0 };
    const answers = new AnswerCache({ changes, clock: new TestClock() });
    const readIn = answers.generation;
    changes.generation++;
    answers.keep('k /a', readIn, 200, '{}');
    assert.equal(answers.find('k /a'), undefined);
  });

  it('keep to their memory budget, forgetting the oldest first', () => {
    const answers = new AnswerCache({ changes: { generation: 0 }, clock: new TestClock() });
    const page = 'x'.repeat(3_000_000);
    for (const key of ['a', 'b', 'c', 'd']) answers.keep(key, 0, 200, page);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((k) => answers.find(k) !== undefined),
      [false, false, true, true],
    );
    answers.keep('huge', 0, 200, 'x'.repeat(9_000_000));
    assert.equal(answers.find('huge'), undefined);
    assert.ok(answers.find('d'));
  });
});
