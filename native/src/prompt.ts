// Wan's prompt cleaning ("whitespace" mode of wan/modules/tokenizers.py, also used by TurboDiffusion):
//   ftfy.fix_text(text) → html.unescape twice → strip → every run of whitespace → one space → strip.
//
// ftfy is a large Python library; we implement the parts of its default fix_text that change
// typical prompts, in ftfy's order, and document the rest:
//   covered      normalize line breaks (\r\n → \n), remove control characters (C0 except \t \n \f \r,
//                DEL), uncurl quotes (U+02BC, U+2018–U+201B → ', U+201C–U+201F → "), split Latin
//                ligatures (U+FB00–U+FB06), fullwidth ASCII → ASCII (U+FF01–U+FF5E, U+3000 → space), NFC;
//                then Wan's two HTML unescapes: numeric references (decimal/hex, with the HTML5
//                replacements for 0x80–0x9F, 0 and out-of-range → U+FFFD) and the named entities in
//                NAMED_ENTITIES (with ';', plus the legacy no-';' forms that HTML5 allows);
//                whitespace = Unicode White_Space, the set the Python `regex` module's \s matches.
//   not covered  mojibake repair (fix_encoding: text decoded with the wrong codec), ftfy's own
//                HTML unescape pass before Wan's two, terminal escapes, surrogate repair, and the
//                named entities outside NAMED_ENTITIES (they stay as written).
// test/native/tokenizer.test.ts checks this against the Python stdlib (html.unescape,
// unicodedata, regex) for every golden string.

const SINGLE_QUOTES = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTES = /[\u201c-\u201f]/g;
const CONTROL = /[\x00-\x08\x0b\x0e-\x1f\x7f]/g;
const LIGATURES: Record<string, string> = {
  "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "ſt", "\ufb06": "st",
};
const WHITESPACE_RUN = /\p{White_Space}+/gu;
// Python's str.strip() removes str.isspace() characters (not U+FEFF, unlike String.trim()).
const PY_STRIP = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

