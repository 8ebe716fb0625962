import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { declaredOptions, documentedSections, optionsProgram, plain, ROOT, SECTIONS, type DeclaredOption, type DocumentedOption } from './option-interfaces.js';

// docs/options.md is the one place a user looks an option up. This keeps it honest: every option the code
// declares is there with its type and default, and nothing is there that the code no longer has.

let declared: Map<string, DeclaredOption[]>;
let documented: Map<string, DocumentedOption[]>;

beforeAll(() => {
  const program = optionsProgram();
  declared = new Map(SECTIONS.map((section) => [section.name, declaredOptions(program, section)]));
  documented = documentedSections(readFileSync(ROOT + 'docs/options.md', 'utf8'));
}, 60_000);

describe('docs/options.md', () => {
  it('has one section per option type, and no section for a type that is gone', () => {
    expect([...documented.keys()].sort()).toEqual(SECTIONS.map((s) => s.name).sort());
  });

  for (const section of SECTIONS) {
    describe(section.name, () => {
      it('documents every option the type declares, and only those', () => {
        const inCode = (declared.get(section.name) ?? []).map((o) => o.name).sort();
        const inDoc = (documented.get(section.name) ?? []).map((o) => o.name).sort();
        const missing = inCode.filter((name) => !inDoc.includes(name));
        const gone = inDoc.filter((name) => !inCode.includes(name));
        expect({ missing, gone }).toEqual({ missing: [], gone: [] });
        // A row written twice would let one copy drift from the other.
        expect(new Set(inDoc).size).toBe(inDoc.length);
      });

      it('gives each option its declared type and a meaning', () => {
        const rows = new Map((documented.get(section.name) ?? []).map((row) => [row.name, row]));
        const wrong = (declared.get(section.name) ?? [])
          .filter((option) => rows.has(option.name))
          .flatMap((option) => {
            const row = rows.get(option.name) as DocumentedOption;
            const problems: string[] = [];
            if (plain(row.type) !== plain(option.type)) problems.push(`${option.name}: type is ${option.type} in the code, ${plain(row.type)} in the doc`);
            if (plain(row.meaning).length < 10) problems.push(`${option.name}: no meaning given`);
            if (plain(row.default).length === 0) problems.push(`${option.name}: default cell is empty (write "none" or "required")`);
            return problems;
          });
        expect(wrong).toEqual([]);
      });

      if (section.checkDefaults) {
        it('states the default the TSDoc @default gives', () => {
          const rows = new Map((documented.get(section.name) ?? []).map((row) => [row.name, row]));
          const wrong = (declared.get(section.name) ?? [])
            .filter((option) => option.default !== undefined && rows.has(option.name))
            .filter((option) => plain(rows.get(option.name)?.default ?? '') !== plain(option.default as string))
            .map((option) => `${option.name}: @default ${option.default} in the code, ${plain(rows.get(option.name)?.default ?? '')} in the doc`);
          expect(wrong).toEqual([]);
        });
      }
    });
  }
});

describe('the doc reader', () => {
  // The checks above are only as good as the parsing under them.
  it('reads escaped pipes inside a cell and ignores tables outside option sections', () => {
    const sections = documentedSections(
      [
        '# Title',
        '| `stray` | x | y | z |',
        '## `Example`: a section',
        '| option | type | default | meaning |',
        '|---|---|---|---|',
        "| `mode` | `'a' \\| 'b'` | `'a'` | Which one. |",
        '## Notes',
        '| `other` | x | y | z |',
      ].join('\n'),
    );
    expect([...sections.keys()]).toEqual(['Example']);
    expect(sections.get('Example')).toEqual([{ name: 'mode', type: "`'a' | 'b'`", default: "`'a'`", meaning: 'Which one.' }]);
  });
});
