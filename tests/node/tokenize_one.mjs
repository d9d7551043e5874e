// Encodes and decodes a few given strings and id lists with Hugging Face's Tokenizers.js
// (@huggingface/tokenizers), the reference that tokenizer_reference.mjs uses, for the tests that feed
// text through PrefixLab's commands and compare the ids and text that come out.
//
// Usage: node tokenize_one.mjs DIR < request.json
// DIR holds tokenizer.json and tokenizer_config.json. The request is { "encode": [texts], "decode": [[ids]] };
// the answer on stdout is { "encoded": [ids with special tokens, as tokenizer(text)], "decoded": [texts,
// as tokenizer.decode(ids)], "decodedSkip": [texts, skip_special_tokens] }.
import fs from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node tokenize_one.mjs DIR < request.json");
  process.exit(2);
}
const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"));
const tokenizer = new Tokenizer(readJson(path.join(dir, "tokenizer.json")), readJson(path.join(dir, "tokenizer_config.json")));
const request = JSON.parse(fs.readFileSync(0, "utf8"));
const encoded = (request.encode ?? []).map((text) => tokenizer.encode(text, { add_special_tokens: true }).ids);
const decoded = (request.decode ?? []).map((ids) => tokenizer.decode(ids, { skip_special_tokens: false }));
const decodedSkip = (request.decode ?? []).map((ids) => tokenizer.decode(ids, { skip_special_tokens: true }));
console.log(JSON.stringify({ encoded, decoded, decodedSkip }));