// Named entities we decode: the ones prompts and web forms actually contain.
const NAMED_ENTITIES: Record<string, string> = {
  amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0", copy: "©", reg: "®", trade: "™",
  hellip: "…", mdash: "—", ndash: "–", lsquo: "‘", rsquo: "’", ldquo: "“", rdquo: "”", sbquo: "‚",
  bdquo: "„", laquo: "«", raquo: "»", euro: "€", pound: "£", yen: "¥", cent: "¢", deg: "°", times: "×",
  divide: "÷", plusmn: "±", middot: "·", bull: "•", para: "¶", sect: "§", micro: "µ", frac12: "½",
  frac14: "¼", frac34: "¾", sup2: "²", sup3: "³", iexcl: "¡", iquest: "¿", shy: "\u00ad", hearts: "♥",
  eacute: "é", egrave: "è", ecirc: "ê", euml: "ë", aacute: "á", agrave: "à", acirc: "â", auml: "ä",
  atilde: "ã", aring: "å", aelig: "æ", ccedil: "ç", iacute: "í", igrave: "ì", icirc: "î", iuml: "ï",
  ntilde: "ñ", oacute: "ó", ograve: "ò", ocirc: "ô", ouml: "ö", otilde: "õ", oslash: "ø", uacute: "ú",
  ugrave: "ù", ucirc: "û", uuml: "ü", yacute: "ý", yuml: "ÿ", szlig: "ß", Eacute: "É", Auml: "Ä",
  Ouml: "Ö", Uuml: "Ü", Ccedil: "Ç", Ntilde: "Ñ", Aring: "Å", AElig: "Æ", Oslash: "Ø",
};
// HTML5 allows these without the trailing ';' (Python's html.unescape honors them).
const LEGACY_NO_SEMICOLON = new Set([
  "amp", "lt", "gt", "quot", "nbsp", "copy", "reg", "deg", "times", "divide", "plusmn", "middot", "para",
  "sect", "micro", "frac12", "frac14", "frac34", "sup2", "sup3", "iexcl", "iquest", "shy", "pound", "yen",
  "cent", "laquo", "raquo", "eacute", "egrave", "ecirc", "euml", "aacute", "agrave", "acirc", "auml",
  "atilde", "aring", "aelig", "ccedil", "iacute", "igrave", "icirc", "iuml", "ntilde", "oacute", "ograve",
  "ocirc", "ouml", "otilde", "oslash", "uacute", "ugrave", "ucirc", "uuml", "yacute", "yuml", "szlig",
  "Eacute", "Auml", "Ouml", "Uuml", "Ccedil", "Ntilde", "Aring", "AElig", "Oslash",
]);
// HTML5 numeric-reference replacements (Python html._invalid_charrefs) for 0x80–0x9F and 0.
const CP1252: Record<number, number> = {
  0x00: 0xfffd, 0x0d: 0x0d, 0x80: 0x20ac, 0x81: 0x81, 0x82: 0x201a, 0x83: 0x0192, 0x84: 0x201e, 0x85: 0x2026,
  0x86: 0x2020, 0x87: 0x2021, 0x88: 0x02c6, 0x89: 0x2030, 0x8a: 0x0160, 0x8b: 0x2039, 0x8c: 0x0152,
  0x8d: 0x8d, 0x8e: 0x017d, 0x8f: 0x8f, 0x90: 0x90, 0x91: 0x2018, 0x92: 0x2019, 0x93: 0x201c, 0x94: 0x201d,
  0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02dc, 0x99: 0x2122, 0x9a: 0x0161, 0x9b: 0x203a,
  0x9c: 0x0153, 0x9d: 0x9d, 0x9e: 0x017e, 0x9f: 0x0178,
};
// Code points html.unescape drops (returns '') for numeric references.
function isInvalidCodepoint(cp: number): boolean {
  return (cp >= 0x1 && cp <= 0x8) || cp === 0xb || (cp >= 0xe && cp <= 0x1f) || (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe;
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

/** Python's html.unescape for numeric references and NAMED_ENTITIES. */
export function unescapeHtml(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(CHARREF, (whole, ref: string) => {
    if (ref[0] === "#") {
      const hex = ref[1] === "x" || ref[1] === "X";
      const digits = ref.slice(hex ? 2 : 1).replace(/;$/, "");
      const cp = parseInt(digits, hex ? 16 : 10);
      if (cp in CP1252) return String.fromCodePoint(CP1252[cp]!);
      if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return "\ufffd";
      if (isInvalidCodepoint(cp)) return "";
      return String.fromCodePoint(cp);
    }
    if (ref.endsWith(";")) {
      const name = ref.slice(0, -1);
      if (name in NAMED_ENTITIES) return NAMED_ENTITIES[name]!;
    } else if (LEGACY_NO_SEMICOLON.has(ref)) {
      return NAMED_ENTITIES[ref]!;
    }
    // Longest legacy entity that prefixes the reference (html.unescape's fallback).
    for (let x = ref.length - 1; x > 1; --x) {
      const name = ref.slice(0, x);
      if (LEGACY_NO_SEMICOLON.has(name)) return NAMED_ENTITIES[name]! + ref.slice(x);
    }
    return whole;
  });
}

function fullwidthToAscii(s: string): string {
  return s.replace(/[\uff01-\uff5e\u3000]/g, (c) =>
    c === "\u3000" ? " " : String.fromCharCode(c.charCodeAt(0) - 0xfee0));
}

/** The ftfy subset described above. */
export function fixText(text: string): string {
  let t = text.replace(/\r\n/g, "\n").replace(CONTROL, "");
  t = t.replace(SINGLE_QUOTES, "'").replace(DOUBLE_QUOTES, '"');
  t = t.replace(/[\ufb00-\ufb06]/g, (c) => LIGATURES[c] ?? c);
  t = fullwidthToAscii(t);
  return t.normalize("NFC");
}

/** Wan's "whitespace" prompt cleaning: the text the tokenizer sees and the prompt-cache key. */
export function cleanPrompt(text: string): string {
  const basic = unescapeHtml(unescapeHtml(fixText(text))).replace(PY_STRIP, "");
  return basic.replace(WHITESPACE_RUN, " ").replace(PY_STRIP, "");
}
