"""Tokenizer goldens: a small umT5-style unigram tokenizer trained here, and the Python ids/masks
of a few hundred varied strings, for test/native/tokenizer.test.ts.

Writes to OUT_DIR (default test/fixtures/tokenizer):
  tokenizer.json      Unigram trained with `tokenizers` on a generated corpus; T5-style pipeline:
                      NFKC + Replace(" {2,}"→" ") normalizer, Metaspace(▁, always, split) pre-tokenizer,
                      TemplateProcessing "$A </s>"; ids <pad>=0 </s>=1 <unk>=2.
  cases.json          [{text, clean, n, ids, clean_n, clean_ids}] — ids of the raw text and of the
                      cleaned text (Wan's "whitespace" cleaning, the ftfy-free subset documented in
                      native/src/prompt.ts), encoded with </s>, truncation 512, padding 512 (ids keep
                      the first n entries; the script asserts the rest are 0 with mask 0 and that the
                      mask is n ones).
  spm/tokenizer.json, spm/cases.json (when sentencepiece + protobuf are present): a SentencePiece
                      unigram model (nmt_nfkc) converted by transformers' T5TokenizerFast, i.e. the
                      exact structure of google/umt5-xxl's tokenizer.json with a real precompiled
                      charsmap. Used to measure how close the JS Precompiled normalizer gets.
"""
import html
import json
import os
import random
import sys
import unicodedata

import regex

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

out_dir = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/tokenizer"
os.makedirs(out_dir, exist_ok=True)
SEQ_LEN = 512
rng = random.Random(20260101)

WORDS = ("a cat dog bird fish horse robot astronaut city street forest river ocean mountain desert "
         "sunset sunrise night rain snow fog neon light shadow glass metal wooden golden silver red "
         "blue green purple orange slowly quickly gently walks runs flies swims dances jumps sits "
         "looks camera pans zooms close-up wide shot cinematic realistic anime watercolor painting "
         "photo 4k detailed soft warm cold moody bright dark the of in on under over with and while "
         "Tokyo Paris NYC Mars moon stars galaxy spaceship dragon knight castle garden flower tree "
         "beautiful young old woman man child girl boy smiling talking playing guitar piano violin "
         "coffee cup table window door car train bicycle boat plane kitchen office library museum").split()
PUNCT = list(",.!?;:-()'\"/&%$#@*+=[]{}<>_~`^|\\")
CJK = "一只猫在月光下跳舞東京の夜景桜が咲く春山水画龍鳳凰城市街道雨雪风花雪月人工智能机器人太空宇航员"
KOREAN = "한국어고양이달빛춤추는도시"
OTHER = "Русский кот Ελληνικά café naïve Zürich São Paulo Ångström façade jalapeño ǅ ß æ ø"
EMOJI = ["🐱", "🐶", "🚀", "🌙", "⭐", "🔥", "🌊", "👩‍💻", "👍🏽", "🇺🇸", "❤️", "🎬", "🤖", "🌸"]
UNSEEN = "ไทยภาษา हिन्दी العربية עברית ქართული ᚠᚢᚦ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"


def sentence(n=None):
    n = n or rng.randint(3, 25)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.75:
            w = rng.choice(WORDS)
            parts.append(w.capitalize() if rng.random() < 0.1 else w)
        elif r < 0.83:
            parts.append(rng.choice(PUNCT))
        elif r < 0.88:
            parts.append(str(rng.randint(0, 2000)))
        elif r < 0.94:
            parts.append("".join(rng.choice(CJK) for _ in range(rng.randint(1, 6))))
        elif r < 0.97:
            parts.append(rng.choice(OTHER.split()))
        else:
            parts.append(rng.choice(EMOJI))
    return " ".join(parts)


corpus = [sentence() for _ in range(6000)] + [KOREAN] * 3

tok = Tokenizer(models.Unigram())
tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
trainer = trainers.UnigramTrainer(vocab_size=1200, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
                                  max_piece_length=12, show_progress=False)
