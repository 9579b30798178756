/**
 * Rules for names people read (group names, user names): what makes one look like another, or
 * hide part of itself, is refused. Pure functions; the API's schemas (`src/api/common.ts`) and
 * the names identity providers send use the same ones.
 */

const CONTROL = /\p{Cc}/u;

// Characters that show nothing, or change how the rest shows: formatting characters (zero-width
// spaces and joiners, bidi overrides such as U+202E, the BOM), line and paragraph separators,
// spaces other than U+0020 (no-break, ideographic, …), Unicode's default-ignorable code points
// (variation selectors, Hangul fillers, the combining grapheme joiner), the blank Braille
// pattern, and code points with no fixed look (private use, unassigned, lone surrogates).
const INVISIBLE =
  /[\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800]|[^\P{Zs} ]/u;

/** `U+202E`: how a character is named in messages. */
function codePoint(ch: string): string {
  return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The first control character in `s`, as `U+000A`, if any. */
export function controlCharacter(s: string): string | undefined {
  const m = CONTROL.exec(s);
  return m ? codePoint(m[0]) : undefined;
}

/** The first invisible or text-direction character in `s`, as `U+200B`, if any. */
export function invisibleCharacter(s: string): string | undefined {
  const m = INVISIBLE.exec(s);
  return m ? codePoint(m[0]) : undefined;
}

/** `s` with control and invisible characters spelled out (`\u{202E}`), for logs. */
export function printable(s: string): string {
  return s.replace(
    new RegExp(`${CONTROL.source}|${INVISIBLE.source}`, 'gu'),
    (ch) => `\\u{${ch.codePointAt(0)!.toString(16).toUpperCase()}}`,
  );
}

/**
 * Every script with letters, marks or digits (Unicode 17; names.test.ts proves none is missing
 * for this Node). The most used come first: a character's script is the first that matches.
 */
export const SCRIPTS =
  `Latin Cyrillic Greek Han Hiragana Katakana Hangul Arabic Hebrew Devanagari Thai
Armenian Georgian Bengali Tamil Telugu Kannada Malayalam Gujarati Gurmukhi Oriya Sinhala Ethiopic
Bopomofo Khmer Lao Myanmar Tibetan Mongolian Syriac Thaana Nko Cherokee Canadian_Aboriginal Coptic
Tifinagh Lisu Vai Yi Adlam Ahom Anatolian_Hieroglyphs Avestan Balinese Bamum Bassa_Vah Batak
Beria_Erfe Bhaiksuki Brahmi Braille Buginese Buhid Carian Caucasian_Albanian Chakma Cham
Chorasmian Cuneiform Cypriot Cypro_Minoan Deseret Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs
Elbasan Elymaic Garay Glagolitic Gothic Grantha Gunjala_Gondi Gurung_Khema Hanifi_Rohingya Hanunoo
Hatran Imperial_Aramaic Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kawi Kayah_Li
Kharoshthi Khitan_Small_Script Khojki Khudawadi Kirat_Rai Lepcha Limbu Linear_A Linear_B Lycian
Lydian Mahajani Makasar Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek
Mende_Kikakui Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mro Multani Nabataean Nag_Mundari
Nandinagari New_Tai_Lue Newa Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Ol_Onal Old_Hungarian
Old_Italic Old_North_Arabian Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic
Old_Uyghur Osage Osmanya Pahawh_Hmong Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi
Rejang Runic Samaritan Saurashtra Sharada Shavian Siddham Sidetic SignWriting Sogdian Sora_Sompeng
Soyombo Sundanese Sunuwar Syloti_Nagri Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet Tai_Yo Takri
Tangsa Tangut Todhri Tolong_Siki Toto Tirhuta Tulu_Tigalari Ugaritic Vithkuqi Wancho Warang_Citi
Yezidi Zanabazar_Square`.split(/\s+/);

/** UTS #39's augmented script sets: Han also counts as Japanese, Korean and Chinese writing. */
const AUGMENTED: Record<string, string[]> = {
  Han: ['Han', 'Jpan', 'Kore', 'Hanb'],
  Hiragana: ['Hiragana', 'Jpan'],
  Katakana: ['Katakana', 'Jpan'],
  Hangul: ['Hangul', 'Kore'],
  Bopomofo: ['Bopomofo', 'Hanb'],
};
/** The writing systems that may join Latin in one word (UTS #39, "highly restrictive"). */
const WITH_LATIN = ['Jpan', 'Kore', 'Hanb'];

let tables: { name: string; sc: RegExp; scx: RegExp }[] | undefined;
const COMMON = /[\p{scx=Zyyy}\p{scx=Zinh}]/u;
const SC_COMMON = /[\p{sc=Zyyy}\p{sc=Zinh}]/u;

/**
 * The scripts a letter, mark or digit belongs to (its Script_Extensions), undefined for one that
 * goes with any script (digits 0-9, most punctuation-like letters, combining accents).
 */
function scriptsOf(ch: string): { scripts: string[]; sets: Set<string> } | undefined {
  if (COMMON.test(ch)) return undefined;
  // Compiled on first use: most names are ASCII and never get here.
  tables ??= SCRIPTS.map((name) => ({
    name,
    sc: new RegExp(`\\p{sc=${name}}`, 'u'),
    scx: new RegExp(`\\p{scx=${name}}`, 'u'),
  }));
  const scripts = SC_COMMON.test(ch)
    ? tables.filter((t) => t.scx.test(ch)).map((t) => t.name)
    : [tables.find((t) => t.sc.test(ch))?.name ?? 'Unknown'];
  return { scripts, sets: new Set(scripts.flatMap((s) => AUGMENTED[s] ?? [s])) };
}

function intersect(a: Set<string> | undefined, b: Set<string>): Set<string> {
  return a === undefined ? b : new Set([...a].filter((s) => b.has(s)));
}

/**
 * The scripts a word mixes deceptively, or undefined when it is fine: a word (a run of letters,
 * marks and digits) must be written in one script, as Unicode TS #39's "highly restrictive"
 * level says, which lets Latin join Han with Hiragana and Katakana (Japanese), with Hangul
 * (Korean) or with Bopomofo (Chinese). `аdmins` with a Cyrillic `а` is refused.
 */
export function mixedScripts(s: string): string[] | undefined {
  if (/^[\x20-\x7e]*$/.test(s)) return undefined;
  for (const word of s.split(/[^\p{L}\p{M}\p{N}]+/u)) {
    if (/^[\x20-\x7e]*$/.test(word)) continue;
    let all: Set<string> | undefined;
    let withoutLatin: Set<string> | undefined;
    const seen = new Set<string>();
    for (const ch of word) {
      const of = scriptsOf(ch);
      if (!of) continue;
      seen.add(of.scripts[0]!);
      all = intersect(all, of.sets);
      if (!of.sets.has('Latin')) withoutLatin = intersect(withoutLatin, of.sets);
    }
    if (all === undefined || all.size > 0) continue;
    if (withoutLatin && WITH_LATIN.some((s) => withoutLatin.has(s))) continue;
    return [...seen].sort().map((name) => name.replace(/_/g, ' '));
  }
  return undefined;
}

/** What is wrong with `s` as a name people read, in a few words, or undefined. */
export function nameProblem(s: string): string | undefined {
  const control = controlCharacter(s);
  if (control) return `contains a control character (${control})`;
  const invisible = invisibleCharacter(s);
  if (invisible) return `contains an invisible or text-direction character (${invisible})`;
  const mixed = mixedScripts(s);
  if (mixed) return `mixes ${mixed.join(' and ')} letters in one word`;
  return undefined;
}
