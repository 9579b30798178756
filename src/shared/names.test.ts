import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SCRIPTS, invisibleCharacter, mixedScripts, nameProblem, printable } from './names.js';

describe('nameProblem', () => {
  it('accepts names in one script per word, accented or not, and Latin with CJK', () => {
    for (const name of [
      'devs',
      'Platform Team',
      'équipe-ops',
      'Müller & Söhne',
      '運用',
      'チーム開発',
      'ラーメン',
      'Tokyo東京チーム',
      '한국팀 ops',
      'Команда Platform',
      'Ομάδα',
      'فريق',
      'ops/on-call',
      '../../etc/passwd',
      'team\u0301', // a combining accent goes with any script
    ]) {
      assert.equal(nameProblem(name), undefined, name);
    }
  });

  it('refuses invisible, direction-changing and blank characters, naming the code point', () => {
    const cases: Array<[string, string]> = [
      ['adm\u202Eins', 'U+202E'], // right-to-left override
      ['ad\u200Bmins', 'U+200B'], // zero-width space
      ['ad\u200Cmins', 'U+200C'],
      ['ad\u200Dmins', 'U+200D'],
      ['ad\u2060mins', 'U+2060'], // word joiner
      ['\uFEFFadmins', 'U+FEFF'], // byte order mark
      ['ad\u00ADmins', 'U+00AD'], // soft hyphen
      ['admins\u2028x', 'U+2028'], // line separator
      ['admins\u2029x', 'U+2029'], // paragraph separator
      ['admins\u00A0x', 'U+00A0'], // no-break space
      ['admins\u3000x', 'U+3000'], // ideographic space
      ['admins\u3164', 'U+3164'], // Hangul filler
      ['admins\uFE0F', 'U+FE0F'], // variation selector
      ['admins\u2800', 'U+2800'], // blank Braille pattern
      ['admins\uE000', 'U+E000'], // private use
      ['admins\uD800', 'U+D800'], // lone surrogate
      ['admins\u{E0041}', 'U+E0041'], // tag character
    ];
    for (const [name, cp] of cases) {
      assert.equal(invisibleCharacter(name), cp, printable(name));
      assert.equal(nameProblem(name), `contains an invisible or text-direction character (${cp})`);
    }
    assert.equal(nameProblem('a\nb'), 'contains a control character (U+000A)');
  });

  it('refuses a word that mixes Latin with Cyrillic or Greek look-alikes', () => {
    assert.equal(nameProblem('\u0430dmins'), 'mixes Cyrillic and Latin letters in one word');
    assert.deepEqual(mixedScripts('ops-\u0430dmins'), ['Cyrillic', 'Latin']);
    assert.deepEqual(mixedScripts('p\u03BFd'), ['Greek', 'Latin']); // Greek omicron
    assert.deepEqual(mixedScripts('한국ひらがな'), ['Hangul', 'Hiragana']);
    assert.deepEqual(mixedScripts('ad\u0640min'), ['Arabic', 'Latin']); // tatweel
    assert.equal(mixedScripts('admins админы'), undefined, 'words are judged one by one');
  });

  it('spells out what is invisible for logs', () => {
    assert.equal(printable('a\u202Eb\nc'), 'a\\u{202E}b\\u{A}c');
  });
});

describe('SCRIPTS', () => {
  it('has the script of every letter, mark and digit this Node knows', () => {
    const listed = new RegExp(`[${SCRIPTS.map((s) => `\\p{sc=${s}}`).join('')}]`, 'u');
    const candidate = /[\p{L}\p{M}\p{N}]/u;
    const common = /[\p{sc=Zyyy}\p{sc=Zinh}]/u;
    const missing: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const ch = String.fromCodePoint(cp);
      if (candidate.test(ch) && !common.test(ch) && !listed.test(ch))
        missing.push(`U+${cp.toString(16)}`);
    }
    assert.deepEqual(missing.slice(0, 10), []);
  });
});