tok.train_from_iterator(corpus, trainer)
tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
assert tok.token_to_id("<pad>") == 0 and tok.token_to_id("</s>") == 1 and tok.token_to_id("<unk>") == 2
tok.enable_truncation(SEQ_LEN)
tok.enable_padding(length=SEQ_LEN, pad_id=0, pad_token="<pad>")

# ---- Wan's "whitespace" cleaning, the subset we implement (see native/src/prompt.ts).
SINGLE_QUOTES = regex.compile("[\u02bc\u2018-\u201b]")  # ftfy uncurl_quotes
DOUBLE_QUOTES = regex.compile("[\u201c-\u201f]")
LIGATURES = {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "ſt", "\ufb06": "st"}
CONTROL = regex.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


def fullwidth_to_ascii(s):
    return "".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else (" " if c == "\u3000" else c) for c in s)


def clean(text):
    text = text.replace("\r\n", "\n")
    text = CONTROL.sub("", text)
    text = DOUBLE_QUOTES.sub('"', SINGLE_QUOTES.sub("'", text))
    text = "".join(LIGATURES.get(c, c) for c in text)
    text = fullwidth_to_ascii(text)
    text = unicodedata.normalize("NFC", text)
    text = html.unescape(html.unescape(text)).strip()
    text = regex.sub(r"\s+", " ", text)  # Wan uses the `regex` module's \s
    return text.strip()


# ---- test strings
cases = []
for _ in range(70):
    cases.append(sentence())
for _ in range(30):
    s = sentence(rng.randint(2, 10))
    ws = ["  ", "   ", "\t", "\n", "\r\n", " \t ", "\u00a0", "\u3000", "\u2003", "\u200b", "\ufeff", "\x85", "\u2028", "\x1c"]
    words = s.split(" ")
    cases.append(rng.choice(["", " ", "  ", "\n"]) + "".join(w + rng.choice(ws) for w in words) + rng.choice(["", " ", "\t\n"]))
UNICODE_BITS = ["café", "cafe\u0301", "naïve", "nai\u0308ve", "ＡＢＣ１２３", "ｔｏｋｙｏ", "ﬁsh ﬂower", "x²+y³", "Ⅻ", "①②",
                "Ångström", "A\u030angstro\u0308m", "ǅ", "ß", "½", "™", "…", "—", "–", "•", "°C", "µm", "Ω", "ﬀ", "\u00ad", "ℌ",
                "ｶﾀｶﾅ", "ﾊﾝｶｸ"]
for _ in range(30):
    cases.append(" ".join(rng.choice(UNICODE_BITS + WORDS) for _ in range(rng.randint(1, 8))))
for _ in range(25):
    cases.append(" ".join(rng.choice(EMOJI + WORDS[:20]) for _ in range(rng.randint(1, 8))))
CJK_PHRASES = ["一只猫在月光下跳舞", "東京の夜景", "桜が咲く春", "山水画", "人工智能机器人", "한국어 고양이", "Русский кот",
               "Ελληνικά", "ไทยภาษา", "हिन्दी", "العربية", "עברית", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "太空宇航员在火星上行走"]
for _ in range(25):
    cases.append(rng.choice(["", "a ", "the "]) + " ".join(rng.choice(CJK_PHRASES + WORDS[:10]) for _ in range(rng.randint(1, 6))))
ENTITIES = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;", "&apos;", "&nbsp;", "&amp;amp;", "&amp;lt;b&amp;gt;",
            "&copy;", "&reg;", "&eacute;", "&hellip;", "&mdash;", "&ndash;", "&#8217;", "&#x1F431;", "&#65;", "&#0;",
            "&#128;", "&#150;", "&lsquo;", "&rsquo;", "&ldquo;", "&rdquo;", "&euro;", "&trade;", "&deg;", "&times;",
            "&amp", "&lt", "&copy", "AT&T", "a & b", "&unknownentity;", "&#xZZ;"]
