import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createWordMatcher } from '../src/modules/guard/aho-corasick.ts';
import { createDetector, mask } from '../src/modules/guard/detector.ts';

/** The labelled corpus: `clean` or the label a line must be flagged with, a tab, the line. */
const CORPUS = readFileSync(new URL('./fixtures/guard-corpus.tsv', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((line) => {
    const [label, text] = line.split('\t') as [string, string];
    return { label, text };
  });

describe('content guard detector', () => {
  const detector = createDetector();

  test('the corpus: at least 300 lines, half innocent; precision ≥ 0.95 and recall ≥ 0.9', () => {
    const clean = CORPUS.filter((line) => line.label === 'clean').length;
    assert.ok(CORPUS.length >= 300 && clean >= 150 && CORPUS.length - clean >= 150, `${clean}/${CORPUS.length}`);
    let truePositives = 0;
    let falsePositives = 0;
    let falseNegatives = 0;
    for (const { label, text } of CORPUS) {
      const labels = detector.detect(text).map((finding) => finding.label);
      if (label === 'clean') falsePositives += labels.length > 0 ? 1 : 0;
      else if (labels.includes(label as never)) truePositives += 1;
      else falseNegatives += 1;
    }
    const precision = truePositives / (truePositives + falsePositives);
    const recall = truePositives / (truePositives + falseNegatives);
    assert.ok(precision >= 0.95, `precision ${precision}`);
    assert.ok(recall >= 0.9, `recall ${recall}`);
  });

  test('evasions of one phone number are all one finding, masked in the original text', () => {
    for (const text of [
      '13800138000',
      '１３８００１３８０００',
      '138 0013 8000',
      '1-3-8-0-0-1-3-8-0-0-0',
      '一三八零零一三八零零零',
      '幺三八洞洞幺三八洞洞洞',
      '壹叁捌零零壹叁捌零零零',
      '1三8零0一3捌0零0',
      '+86 138 0013 8000',
      '138OO138OOO',
      '138 oo13 8000',
      '138❤️0013❤️8000',
      '138🔸0013🔸8000',
      '1️⃣3️⃣8️⃣0️⃣0️⃣1️⃣3️⃣8️⃣0️⃣0️⃣0️⃣',
      '1̶3̶8̶0̶0̶1̶3̶8̶0̶0̶0̶',
      '138\u200b0013\u200b8000',
    ]) {
      const findings = detector.detect(`打我电话${text}哦`);
      assert.deepEqual(
        findings.map((f) => f.label),
        ['phone'],
        text,
      );
      assert.equal(mask(`打我电话${text}哦`, findings), '打我电话***哦', text);
    }
  });

  test('a phone number among other digits is still one: two in a row, a count before it, a digit after it', () => {
    for (const [text, masked] of [
      ['电话 13800138000 13900139000', '电话 *** ***'],
      ['13800138000,13900139000', '***,***'],
      ['数量 100 13800138000', '数量 100 ***'],
      ['打 13800138000 8', '打 *** 8'],
      ['+86 138 0013 8000 5', '*** 5'],
    ] as const) {
      assert.equal(mask(text, detector.detect(text)), masked, text);
    }
    for (const text of [
      '订单号 100 13800138000',
      '2026-12-05 13:45:00',
      '6222 1380 0138 0001 234',
      '¥138.00 138.00 138.00',
    ]) {
      assert.deepEqual(detector.detect(text), [], text);
    }
  });

  test('a long row of o after a digit, or of hyphenated letters, costs what any line of its length does (both were quadratic)', () => {
    const median = (text: string) => {
      const times = Array.from({ length: 7 }, () => {
        const start = performance.now();
        detector.detect(text);
        return performance.now() - start;
      });
      return times.sort((a, b) => a - b)[3] as number;
    };
    const os = median(`1${'o'.repeat(4999)}`);
    const digits = median(`1${'2'.repeat(4999)}`);
    assert.ok(os < digits * 10 + 5, `o's ${os} ms, digits ${digits} ms`);
    // Every letter after a hyphen could start a domain, and each start read to the end (10,000 characters: 60 ms).
    const hyphens = median('ab-'.repeat(3333));
    const letters = median('abc'.repeat(3333));
    assert.ok(hyphens < letters * 10 + 10, `hyphens ${hyphens} ms, letters ${letters} ms`);
  });

  test('numbers that are codes, prices, dates or too long are not phones', () => {
    for (const text of [
      '订单号 13800138000',
      '货号13800138000',
      'SKU13800138000',
      'A13800138000B',
      'XM-13800138000',
      '138001380001',
      '价格 138.00 元',
      '2026-12-05 13:45',
      '12800138000',
      '1380013800 oops',
      '10 o clock, 138001380 ok',
      '20oz 138001380 cups',
    ]) {
      assert.deepEqual(detector.detect(text), [], text);
    }
  });

  test('a word broken up by spaces or emoji is matched whole and masked in the original; spaced innocent words stay innocent', () => {
    for (const [text, label, masked] of [
      ['加我 w e i x i n: shop8888', 'wechat', '加我 ***'],
      ['微 信 号 shop8888 备注', 'wechat', '*** 备注'],
      ['威❤️信 shop_8888', 'wechat', '***'],
      ['v❤x: shop8888', 'wechat', '***'],
      ['扣 扣 123456789', 'qq', '扣 扣 ***'],
      ['加我wei信 shop8888', 'wechat', '***'],
      ['微xin: shop_8888 谢谢', 'wechat', '*** 谢谢'],
      ['有事找我 V：shop_8888', 'wechat', '有事找我 ***'],
    ] as const) {
      const findings = detector.detect(text);
      assert.deepEqual([...new Set(findings.map((f) => f.label))], [label], text);
      assert.equal(mask(text, findings), masked, text);
    }
    assert.deepEqual(
      detector.detect('私 下 交 易').map((f) => f.label),
      ['offsite'],
    );
    assert.deepEqual(
      createDetector(['代开发票'])
        .detect('可以 代 开 发 票')
        .map((f) => f.label),
      ['word'],
    );
    // An admin's word written with a space between Han characters matches as before.
    assert.deepEqual(
      createDetector(['代开 发票'])
        .detect('可以代开 发票吗')
        .map((f) => f.label),
      ['word'],
    );
    for (const text of [
      '你好 谢谢 已经下单了',
      '支持 微信 支付 吗',
      '银行 卡 付款 可以吗',
      'plan a b test',
      'TV: sony123456',
      'A B 两种规格 13.80 元',
    ]) {
      assert.deepEqual(detector.detect(text), [], text);
    }
  });

  test('sensitive words match after folding, wherever they are, and are masked in the original', () => {
    const withWords = createDetector(['代开发票', 'ＢＡＤ']);
    const text = '可以代开发票，ＢＡＤ word, bad';
    const findings = withWords.detect(text);
    assert.deepEqual(
      findings.map((f) => [f.label, text.slice(f.start, f.end)]),
      [
        ['word', '代开发票'],
        ['word', 'ＢＡＤ'],
        ['word', 'bad'],
      ],
    );
    assert.equal(mask(text, findings), '可以***，*** word, ***');
  });

  test('masking merges overlapping findings', () => {
    assert.equal(
      mask('abcdef', [
        { label: 'word', start: 1, end: 3 },
        { label: 'word', start: 2, end: 4 },
      ]),
      'a***ef',
    );
  });

  test('Aho–Corasick finds what a naive search finds', () => {
    const alphabet = fc.constantFrom('a', 'b', 'c', '微', '信');
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: alphabet, minLength: 1, maxLength: 4 }), { maxLength: 8 }),
        fc.string({ unit: alphabet, maxLength: 30 }),
        (words, text) => {
          const naive: string[] = [];
          for (const word of new Set(words)) {
            for (let i = text.indexOf(word); i >= 0; i = text.indexOf(word, i + 1)) naive.push(`${i}:${word}`);
          }
          const found = createWordMatcher(words)
            .findAll(text)
            .map((m) => `${m.start}:${m.word}`);
          assert.deepEqual(found.sort(), naive.sort());
        },
      ),
    );
  });
});