for _ in range(35):
    cases.append(" ".join(rng.choice(ENTITIES + WORDS[:30]) for _ in range(rng.randint(1, 8))))
QUOTES = ["“quoted”", "‘single’", "it’s", "‚low‛", "„low”", "′prime″", "ʼmodifier", "\"plain\"", "'plain'", "«guillemets»"]
for _ in range(25):
    cases.append(" ".join(rng.choice(QUOTES + WORDS[:30]) for _ in range(rng.randint(1, 8))))
for n in (300, 520, 600, 1000, 2500):
    cases.append(sentence(n))
cases.append(" ".join(["cat"] * 700))
cases.append("".join(rng.choice(CJK) for _ in range(900)))
cases += ["", " ", "\n\t ", "a", "A", "</s>", "<pad>", "<unk>", "hello </s> world", "▁", "▁▁x", "12345 3.14159",
          "https://example.com/a?b=c&d=e", "def f(x): return x**2", "\x00\x07bell", "\u200b\u200bzero width",
          "\ufeffbom", "soft\u00adhyphen", "tab\tsep\tvalues", "line1\nline2\r\nline3\rline4", "a\u2028b\u2029c",
          "   leading and trailing   ", "UPPER lower MiXeD", "!!!???...", "(((nested)))", "emoji🐱inside", "日本語English混合",
          "ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ", "x" * 40, "ab" * 300]


def record(t):
    enc = tok.encode(t)
    n = sum(enc.attention_mask)
    assert enc.attention_mask == [1] * n + [0] * (SEQ_LEN - n), t
    assert all(i == 0 for i in enc.ids[n:]), t
    assert len(enc.ids) == SEQ_LEN
    return n, enc.ids[:n]


rows = []
for t in cases:
    c = clean(t)
    n, ids = record(t)
    cn, cids = record(c)
    rows.append({"text": t, "clean": c, "n": n, "ids": ids, "clean_n": cn, "clean_ids": cids})

tok.no_truncation()
tok.no_padding()
tok.save(os.path.join(out_dir, "tokenizer.json"))
with open(os.path.join(out_dir, "cases.json"), "w", encoding="utf-8") as f:
    json.dump({"seq_len": SEQ_LEN, "cases": rows}, f, ensure_ascii=False)
print(f"tokenizer goldens: {len(rows)} cases, vocab {tok.get_vocab_size()}, truncated {sum(r['n'] == SEQ_LEN for r in rows)}")

# ---- optional: the real umt5-xxl structure (SentencePiece → T5TokenizerFast, Precompiled charsmap)
try:
    import sentencepiece as spm
    from transformers import T5TokenizerFast

    spm_dir = os.path.join(out_dir, "spm")
    os.makedirs(spm_dir, exist_ok=True)
    prefix = "/tmp/tw_spm"
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_prefix=prefix, vocab_size=1200,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   normalization_rule_name="nmt_nfkc", character_coverage=0.9995, minloglevel=2)
    fast = T5TokenizerFast(vocab_file=prefix + ".model", extra_ids=0)
    srows = []
    for t in cases:
        c = clean(t)
        enc = fast(c, padding="max_length", truncation=True, max_length=SEQ_LEN, add_special_tokens=True)
        n = sum(enc["attention_mask"])
        assert enc["attention_mask"] == [1] * n + [0] * (SEQ_LEN - n)
        srows.append({"clean": c, "n": n, "ids": enc["input_ids"][:n]})
    fast.backend_tokenizer.save(os.path.join(spm_dir, "tokenizer.json"))
    with open(os.path.join(spm_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"seq_len": SEQ_LEN, "cases": srows}, f, ensure_ascii=False)
    print(f"spm goldens: {len(srows)} cases")
except Exception as e:  # optional part
    print("spm goldens skipped:", repr(e))
